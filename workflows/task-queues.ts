/** Task queue names: the orchestrator's queue, and two queues per agent (its runs, and its git and gate work). */
export const DEFAULT_TASK_QUEUE = 'baton';

/** The queue one agent's worker polls; a stage dispatched to that agent is scheduled here. */
export function agentTaskQueue(baseQueue: string, agent: string): string {
  return `${baseQueue}.agent.${agent}`;
}

/** The queue of the git and gate work done on that agent's machine (worktrees, gates, delivery). */
export function agentWorkspaceQueue(baseQueue: string, agent: string): string {
  return `${agentTaskQueue(baseQueue, agent)}.workspace`;
}
