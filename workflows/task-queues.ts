/** Task queue names: the orchestrator's queue, and one queue per agent worker. */
export const DEFAULT_TASK_QUEUE = 'baton';

/** The queue one agent's worker polls; a stage dispatched to that agent is scheduled here. */
export function agentTaskQueue(baseQueue: string, agent: string): string {
  return `${baseQueue}.agent.${agent}`;
}
