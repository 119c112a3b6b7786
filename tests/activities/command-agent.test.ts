import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ApplicationFailure, CancelledFailure, type LogLevel, type Logger } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { describe, expect, it } from 'vitest';
import { createCommandAgentActivities } from '../../activities/agents/command-agent';
import { getAgent, loadAgentsFile, type AgentConfig } from '../../activities/agents/config';
import type { AgentContext, AgentRunInput, AgentRunResult, FeedbackEntry } from '../../workflows/agent-protocol';
import { TaskSpecSchema, type AgentStage, type TaskSpec, type TaskSpecInput } from '../../workflows/spec';
import { processGone } from '../helpers/processes';

const FIXTURES = path.resolve(__dirname, '../fixtures/agents');
const DEMO_AGENTS_FILE = path.resolve(__dirname, '../../agents/agents.yaml');

interface RecordedSignal {
  workflowId: string;
  signal: 'heartbeat' | 'progress';
  payload: object;
  at: number;
}

interface AgentRunOptions {
  /** A fixture script in tests/fixtures/agents, or a ready agent (the demo agents). */
  fixture?: string;
  agent?: AgentConfig;
  agentEnv?: Record<string, string>;
  command?: string[];
  stage?: AgentStage;
  round?: number;
  attempt?: number;
  task?: Partial<TaskSpecInput>;
  context?: Partial<AgentContext>;
  /** Reuse a home (and task id) across runs, as consecutive stages of one task do. */
  home?: string;
  taskId?: string;
  signOfLifeEveryMs?: number;
  heartbeatEveryMs?: number;
  logLimitBytes?: number;
  signalWorkflow?: (workflowId: string, signal: 'heartbeat' | 'progress', payload: object) => Promise<void>;
}

let taskCounter = 0;

/**
 * Starts one agent run in its own MockActivityEnvironment, with a fresh home and task id unless given,
 * and records what the driver sends: activity heartbeats, workflow signals and log warnings.
 */
function startAgent(options: AgentRunOptions) {
  const home = options.home ?? fs.mkdtempSync(path.join(os.tmpdir(), 'baton-agent-test-'));
  const taskId = options.taskId ?? `t${process.pid}-${++taskCounter}-${options.fixture ?? options.agent?.name}`;
  const agent: AgentConfig = options.agent ?? {
    name: 'fixture',
    roles: ['define', 'implement', 'review'],
    capabilities: [],
    maxConcurrent: 1,
    command: options.command ?? [process.execPath, `./${options.fixture}`],
    env: options.agentEnv ?? {},
    baseDir: FIXTURES,
  };
  const task: TaskSpec = { ...TaskSpecSchema.parse({ title: `Test task ${taskId}`, ...options.task }), id: taskId };
  const input: AgentRunInput = {
    workflowId: `task-${taskId}`,
    agent: agent.name,
    signOfLifeEveryMs: options.signOfLifeEveryMs ?? 60_000,
    context: {
      taskId,
      stage: options.stage ?? 'implement',
      round: options.round ?? 1,
      task,
      definition: null,
      feedback: [],
      notes: [],
      results: [],
      ...options.context,
    },
  };

  const signals: RecordedSignal[] = [];
  const heartbeats: unknown[] = [];
  const warnings: string[] = [];
  const log = (level: LogLevel, message: string): void => {
    if (level === 'WARN' || level === 'ERROR') warnings.push(message);
  };
  const logger: Logger = {
    log,
    trace: (message) => log('TRACE', message),
    debug: (message) => log('DEBUG', message),
    info: (message) => log('INFO', message),
    warn: (message) => log('WARN', message),
    error: (message) => log('ERROR', message),
  };
  const env = new MockActivityEnvironment({ attempt: options.attempt ?? 1 }, { logger });
  env.on('heartbeat', (details: unknown) => heartbeats.push(details));
  const activities = createCommandAgentActivities({
    agent,
    home,
    heartbeatEveryMs: options.heartbeatEveryMs ?? 100,
    logLimitBytes: options.logLimitBytes,
    signalWorkflow:
      options.signalWorkflow ??
      (async (workflowId, signal, payload) => {
        signals.push({ workflowId, signal, payload, at: Date.now() });
      }),
  });
  const result: Promise<AgentRunResult> = env.run(activities.runAgent, input);
  // Tests that expect a rejection attach their own handler; this one only avoids an unhandled rejection.
  result.catch(() => undefined);
  const workdir = path.join(home, 'work', taskId);
  const attemptDir = path.join(home, 'runs', taskId, `${input.context.stage}-r${input.context.round}-a${options.attempt ?? 1}`);
  const agentPid = async (): Promise<number> => {
    await waitFor(() => heartbeats.length > 0);
    return (heartbeats[0] as { pid: number }).pid;
  };
  return { env, input, home, taskId, workdir, attemptDir, result, signals, heartbeats, warnings, agentPid };
}

/** The failure a run ended with (fails the test if it succeeded). */
async function failureOf(result: Promise<unknown>): Promise<Error> {
  try {
    await result;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected the agent run to fail');
}

async function waitFor(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for a condition');
    await sleep(20);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function expectNoSuchProcess(pid: number): void {
  expect(() => process.kill(pid, 0)).toThrow(expect.objectContaining({ code: 'ESRCH' }));
}

describe('command agent driver', { timeout: 15_000 }, () => {
  it('returns the result the agent wrote to the result file', async () => {
    const run = startAgent({ fixture: 'env-dump.mjs' });
    const result = await run.result;
    expect(result).toMatchObject({ outcome: 'completed', agent: 'fixture', exitCode: 0 });
    expect(result.logFile).toBe(path.join(run.attemptDir, 'agent.log'));
    expect(result.durationMs).toBeGreaterThan(0);
  });

  it('takes the last stdout line as the result when there is no result file', async () => {
    const run = startAgent({ fixture: 'last-line.mjs' });
    const result = await run.result;
    expect(result).toMatchObject({ outcome: 'completed', summary: 'reported on stdout', exitCode: 0 });
    const log = fs.readFileSync(path.join(run.attemptDir, 'agent.log'), 'utf8');
    expect(log).toContain('out| step one\n');
    expect(log).toContain('err| a warning\n');
    expect(log).toContain('out| {"outcome":"completed","summary":"reported on stdout"}\n');
  });

  it('fails the attempt, retryable, when the agent exits non-zero without a result', async () => {
    const err = await failureOf(startAgent({ fixture: 'fail.mjs' }).result);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect(err).toMatchObject({ type: 'AgentFailed', nonRetryable: false });
    expect(err.message).toBe('agent fixture exited with code 3 (last line: "starting")');
  });

  it('fails the attempt, retryable, when the agent exits 0 without a result', async () => {
    const err = await failureOf(startAgent({ command: [process.execPath, '-e', 'console.log("bye")'] }).result);
    expect(err).toMatchObject({ type: 'AgentFailed', nonRetryable: false });
    expect(err.message).toBe('agent fixture exited without a result (last line: "bye")');
  });

  it('fails the attempt, retryable, when the agent reports failed', async () => {
    const err = await failureOf(startAgent({ fixture: 'last-line.mjs', agentEnv: { FIXTURE_OUTCOME: 'failed' } }).result);
    expect(err).toMatchObject({ type: 'AgentFailed', nonRetryable: false, message: 'reported on stdout' });
  });

  it('rejects an invalid result as non-retryable InvalidAgentResult', async () => {
    const err = await failureOf(startAgent({ fixture: 'invalid.mjs' }).result);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect(err).toMatchObject({ type: 'InvalidAgentResult', nonRetryable: true });
    expect(err.message).toMatch(/invalid result \(result file\): outcome: .*; confidence: /);
  });

  it('rejects an outcome that does not belong to the stage', async () => {
    const err = await failureOf(startAgent({ fixture: 'last-line.mjs', stage: 'review' }).result);
    expect(err).toMatchObject({ type: 'InvalidAgentResult', nonRetryable: true });
    expect(err.message).toContain('"completed", which is not an outcome of the review stage');
  });

  it("turns a define agent's approved into completed", async () => {
    const run = startAgent({ fixture: 'last-line.mjs', stage: 'define', agentEnv: { FIXTURE_OUTCOME: 'approved' } });
    expect((await run.result).outcome).toBe('completed');
  });

  it('fails non-retryable when the command cannot be started', async () => {
    const err = await failureOf(startAgent({ command: ['baton-no-such-program-xyz'] }).result);
    expect(err).toMatchObject({ type: 'AgentMisconfigured', nonRetryable: true });
    expect(err.message).toContain('ENOENT');
  });

  it('hands the agent its environment, context file and stdin', async () => {
    const repo = fs.mkdtempSync(path.join(os.tmpdir(), 'baton-agent-repo-'));
    const run = startAgent({
      fixture: 'env-dump.mjs',
      stage: 'implement',
      round: 2,
      attempt: 3,
      agentEnv: { AGENT_VAR: 'from agents.yaml', BATON_STAGE: 'agents cannot override this' },
    });
    const result = await run.result;
    const attemptDir = path.join(run.home, 'runs', run.taskId, 'implement-r2-a3');
    // The agent inherits the worker's environment, so BATON_* settings of the machine (BATON_HOME…) pass through.
    const inherited = Object.fromEntries(Object.entries(process.env).filter(([key]) => key.startsWith('BATON_')));
    expect(JSON.parse(result.summary ?? '')).toEqual({
      env: {
        ...inherited,
        AGENT_VAR: 'from agents.yaml',
        BATON_TASK_ID: run.taskId,
        BATON_STAGE: 'implement',
        BATON_ROUND: '2',
        BATON_WORKDIR: run.workdir,
        BATON_CONTEXT_FILE: path.join(attemptDir, 'context.json'),
        BATON_RESULT_FILE: path.join(attemptDir, 'result.json'),
        BATON_AGENT: 'fixture',
      },
      cwd: run.workdir,
      stdinMatchesFile: true,
      taskIdFromStdin: run.taskId,
    });
    expect(JSON.parse(fs.readFileSync(path.join(attemptDir, 'context.json'), 'utf8'))).toEqual(run.input.context);

    // The worker's Temporal client settings (a secured cluster's key) never reach an agent.
    process.env.TEMPORAL_API_KEY = 'tk-cluster-secret';
    process.env.TEMPORAL_TLS_CLIENT_KEY_DATA = '-----BEGIN PRIVATE KEY-----';
    let withKeys;
    try {
      withKeys = await startAgent({ fixture: 'env-dump.mjs' }).result;
    } finally {
      delete process.env.TEMPORAL_API_KEY;
      delete process.env.TEMPORAL_TLS_CLIENT_KEY_DATA;
    }
    const dumped = JSON.parse(withKeys.summary ?? '') as { env: Record<string, string> };
    expect(Object.keys(dumped.env).filter((key) => key.startsWith('TEMPORAL_'))).toEqual([]);

    const inRepo = await startAgent({ fixture: 'env-dump.mjs', task: { repo: { path: repo } } }).result;
    expect(JSON.parse(inRepo.summary ?? '')).toMatchObject({ cwd: repo, env: { BATON_WORKDIR: repo } });
  });

  it('bounds the log file and still reads the result', async () => {
    const run = startAgent({ fixture: 'last-line.mjs', logLimitBytes: 30 });
    expect((await run.result).summary).toBe('reported on stdout');
    const log = fs.readFileSync(path.join(run.attemptDir, 'agent.log'), 'utf8');
    expect(log.endsWith('[log truncated]\n')).toBe(true);
    expect(log.split('[log truncated]')).toHaveLength(2);
    expect(Buffer.byteLength(log)).toBeLessThanOrEqual(30 + '[log truncated]\n'.length);
  });

  it('forwards progress reports at most once per sign-of-life interval, the first after one interval, and heartbeats the activity', async () => {
    const startedAt = Date.now();
    const run = startAgent({ fixture: 'progress.mjs', heartbeatEveryMs: 100, signOfLifeEveryMs: 1000 });
    await run.result;
    // Steps 1 to 3 come within the first interval: nothing goes out before it ends, then only the newest.
    const progress = run.signals.filter((s) => s.signal === 'progress');
    expect(progress.length).toBeGreaterThanOrEqual(1);
    expect(progress.length).toBeLessThanOrEqual(2);
    expect(progress.at(-1)).toMatchObject({ workflowId: run.input.workflowId, payload: { agent: 'fixture', message: 'step 3' } });
    for (const signal of run.signals) expect(signal.at - startedAt).toBeGreaterThanOrEqual(950);
    for (let i = 1; i < progress.length; i++) expect(progress[i]!.at - progress[i - 1]!.at).toBeGreaterThanOrEqual(950);
    expect(run.heartbeats.length).toBeGreaterThanOrEqual(5);
    expect(run.heartbeats.at(-1)).toMatchObject({ pid: expect.any(Number) as number, lines: expect.any(Number) as number });
  });

  it('sends no signal at all for a stage shorter than its first interval', async () => {
    const run = startAgent({ fixture: 'last-line.mjs', signOfLifeEveryMs: 60_000 });
    expect((await run.result).summary).toBe('reported on stdout');
    expect(run.signals).toEqual([]);
  });

  it('forwards signs of life throttled to signOfLifeEveryMs', async () => {
    const run = startAgent({ fixture: 'chatty.mjs', signOfLifeEveryMs: 500 });
    await waitFor(() => run.signals.length > 0);
    await sleep(1300);
    run.env.cancel();
    await failureOf(run.result);
    const beats = run.signals.filter((s) => s.signal === 'heartbeat');
    expect(beats.length).toBeGreaterThanOrEqual(3);
    expect(beats.length).toBeLessThanOrEqual(4);
    expect(beats[0]?.payload).toEqual({ agent: 'fixture' });
    for (let i = 1; i < beats.length; i++) {
      expect(beats[i]!.at - beats[i - 1]!.at).toBeGreaterThanOrEqual(450);
    }
  });

  it('forwards no sign of life while the agent is silent', async () => {
    const run = startAgent({ fixture: 'quiet.mjs', signOfLifeEveryMs: 100 });
    await waitFor(() => run.signals.length > 0);
    await sleep(700);
    const afterItsLine = run.signals.length;
    await sleep(700);
    run.env.cancel();
    await failureOf(run.result);
    // The start and the agent's single line: one or two, then nothing while it is silent.
    expect(run.signals.every((s) => s.signal === 'heartbeat')).toBe(true);
    expect(afterItsLine).toBeLessThanOrEqual(2);
    expect(run.signals).toHaveLength(afterItsLine);
  });

  it('survives a failing signalWorkflow', async () => {
    const run = startAgent({
      fixture: 'progress.mjs',
      signOfLifeEveryMs: 200,
      signalWorkflow: async () => {
        throw new Error('workflow unreachable');
      },
    });
    expect((await run.result).outcome).toBe('completed');
    await waitFor(() => run.warnings.length > 0);
    expect(run.warnings).toContain('Could not signal the task workflow');
  });

  it('kills the whole process group on cancellation and rethrows the cancellation', async () => {
    const run = startAgent({ fixture: 'quiet.mjs', agentEnv: { QUIET_CHILD_PID_FILE: 'child.pid' } });
    const pid = await run.agentPid();
    const childPidFile = path.join(run.workdir, 'child.pid');
    await waitFor(() => fs.existsSync(childPidFile) && fs.readFileSync(childPidFile, 'utf8') !== '');
    const childPid = Number(fs.readFileSync(childPidFile, 'utf8'));

    run.env.cancel();
    const err = await failureOf(run.result);

    expect(err).toBeInstanceOf(CancelledFailure);
    expectNoSuchProcess(pid);
    await waitFor(() => processGone(childPid), 2000);
  });

  it('kills an agent that ignores SIGTERM after the grace period', async () => {
    const run = startAgent({ fixture: 'quiet.mjs', agentEnv: { QUIET_IGNORE_SIGTERM: '1' } });
    const pid = await run.agentPid();
    await waitFor(() => run.heartbeats.some((h) => (h as { lines: number }).lines > 0));
    const cancelledAt = Date.now();

    run.env.cancel();
    const err = await failureOf(run.result);

    expect(err).toBeInstanceOf(CancelledFailure);
    expect(Date.now() - cancelledAt).toBeGreaterThanOrEqual(1900);
    expectNoSuchProcess(pid);
    expect(fs.readFileSync(path.join(run.attemptDir, 'agent.log'), 'utf8')).toContain('out| ignoring SIGTERM');
  });
});

describe('demo agents', { timeout: 15_000 }, () => {
  const demo = loadAgentsFile(DEMO_AGENTS_FILE);

  it('define, implement and two review rounds reach approval', async () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'baton-demo-test-'));
    const taskId = `demo-${process.pid}-${++taskCounter}`;
    const task = { title: 'Add a health endpoint', goal: 'GET /health answers 200', acceptanceCriteria: ['returns 200'] };
    const stage = (agent: string, stageName: AgentStage, round: number, context: Partial<AgentContext>) =>
      startAgent({ agent: getAgent(demo, agent), stage: stageName, round, home, taskId, task, context }).result;

    const defined = await stage('planner', 'define', 1, {});
    expect(defined).toMatchObject({
      outcome: 'completed',
      definition: { goal: 'GET /health answers 200', acceptanceCriteria: ['returns 200'] },
    });
    const definition = defined.definition ?? null;

    const firstImpl = await stage('coder', 'implement', 1, { definition });
    expect(firstImpl.outcome).toBe('completed');
    const deliverable = path.join(home, 'work', taskId, `${taskId}.md`);
    expect(firstImpl.summary).toContain(deliverable);

    const firstReview = await stage('reviewer', 'review', 1, { definition });
    expect(firstReview.outcome).toBe('changes_requested');
    const feedback: FeedbackEntry[] = [{ round: 1, from: 'reviewer', text: firstReview.feedback ?? '' }];
    expect(feedback[0]?.text).toMatch(/Tests/);

    await stage('coder', 'implement', 2, { definition, feedback });
    const file = fs.readFileSync(deliverable, 'utf8');
    expect(file).toContain('## Tests');
    expect(file).toContain('round 2');

    const secondReview = await stage('reviewer', 'review', 2, { definition, feedback });
    expect(secondReview).toMatchObject({ outcome: 'approved' });
  });

  it('the reviewer keeps asking when round 2 does not address the feedback', async () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'baton-demo-test-'));
    const taskId = `demo-${process.pid}-${++taskCounter}`;
    const feedback: FeedbackEntry[] = [{ round: 1, from: 'reviewer', text: 'Add a "## Tests" section.' }];
    fs.mkdirSync(path.join(home, 'work', taskId), { recursive: true });
    fs.writeFileSync(path.join(home, 'work', taskId, `${taskId}.md`), '# nothing new\n');

    const review = await startAgent({
      agent: getAgent(demo, 'reviewer'),
      stage: 'review',
      round: 2,
      home,
      taskId,
      context: { feedback },
    }).result;
    expect(review.outcome).toBe('changes_requested');
    expect(review.feedback).toContain('feedback from reviewer (round 1) is not addressed');
  });
});
