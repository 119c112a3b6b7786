import { readdirSync, readFileSync } from 'node:fs';

/** True once the process no longer runs: gone, or a zombie nobody reaps because its parent died. */
export function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    // Reaped between the two looks.
    return true;
  }
}

/** Pids of the agent processes running for a task (found by the `BATON_TASK_ID` in their environment). */
export function agentPids(taskId: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const environ = readFileSync(`/proc/${entry}/environ`, 'latin1').split('\0');
      if (environ.includes(`BATON_TASK_ID=${taskId}`) && !processGone(Number(entry))) pids.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return pids;
}
