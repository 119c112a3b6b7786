/**
 * The benchmark's workflow bundle: Baton's `taskWorkflow` beside bare Temporal baselines that do the
 * same activity chain and the same timer with nothing of Baton around them.
 */
import { proxyActivities, sleep } from '@temporalio/workflow';
import type { AgentRunInput, AgentRunResult } from '../workflows/agent-protocol';
import { agentTaskQueue } from '../workflows/task-queues';

export { taskWorkflow } from '../workflows/task-workflow';
export { agentRecord } from '../workflows/agent-record';

interface AgentActivities {
  runAgent(input: AgentRunInput): Promise<AgentRunResult>;
}

/** The bare baseline: implement then review, each on its agent's queue, through the same command driver. */
export async function baselineChain(baseQueue: string, inputs: AgentRunInput[]): Promise<void> {
  for (const input of inputs) {
    const { runAgent } = proxyActivities<AgentActivities>({
      taskQueue: agentTaskQueue(baseQueue, input.agent),
      startToCloseTimeout: '1m',
      heartbeatTimeout: '5s',
    });
    await runAgent(input);
  }
}

/** The bare baseline of an escalation: one durable timer. */
export async function baselineTimer(ms: number): Promise<void> {
  await sleep(ms);
}
