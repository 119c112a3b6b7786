/**
 * A ledger of the process groups an agent process started (agents, gates), one small file per group under
 * `<home>/processes`. A `baton agent` killed with `kill -9` cannot stop its agents' process groups; when it
 * (or any Baton worker on that home) starts again, `sweepOrphans` kills every group whose owner is gone, so
 * the dead worker's agents do not keep running — or keep editing a worktree — beside the new ones. And it
 * need not wait for a restart: beside each process that records groups runs a watchdog (`watchOwner`), a
 * tiny shell loop that, within a second or two of that process's death (`kill -9` included), ends every
 * group the ledger lists as its own.
 * Linux only (`/proc`): elsewhere the ledger is still written and the sweep finds nothing to check.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

interface GroupRecord {
  pgid: number;
  /** Start time (clock ticks since boot) of the group leader, so a reused pid is never killed. */
  start: string;
  owner: number;
  ownerStart: string;
}

/** Field 22 of /proc/<pid>/stat, the process's start time; undefined if it does not exist. */
function startTimeOf(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may contain spaces: count fields after its ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

const ownStart = startTimeOf(process.pid) ?? '';

/** The watchdog of each ledger directory this process writes to. */
const watched = new Set<string>();

/**
 * Starts, once per directory, the watchdog that ends this process's recorded groups when it dies: it checks
 * once a second whether this process runs, and then sends SIGTERM, and two seconds later SIGKILL, to every
 * group whose record names this process as its owner. Detached and unreferenced: it never holds us up.
 */
function watchOwner(dir: string): void {
  if (watched.has(dir)) return;
  watched.add(dir);
  const mine = (signal: string) =>
    `for f in "$1"/*.json; do [ -f "$f" ] && grep -q 'owner.:'"$0"',' "$f" && kill -${signal} "-$(basename "$f" .json)" 2>/dev/null; done`;
  const script = `while kill -0 "$0" 2>/dev/null; do sleep 1; done; ${mine('TERM')}; sleep 2; ${mine('KILL')}; true`;
  try {
    const watchdog = spawn('/bin/sh', ['-c', script, String(process.pid), dir], { detached: true, stdio: 'ignore' });
    watchdog.on('error', () => watched.delete(dir));
    watchdog.unref();
    // A clean exit has stopped its groups already: the watchdog goes with it rather than a second later.
    process.once('exit', () => {
      if (watchdog.exitCode === null) watchdog.kill('SIGKILL');
    });
  } catch {
    // No shell: the next start's sweep still ends what we leave.
    watched.delete(dir);
  }
}

/** Notes a process group this process started; returns the function that forgets it once it is gone. */
export function recordGroup(dir: string, pgid: number): () => void {
  const file = path.join(dir, `${pgid}.json`);
  const record: GroupRecord = { pgid, start: startTimeOf(pgid) ?? '', owner: process.pid, ownerStart: ownStart };
  try {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(file, JSON.stringify(record));
    watchOwner(dir);
  } catch {
    // The ledger only serves the next start's sweep; a run never fails for it.
  }
  return () => fs.rmSync(file, { force: true });
}

export interface SweptGroup {
  pgid: number;
  owner: number;
}

/** Kills the process groups of owners that no longer run (their leader unchanged) and clears their records. */
export function sweepOrphans(dir: string): SweptGroup[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir).filter((name) => name.endsWith('.json'));
  } catch {
    return [];
  }
  const swept: SweptGroup[] = [];
  for (const name of names) {
    const file = path.join(dir, name);
    let record: GroupRecord;
    try {
      record = JSON.parse(fs.readFileSync(file, 'utf8')) as GroupRecord;
    } catch {
      fs.rmSync(file, { force: true });
      continue;
    }
    const ownerAlive = startTimeOf(record.owner) === record.ownerStart && record.ownerStart !== '';
    if (ownerAlive) continue;
    if (record.start !== '' && startTimeOf(record.pgid) === record.start) {
      try {
        process.kill(-record.pgid, 'SIGKILL');
        swept.push({ pgid: record.pgid, owner: record.owner });
      } catch {
        // Already gone between the check and the kill.
      }
    }
    fs.rmSync(file, { force: true });
  }
  return swept;
}

/** Where a home keeps its ledger. */
export function ledgerDir(home: string): string {
  return path.join(home, 'processes');
}
