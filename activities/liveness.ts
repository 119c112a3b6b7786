/**
 * Is a silent agent alive? An agent that prints nothing while its process tree works (a long test suite, a
 * build, a CLI waiting on its tool) is busy, not idle. One sampler per worker process reads `/proc` every
 * couple of seconds and tells each watched tree whether it used CPU since the last look; only a tree that is
 * silent and uses no CPU for the whole idle timeout lets the idle clock run out.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** How often the process table is read (once for all watched agents of this worker). */
export const BUSY_SAMPLE_MS = 2000;
/** CPU a tree must use within one sample to count as busy: 2 % of a core (clock ticks of 10 ms). */
export const BUSY_MIN_TICKS = Math.max(1, Math.round((BUSY_SAMPLE_MS * 0.02) / 10));

interface ProcStat {
  ppid: number;
  pgrp: number;
  /** utime + stime + cutime + cstime: its own CPU and that of children it has reaped. */
  ticks: number;
}

interface Watcher {
  leader: number;
  lastTicks: number | undefined;
  onBusy: () => void;
}

const watchers = new Set<Watcher>();
let timer: NodeJS.Timeout | undefined;

/**
 * Calls `onBusy` after every sample in which the process tree of `leader` (its process group, and every
 * descendant of the leader, which may have left the group) used at least BUSY_MIN_TICKS of CPU.
 * Returns the function that stops watching. Where `/proc` cannot be read, nothing is ever reported.
 */
export function watchBusy(leader: number, onBusy: () => void): () => void {
  const watcher: Watcher = { leader, lastTicks: undefined, onBusy };
  watchers.add(watcher);
  timer ??= setInterval(sample, BUSY_SAMPLE_MS).unref();
  return () => {
    watchers.delete(watcher);
    if (watchers.size === 0 && timer !== undefined) {
      clearInterval(timer);
      timer = undefined;
    }
  };
}

function sample(): void {
  const table = readProcessTable();
  if (!table) return;
  for (const watcher of watchers) {
    const ticks = treeTicks(table, watcher.leader);
    const before = watcher.lastTicks;
    watcher.lastTicks = ticks;
    if (before !== undefined && ticks - before >= BUSY_MIN_TICKS) watcher.onBusy();
  }
}

/** CPU clock ticks used so far by the tree of `leader`, from a process table. */
export function treeTicks(table: Map<number, ProcStat>, leader: number): number {
  let total = 0;
  for (const [pid, stat] of table) {
    if (stat.pgrp === leader || descendsFrom(table, pid, leader)) total += stat.ticks;
  }
  return total;
}

function descendsFrom(table: Map<number, ProcStat>, pid: number, ancestor: number): boolean {
  let current = pid;
  for (let depth = 0; depth < 64; depth++) {
    if (current === ancestor) return true;
    const parent = table.get(current)?.ppid;
    if (parent === undefined || parent <= 1) return false;
    current = parent;
  }
  return false;
}

/** Every process's parent, group and CPU ticks, or undefined where there is no `/proc`. */
export function readProcessTable(): Map<number, ProcStat> | undefined {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return undefined;
  }
  const table = new Map<number, ProcStat>();
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Fields after the command name (which may hold spaces and parentheses): state, ppid, pgrp, ... utime is field 14.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const [utime, stime, cutime, cstime] = [fields[11], fields[12], fields[13], fields[14]].map(Number);
      table.set(Number(entry), { ppid: Number(fields[1]), pgrp: Number(fields[2]), ticks: utime! + stime! + cutime! + cstime! });
    } catch {
      // The process ended while we looked.
    }
  }
  return table;
}
