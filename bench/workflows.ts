/**
 * The benchmark's workflow bundle: Baton's `taskWorkflow` beside bare Temporal baselines that do the
 * same activity chain and the same timer with nothing of Baton around them.
 */
import { proxyActivities, sleep, upsertSearchAttributes } from '@temporalio/workflow';
import type { AgentRunInput, AgentRunResult } from '../workflows/agent-protocol';
import { BatonAgent, BatonCostUsd, BatonGates, BatonPriority, BatonStage, BatonStatus } from '../workflows/search-attributes';
import { agentTaskQueue } from '../workflows/task-queues';

export { taskWorkflow } from '../workflows/task-workflow';
export { agentRecord } from '../workflows/agent-record';

interface AgentActivities {
  runAgent(input: AgentRunInput): Promise<AgentRunResult>;
}

/** The bare baseline: implement then review, each on its agent's queue, through the same command driver. */
export async function baselineChain(baseQueue: string, inputs: AgentRunInput[]): Promise<void> {
  for (const input of inputs) await runStage(baseQueue, input);
}

/**
 * The bare baseline plus the one command a Baton assignment adds: the upsert of the six search attributes a
 * task shows on the board (stage, status, priority, agent, cost, gates), sent with each activity. What this
 * chain's handoff costs beyond `baselineChain` is the price of the command itself; what Baton's costs beyond
 * this one is Baton's workflow code.
 */
export async function baselineBoardChain(baseQueue: string, inputs: AgentRunInput[]): Promise<void> {
  for (const input of inputs) {
    upsertSearchAttributes([
      { key: BatonStage, value: input.context.stage },
      { key: BatonStatus, value: 'running' },
      { key: BatonPriority, value: 'normal' },
      { key: BatonAgent, value: input.agent },
      { key: BatonCostUsd, value: 0 },
      { key: BatonGates, value: null },
    ]);
    await runStage(baseQueue, input);
  }
}

function runStage(baseQueue: string, input: AgentRunInput): Promise<AgentRunResult> {
  const { runAgent } = proxyActivities<AgentActivities>({
    taskQueue: agentTaskQueue(baseQueue, input.agent),
    startToCloseTimeout: '1m',
    heartbeatTimeout: '5s',
  });
  return runAgent(input);
}

/** The bare baseline of an escalation: one durable timer. */
export async function baselineTimer(ms: number): Promise<void> {
  await sleep(ms);
}
