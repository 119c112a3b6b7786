/**
 * Starts `temporal server start-dev` (file-backed SQLite, Baton's search attributes registered, Web UI
 * optional) with the CLI that `resolveTemporalCli` finds, under its lifeline. `baton dev` and the test suite
 * both use it. It loads nothing of the SDK: `baton dev` starts the server first and loads the rest meanwhile.
 */
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { connect as tcpConnect, createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { BATON_SEARCH_ATTRIBUTES } from '../workflows/search-attributes';
import { resolveTemporalCli, type ResolveOptions } from './cli';

/** Baton's search attributes as the CLI's `--search-attribute` takes them (`BatonStage=Keyword`). */
const SEARCH_ATTRIBUTE_FLAGS = BATON_SEARCH_ATTRIBUTES.map(
  (key) => `${key.name}=${key.type.split('_').map((word) => word[0] + word.slice(1).toLowerCase()).join('')}`,
);

/**
 * The dev server's timer queue may fire a timer up to 1 s late (its default max time shift); escalation
 * clocks re-arm short timers, so tighten it to keep escalations within tens of milliseconds of their deadline.
 */
const PRECISE_TIMERS = 'history.timerProcessorMaxTimeShift="50ms"';
/**
 * The dev server has one history shard, and each shard's queue readers (transfer: tasks to matching; timer;
 * visibility) read at most 20 times a second by default. Past a burst of about 20 tasks (two seconds of the
 * latency benchmark) every activity and workflow task then waited ~40 ms for the reader's next turn, bare
 * Temporal and Baton alike (measured: scheduled -> started 2 ms before, 40-45 ms after; 2-5 ms throughout at
 * 500). A cluster spreads tasks over many shards, each with its own reader.
 */
const QUEUE_READS = ['transfer', 'timer', 'visibility'].map((queue) => `history.${queue}ProcessorMaxPollRPS=500`);
/**
 * What the fleet reads from the server: task-queue priorities (the new matcher, on one partition per queue so
 * the order is global), and worker heartbeats listed by ListWorkers (which workers are alive, their used slots).
 * A cluster needs the same dynamic config (see README, "Running against a cluster").
 */
export const FLEET_DYNAMIC_CONFIG = [
  'matching.useNewMatcher=true',
  'matching.numTaskqueueReadPartitions=1',
  'matching.numTaskqueueWritePartitions=1',
  'frontend.WorkerHeartbeatsEnabled=true',
  'frontend.ListWorkersEnabled=true',
];

/**
 * The server runs under this wrapper (temporal/lifeline.sh): it ends the server once the process that started
 * it is gone, so a `baton dev` killed with SIGKILL leaves no dev server holding its ports and database.
 */
const LIFELINE = join(__dirname, 'lifeline.sh');

export interface DevServerOptions extends ResolveOptions {
  /** gRPC port; a free one when omitted. */
  port?: number;
  /** Web UI port; the UI is off when omitted. */
  uiPort?: number;
  /** SQLite file; an in-memory database when omitted. */
  dbFile?: string;
  namespace?: string;
  ip?: string;
  /** Dynamic config values (`key=value`), e.g. a low continue-as-new threshold in a test. */
  dynamicConfig?: string[];
}

export interface DevServer {
  address: string;
  namespace: string;
  uiUrl: string | null;
  cliPath: string;
  pid: number;
  stop(): Promise<void>;
}

function freePort(ip: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, ip, () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

function accepts(ip: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host: ip, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * The dev server's file database in write-ahead-log mode, synced at checkpoints: SQLite then commits without
 * a sync of its own (the dev server writes through one connection, so every sync held up every other
 * write). A killed server loses nothing it committed; only a machine losing power could lose the last ones.
 */
const FILE_DB_PRAGMAS = ['journal_mode=WAL', 'synchronous=NORMAL'];

/**
 * The flags every Baton dev server runs with: its database, Baton's search attributes and the dynamic config
 * above. Whoever launches `temporal server start-dev` itself (the crash suite kills and restarts one) uses them too.
 */
export function devServerFlags(options: Pick<DevServerOptions, 'dbFile' | 'dynamicConfig'>): string[] {
  return [
    ...(options.dbFile ? ['--db-filename', options.dbFile, ...FILE_DB_PRAGMAS.flatMap((pragma) => ['--sqlite-pragma', pragma])] : []),
    ...SEARCH_ATTRIBUTE_FLAGS.flatMap((flag) => ['--search-attribute', flag]),
    ...[PRECISE_TIMERS, ...QUEUE_READS, ...FLEET_DYNAMIC_CONFIG, ...(options.dynamicConfig ?? [])].flatMap((value) => ['--dynamic-config-value', value]),
  ];
}

export async function startDevServer(options: DevServerOptions = {}): Promise<DevServer> {
  const resolved = await resolveTemporalCli(options);
  if (options.dbFile) mkdirSync(dirname(options.dbFile), { recursive: true });
  const namespace = options.namespace ?? 'default';
  const ip = options.ip ?? '127.0.0.1';
  const port = options.port ?? (await freePort(ip));
  const args = [
    'server', 'start-dev',
    '--ip', ip,
    '--port', String(port),
    '--namespace', namespace,
    '--log-format', 'pretty',
    '--log-level', 'warn',
    ...(options.uiPort !== undefined ? ['--ui-port', String(options.uiPort)] : ['--headless']),
    ...devServerFlags(options),
  ];
  // The lifeline runs the real CLI (BATON_TEMPORAL_CLI) and ends it when this process is gone.
  const child = spawn(LIFELINE, args, { env: { ...process.env, BATON_TEMPORAL_CLI: resolved.path }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-20_000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let gone = false;
  void exited.then(() => (gone = true));
  const deadline = Date.now() + 60_000;
  while (!(await accepts(ip, port))) {
    if (gone) throw new Error(`the Temporal dev server exited before it served (port ${port}):\n${output}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the Temporal dev server did not serve on port ${port} within 60 s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const address = `${ip === '0.0.0.0' ? '127.0.0.1' : ip}:${port}`;
  return {
    address,
    namespace,
    uiUrl: options.uiPort !== undefined ? `http://${ip === '0.0.0.0' ? '127.0.0.1' : ip}:${options.uiPort}` : null,
    cliPath: resolved.path,
    pid: child.pid!,
    async stop() {
      if (gone) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
