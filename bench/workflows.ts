/**
 * The benchmark's workflow bundle: Baton's `taskWorkflow` beside bare Temporal baselines that do the
 * same activity chain and the same timer with nothing of Baton around them.
 */
import { proxyActivities, sleep } from '@temporalio/workflow';
import type { AgentRunInput, AgentRunResult } from '../workflows/agent-protocol';
import { agentTaskQueue } from '../workflows/task-queues';

export { taskWorkflow } from '../workflows/task-workflow';

interface AgentActivities {
  runAgent(input: AgentRunInput): Promise<AgentRunResult>;
}

/** The bare baseline: implement then review on the same agent queue, through the same command driver. */
export async function baselineChain(baseQueue: string, agent: string, inputs: AgentRunInput[]): Promise<void> {
  const { runAgent } = proxyActivities<AgentActivities>({
    taskQueue: agentTaskQueue(baseQueue, agent),
    startToCloseTimeout: '1m',
    heartbeatTimeout: '5s',
  });
  for (const input of inputs) await runAgent(input);
}

/** The bare baseline of an escalation: one durable timer. */
export async function baselineTimer(ms: number): Promise<void> {
  await sleep(ms);
}
