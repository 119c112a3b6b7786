/**
 * What a new task must pass before its workflow starts (v2), beside the spec's own validation:
 *
 * - **Dependencies.** Every id of `dependsOn` names a task Temporal knows (`task-<id>`, open or closed), and
 *   the new task closes no cycle. The walk reads each task's `dependsOn` from its memo (set at start, small,
 *   answered by `describe` for open and closed runs alike, with no worker replaying anything) and follows the
 *   edges of open tasks only: a closed task never waits again, so a path through it cannot deadlock. An id
 *   reused after its old run is gone (retention, or deleted) is the new run's: the walk reads the memo of an
 *   id's current run, which is also the run a dependent's wait follows. Tasks started before dependencies
 *   existed, or outside Baton's API, carry no `dependsOn` memo and count as having none.
 * - **Duplicates.** A task whose normalised title and goal (see `normalizeText`) match an open task of the
 *   deployment is refused (409 `DuplicateTask`) unless its spec says `allowDuplicate: true`. The match is the
 *   `BatonFingerprint` search attribute in a visibility query, every hit confirmed with `describe` (visibility
 *   lags a close by a moment). Visibility also lags a start: requests for the same fingerprint are serialised
 *   in this process and the tasks it started in the last minute are checked directly, so two simultaneous
 *   identical requests to one API give one task and one 409. Two API processes can still each start one.
 */
import { createHash } from 'node:crypto';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { ZodError } from 'zod';
import { BatonFingerprint } from '../workflows/search-attributes';
import { workflowIdForTask, type TaskSpec } from '../workflows/spec';

/** The open task a new one duplicates: answered 409 `DuplicateTask`. */
export class DuplicateTaskError extends Error {
  constructor(
    readonly taskId: string,
    readonly workflowId: string,
  ) {
    super(`open task ${taskId} has the same title and goal; set "allowDuplicate": true to start another one`);
  }
}

/**
 * The form two titles (or goals) are compared in: Unicode NFKC, lower case, every run of whitespace one space,
 * and punctuation (Unicode category P: `.,;:!?'"()[]{}-_…`) trimmed at both ends (not inside: `v1.2` stays;
 * nor symbols: `C++` stays). `"  Add rate-limiting to Login! "` and `"add rate-limiting to login"` match.
 */
export function normalizeText(text: string): string {
  return text
    .normalize('NFKC')
    .toLowerCase()
    .replace(/\s+/gu, ' ')
    .replace(/^[\s\p{P}]+|[\s\p{P}]+$/gu, '');
}

/** `BatonFingerprint`: 32 hex characters of SHA-256 over the normalised title and goal (a missing goal is empty). */
export function taskFingerprint(spec: { title: string; goal?: string }): string {
  return createHash('sha256')
    .update(`baton-task-v1\n${normalizeText(spec.title)}\n${normalizeText(spec.goal ?? '')}`)
    .digest('hex')
    .slice(0, 32);
}

/** At most this many tasks are read to look for a cycle; a larger graph is refused rather than half checked. */
export const MAX_DEPENDENCY_WALK = 1_000;
/** How long a task this process started is checked directly (visibility shows it well before). */
const RECENT_MS = 60_000;

type Call = <T>(fn: () => Promise<T>) => Promise<T>;

interface TaskNode {
  open: boolean;
  dependsOn: string[];
}

interface Started {
  taskId: string;
  workflowId: string;
  at: number;
}

/** Admission of a task that passed the checks: what to start it with, and how to hand the slot on. */
export interface AdmissionTicket {
  fingerprint: string;
  /** Memo fields the start adds (`dependsOn`, read by later cycle checks). */
  memo: Record<string, unknown>;
  /** Call once the workflow started: it counts as open for the next requests at once. */
  started(taskId: string, workflowId: string): void;
  /** Call whatever happened (in a `finally`). */
  release(): void;
}

export interface TaskAdmissionOptions {
  client: Client;
  /** Runs one call to Temporal with the client's deadline and its unavailability mapping. */
  call: Call;
  /** The visibility query of this deployment's tasks (its task queue). */
  deploymentQuery: () => string;
}

export class TaskAdmission {
  private readonly recent = new Map<string, Started[]>();
  private readonly locks = new Map<string, Promise<void>>();

  constructor(private readonly options: TaskAdmissionOptions) {}

  /**
   * Checks `dependsOn` (throws a ZodError, 400) and, unless `allowDuplicate`, that no open task has the same
   * fingerprint (throws `DuplicateTaskError`, 409). Holds this fingerprint's slot until `release()`.
   */
  async admit(spec: TaskSpec, idSupplied: boolean): Promise<AdmissionTicket> {
    await this.checkDependencies(spec, idSupplied);
    const fingerprint = taskFingerprint(spec);
    const release = spec.allowDuplicate ? () => undefined : await this.lock(fingerprint);
    try {
      if (!spec.allowDuplicate) {
        const open = await this.findOpen(fingerprint, spec.id);
        // A request for an id that is taken answers TaskAlreadyExists (a retried request must), whatever else matches.
        if (open && !(idSupplied && (await this.exists(workflowIdForTask(spec.id))))) {
          throw new DuplicateTaskError(open.taskId, open.workflowId);
        }
      }
    } catch (error) {
      release();
      throw error;
    }
    return {
      fingerprint,
      memo: spec.dependsOn.length > 0 ? { dependsOn: spec.dependsOn } : {},
      started: (taskId, workflowId) => this.remember(fingerprint, { taskId, workflowId, at: Date.now() }),
      release,
    };
  }

  /** Every dependency exists; with an id the client chose, no open task's dependencies lead back to it. */
  async checkDependencies(spec: TaskSpec, idSupplied: boolean): Promise<void> {
    if (spec.dependsOn.length === 0) return;
    const known = new Map<string, TaskNode | null>();
    const roots = await Promise.all(spec.dependsOn.map((taskId) => this.node(taskId)));
    const unknown = spec.dependsOn.flatMap((taskId, index) =>
      roots[index] ? [] : [{ code: 'custom' as const, path: ['dependsOn', index], message: `unknown task ${taskId}`, input: taskId }],
    );
    if (unknown.length > 0) throw new ZodError(unknown);
    // A generated id is new: nothing can lead back to it.
    if (!idSupplied) return;

    // Breadth first over the edges of open tasks, remembering how each task was reached.
    const via = new Map<string, string | null>();
    spec.dependsOn.forEach((taskId, index) => {
      known.set(taskId, roots[index]!);
      via.set(taskId, null);
    });
    let frontier = [...spec.dependsOn];
    while (frontier.length > 0) {
      const next: string[] = [];
      for (const taskId of frontier) {
        const node = known.get(taskId);
        if (!node?.open) continue;
        for (const dependency of node.dependsOn) {
          if (dependency === spec.id) throw cycleError(spec, [...pathTo(via, taskId), spec.id]);
          if (via.has(dependency)) continue;
          via.set(dependency, taskId);
          next.push(dependency);
        }
      }
      if (via.size > MAX_DEPENDENCY_WALK) {
        throw new ZodError([
          {
            code: 'custom',
            path: ['dependsOn'],
            message: `the tasks these dependencies lead to are more than ${MAX_DEPENDENCY_WALK}: too many to check for a cycle`,
            input: spec.dependsOn,
          },
        ]);
      }
      const nodes = await Promise.all(next.map((taskId) => this.node(taskId)));
      next.forEach((taskId, index) => known.set(taskId, nodes[index]!));
      frontier = next;
    }
  }

  /** A task as the walk sees it (null: no such task); the memo's `dependsOn` is its edges. */
  private async node(taskId: string): Promise<TaskNode | null> {
    try {
      const description = await this.options.call(() => this.options.client.workflow.getHandle(workflowIdForTask(taskId)).describe());
      if (description.type !== 'taskWorkflow') return null;
      const dependsOn = description.memo?.dependsOn;
      return {
        open: description.status.name === 'RUNNING',
        dependsOn: Array.isArray(dependsOn) ? dependsOn.filter((id): id is string => typeof id === 'string') : [],
      };
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) return null;
      throw error;
    }
  }

  /** An open task other than `ownId` with this fingerprint: one this process just started, or one visibility lists. */
  private async findOpen(fingerprint: string, ownId: string): Promise<{ taskId: string; workflowId: string } | null> {
    this.prune();
    for (const started of this.recent.get(fingerprint) ?? []) {
      if (started.taskId !== ownId && (await this.isOpen(started.workflowId))) return started;
    }
    const query = `${this.options.deploymentQuery()} AND ${BatonFingerprint.name} = '${fingerprint}' AND ExecutionStatus = 'Running'`;
    const candidates = await this.options.call(async () => {
      const found: string[] = [];
      for await (const info of this.options.client.workflow.list({ query, pageSize: 10 })) {
        found.push(info.workflowId);
        if (found.length >= 10) break;
      }
      return found;
    });
    for (const workflowId of candidates) {
      const taskId = workflowId.replace(/^task-/, '');
      if (taskId !== ownId && (await this.isOpen(workflowId))) return { taskId, workflowId };
    }
    return null;
  }

  private async isOpen(workflowId: string): Promise<boolean> {
    return (await this.status(workflowId)) === 'RUNNING';
  }

  private async exists(workflowId: string): Promise<boolean> {
    return (await this.status(workflowId)) !== null;
  }

  private async status(workflowId: string): Promise<string | null> {
    try {
      const description = await this.options.call(() => this.options.client.workflow.getHandle(workflowId).describe());
      return description.status.name;
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) return null;
      throw error;
    }
  }

  private remember(fingerprint: string, started: Started): void {
    const list = this.recent.get(fingerprint) ?? [];
    list.push(started);
    this.recent.set(fingerprint, list);
  }

  private prune(): void {
    const oldest = Date.now() - RECENT_MS;
    for (const [fingerprint, list] of this.recent) {
      const kept = list.filter((started) => started.at >= oldest);
      if (kept.length > 0) this.recent.set(fingerprint, kept);
      else this.recent.delete(fingerprint);
    }
  }

  /** Serialises the check-and-start of one fingerprint in this process; resolves with the release function. */
  private async lock(fingerprint: string): Promise<() => void> {
    const previous = this.locks.get(fingerprint) ?? Promise.resolve();
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const tail = previous.then(() => held);
    this.locks.set(fingerprint, tail);
    await previous;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      release();
      if (this.locks.get(fingerprint) === tail) this.locks.delete(fingerprint);
    };
  }
}

/** The path from one of the new task's dependencies to `taskId`, as the walk reached it. */
function pathTo(via: Map<string, string | null>, taskId: string): string[] {
  const path: string[] = [];
  for (let at: string | null | undefined = taskId; at; at = via.get(at)) path.unshift(at);
  return path;
}

function cycleError(spec: TaskSpec, path: string[]): ZodError {
  const index = spec.dependsOn.indexOf(path[0]!);
  return new ZodError([
    {
      code: 'custom',
      path: ['dependsOn', index],
      message: `${path[0]} leads back to ${spec.id} (${[spec.id, ...path].join(' → ')}): the tasks would wait for each other forever`,
      input: path[0],
    },
  ]);
}
