/** Workflow bundle entry: every workflow the orchestrator worker registers. */
export { taskWorkflow } from './task-workflow';
export { agentRecord } from './agent-record';
