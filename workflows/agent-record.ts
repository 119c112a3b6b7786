/**
 * `agentRecord`: one long-running workflow per agent of a deployment, the registry's source of truth about
 * which agents exist (Temporal visibility lists the running records; each one's memo holds the agent's
 * descriptor and stats). Its id is `agentRecordWorkflowId(baseQueue, name)`, it runs on the orchestrator's
 * queue. Workers join it (signal-with-start) and leave it; it completes when a `workerLeft` leaves no joined
 * worker, so gracefully stopping the last `baton agent` takes the agent away while a killed one stays
 * (offline). Malformed signals are logged and ignored, never failing the record.
 */
import * as wf from '@temporalio/workflow';
import { z } from 'zod';
import {
  AGENT_RECORD_QUERY,
  STAGE_FINISHED_SIGNAL,
  WORKER_JOINED_SIGNAL,
  WORKER_LEFT_SIGNAL,
  type AgentDescriptor,
  type AgentRecordDescription,
  type AgentRecordMemo,
  type AgentStats,
} from './fleet';
import { AGENT_STAGES } from './spec';

/** Stage durations the mean is taken over. */
export const STATS_WINDOW = 100;
/** A run continues as new after this many signals, or earlier when Temporal suggests it. */
export const SIGNALS_PER_RUN = 2_000;
/**
 * ... or once its history holds this many events (since the `record-bounded-history` patch). A record whose
 * workflow task lands on a worker without it cached replays its whole run: 4,078 events took 2.3 s on an idle
 * 2-core machine, 500 take about a quarter second. This caps the replay; it does not keep a saturated worker
 * (more open tasks than cached workflows) from replaying the record at each wake (README, "The fleet").
 */
export const EVENTS_PER_RUN = 500;
const BOUNDED_HISTORY_PATCH = 'record-bounded-history';

const Identity = z.string().min(1).max(256);

/** An agent descriptor as a record accepts it (a memo or a signal from another process is checked with it). */
export const AgentDescriptorSchema = z.object({
  name: z.string().min(1).max(128),
  kind: z.enum(['worker', 'claim']),
  roles: z.array(z.enum(AGENT_STAGES)).min(1),
  capabilities: z.array(z.string().min(1).max(64)).max(256),
  maxConcurrent: z.number().int().min(1).max(100_000),
  preset: z.string().min(1).max(64).optional(),
  model: z.string().min(1).max(200).optional(),
});

const WorkerJoinedSchema = z.object({ identity: Identity, descriptor: AgentDescriptorSchema });
const WorkerLeftSchema = z.object({ identity: Identity, live: z.array(Identity).max(10_000).optional() });
const StageFinishedOne = z.object({
  taskId: z.string().min(1).max(512),
  stage: z.enum(AGENT_STAGES),
  ok: z.boolean(),
  durationMs: z.number().finite().min(0),
});
/** One finished stage, or (from a worker, batched once a second) several. */
const StageFinishedSchema = z.union([StageFinishedOne.transform((one) => [one]), z.object({ batch: z.array(StageFinishedOne).max(10_000) }).transform(({ batch }) => batch)]);

/** Signal arguments are `unknown`: the record validates them and ignores what does not parse. */
export const workerJoinedSignal = wf.defineSignal<[unknown]>(WORKER_JOINED_SIGNAL);
export const workerLeftSignal = wf.defineSignal<[unknown]>(WORKER_LEFT_SIGNAL);
export const stageFinishedSignal = wf.defineSignal<[unknown]>(STAGE_FINISHED_SIGNAL);
export const describeAgentQuery = wf.defineQuery<AgentRecordDescription>(AGENT_RECORD_QUERY);

export interface AgentRecordInput {
  agent: AgentDescriptor;
  /** Carried over continue-as-new: the workers that joined and have not left. */
  joined?: string[];
  /** Carried over continue-as-new. */
  completed?: number;
  failed?: number;
  recentMs?: number[];
  /** Signals per run before continue-as-new (tests set it low). */
  signalsPerRun?: number;
  /** History events per run before continue-as-new (tests set it low). */
  eventsPerRun?: number;
}

/** The descriptor fields in a fixed order, so two equal descriptors compare equal as text. */
function canonical(agent: AgentDescriptor): string {
  return JSON.stringify([
    agent.name,
    agent.kind,
    [...agent.roles].sort(),
    [...agent.capabilities].sort(),
    agent.maxConcurrent,
    agent.preset ?? null,
    agent.model ?? null,
  ]);
}

export async function agentRecord(input: AgentRecordInput): Promise<AgentRecordDescription | null> {
  const parsed = AgentDescriptorSchema.safeParse(input?.agent);
  if (!parsed.success) {
    wf.log.warn('agent record started without a valid descriptor: nothing to record', { issues: parsed.error.issues.length });
    return null;
  }
  let agent: AgentDescriptor = parsed.data;
  let joined: string[] = Array.isArray(input.joined) ? input.joined.filter((id) => Identity.safeParse(id).success) : [];
  let completed = Number.isInteger(input.completed) ? input.completed! : 0;
  let failed = Number.isInteger(input.failed) ? input.failed! : 0;
  let recentMs: number[] = Array.isArray(input.recentMs) ? input.recentMs.filter((ms) => Number.isFinite(ms)).slice(-STATS_WINDOW) : [];
  const signalsPerRun = input.signalsPerRun && input.signalsPerRun > 0 ? input.signalsPerRun : SIGNALS_PER_RUN;
  // Runs that began before the bound keep running to their old length (their histories replay unchanged).
  const eventsPerRun = wf.patched(BOUNDED_HISTORY_PATCH) ? (input.eventsPerRun && input.eventsPerRun > 0 ? input.eventsPerRun : EVENTS_PER_RUN) : Infinity;
  let signals = 0;
  let leaveSeen = false;
  let memoDirty = false;

  const stats = (): AgentStats => ({
    completed,
    failed,
    meanStageMs: recentMs.length ? Math.round(recentMs.reduce((sum, ms) => sum + ms, 0) / recentMs.length) : null,
  });
  const memo = (): AgentRecordMemo => ({ agent, stats: stats() });
  const rejected = (signal: string, error: z.ZodError) =>
    wf.log.warn(`agent record ${agent.name}: malformed ${signal} ignored`, { issues: error.issues.map((i) => `${i.path.join('.')}: ${i.message}`) });

  wf.setHandler(workerJoinedSignal, (raw) => {
    signals += 1;
    const payload = WorkerJoinedSchema.safeParse(raw);
    if (!payload.success) return rejected(WORKER_JOINED_SIGNAL, payload.error);
    if (payload.data.descriptor.name !== agent.name) {
      wf.log.warn(`agent record ${agent.name}: workerJoined for agent ${payload.data.descriptor.name} ignored`);
      return;
    }
    if (!joined.includes(payload.data.identity)) joined = [...joined, payload.data.identity];
    if (canonical(payload.data.descriptor) !== canonical(agent)) {
      agent = payload.data.descriptor;
      memoDirty = true;
    }
  });
  wf.setHandler(workerLeftSignal, (raw) => {
    signals += 1;
    const payload = WorkerLeftSchema.safeParse(raw);
    if (!payload.success) return rejected(WORKER_LEFT_SIGNAL, payload.error);
    const { identity, live } = payload.data;
    joined = joined.filter((id) => id !== identity && (live === undefined || live.includes(id)));
    leaveSeen = true;
  });
  wf.setHandler(stageFinishedSignal, (raw) => {
    signals += 1;
    const payload = StageFinishedSchema.safeParse(raw);
    if (!payload.success) return rejected(STAGE_FINISHED_SIGNAL, payload.error);
    for (const finished of payload.data) {
      if (finished.ok) completed += 1;
      else failed += 1;
      recentMs = [...recentMs, Math.round(finished.durationMs)].slice(-STATS_WINDOW);
    }
    memoDirty = true;
  });
  wf.setHandler(describeAgentQuery, () => ({ agent, joined: [...joined], stats: stats() }));

  const gone = () => leaveSeen && joined.length === 0;
  const tooLong = () => signals >= signalsPerRun || wf.workflowInfo().historyLength >= eventsPerRun || wf.workflowInfo().continueAsNewSuggested;
  for (;;) {
    await wf.condition(() => memoDirty || gone() || tooLong());
    if (memoDirty) {
      // Batched: the signals of one workflow task make one memo update.
      memoDirty = false;
      wf.upsertMemo({ ...memo() });
    }
    if (gone()) return { agent, joined: [], stats: stats() };
    if (tooLong()) {
      await wf.condition(wf.allHandlersFinished);
      const next: AgentRecordInput = { agent, joined, completed, failed, recentMs };
      if (input.signalsPerRun) next.signalsPerRun = input.signalsPerRun;
      if (input.eventsPerRun) next.eventsPerRun = input.eventsPerRun;
      const continueAsNew = wf.makeContinueAsNewFunc<typeof agentRecord>({ memo: { ...memo() } });
      return continueAsNew(next);
    }
  }
}
