/**
 * A real Temporal cluster on PostgreSQL, started here from nothing: a scratch PostgreSQL cluster (Debian's
 * `postgresql`, installed with apt when missing), Temporal's schema set up with its own SQL tool, and one or
 * more full Temporal server processes (frontend, history, matching, worker) on distinct loopback ports that
 * find each other through the database and split the history shards. Baton never starts this itself: the
 * tests point Baton at it as at any cluster (`TEMPORAL_ADDRESS`).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Connection } from '@temporalio/client';
import { runTool } from '../../temporal/cli';
import { resolveTemporalServer, type TemporalServerBinaries } from '../../temporal/server-build';

type Log = (line: string) => void;

/** The repository (not imported from ./stack, which loads vitest: the benchmark starts this cluster too). */
const REPO_ROOT = resolve(__dirname, '..', '..');

/** The compose stack's Temporal files, used here as they are: the tests prove what compose runs. */
export const DOCKER_TEMPORAL_DIR = join(REPO_ROOT, 'docker', 'temporal');
/** Dynamic config the fleet reads (the same values `baton dev` gives its dev server; see README). */
export const CLUSTER_DYNAMIC_CONFIG_FILE = join(DOCKER_TEMPORAL_DIR, 'dynamicconfig.yaml');

/** A free TCP port below 32768: Temporal stores membership ports as smallint in PostgreSQL. */
async function freeLowPort(taken: Set<number>): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (taken.has(port)) continue;
    const free = await new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    if (free) {
      taken.add(port);
      return port;
    }
  }
}

// ---- PostgreSQL -----------------------------------------------------------------------------------

function postgresBinDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] ? join(root, versions[0], 'bin') : undefined;
}

/** Debian's PostgreSQL, installed with apt (with its progress) when the machine lacks it. */
export async function ensurePostgres(log: Log): Promise<string> {
  const found = postgresBinDir();
  if (found) return found;
  if (process.getuid?.() !== 0) throw new Error('PostgreSQL is not installed and this is not root: apt-get install postgresql');
  log('PostgreSQL is not installed: apt-get install postgresql (once per machine)');
  const apt = (args: string[]) =>
    runTool(
      {
        command: 'apt-get',
        args,
        env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
        onLine: (line) => log(`apt: ${line}`),
        stillRunning: (seconds) => `still installing PostgreSQL (${seconds} s)`,
      },
      log,
    );
  if ((await apt(['update'])) !== 0) throw new Error('apt-get update failed');
  if ((await apt(['install', '-y', '--no-install-recommends', 'postgresql'])) !== 0) throw new Error('apt-get install postgresql failed');
  const installed = postgresBinDir();
  if (!installed) throw new Error('apt-get installed postgresql, but no initdb was found under /usr/lib/postgresql');
  return installed;
}

export interface Postgres {
  port: number;
  user: string;
  password: string;
  stop(): void;
}

/** A scratch PostgreSQL cluster on a loopback port with a login role for Temporal. */
export async function startPostgres(taken: Set<number>, log: Log): Promise<Postgres> {
  const bin = await ensurePostgres(log);
  const dir = mkdtempSync(join(tmpdir(), 'baton-pg-'));
  const data = join(dir, 'data');
  const port = await freeLowPort(taken);
  // PostgreSQL refuses to run as root: its files and processes belong to the postgres user then.
  const asRoot = process.getuid?.() === 0;
  const run = (program: string, args: string[]) =>
    execFileSync(asRoot ? 'runuser' : join(bin, program), asRoot ? ['-u', 'postgres', '--', join(bin, program), ...args] : args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      cwd: dir,
    });
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    chownSync(dir, uid, gid);
  }
  run('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8']);
  const conf = [
    `listen_addresses = '127.0.0.1'`,
    `port = ${port}`,
    `unix_socket_directories = '${dir}'`,
    'max_connections = 300',
    // A scratch database for tests: the cluster's durability is Temporal's, tested by killing Temporal.
    'fsync = off',
    'synchronous_commit = off',
    'full_page_writes = off',
  ].join('\n');
  writeFileSync(join(data, 'postgresql.auto.conf'), `${conf}\n`);
  if (asRoot) execFileSync('chown', ['postgres:postgres', join(data, 'postgresql.auto.conf')]);
  run('pg_ctl', ['-D', data, '-w', '-l', join(dir, 'postgres.log'), 'start']);
  const user = 'temporal';
  const password = 'temporal';
  run('psql', ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-qc', `CREATE ROLE ${user} LOGIN CREATEDB PASSWORD '${password}'`]);
  log(`PostgreSQL ${bin.split('/').at(-2)} on 127.0.0.1:${port} (${dir})`);
  return {
    port,
    user,
    password,
    stop() {
      try {
        run('pg_ctl', ['-D', data, '-m', 'immediate', 'stop']);
      } catch {
        // Already gone.
      }
    },
  };
}

/** Temporal's two databases with their schema: the compose stack's own script, with the SQL tool built here. */
function setupSchema(bins: TemporalServerBinaries, pg: Postgres): void {
  execFileSync('sh', [join(DOCKER_TEMPORAL_DIR, 'schema.sh')], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SQL_TOOL: bins.sqlTool, POSTGRES_HOST: '127.0.0.1', POSTGRES_PORT: String(pg.port), POSTGRES_USER: pg.user, POSTGRES_PASSWORD: pg.password },
  });
}

// ---- Temporal --------------------------------------------------------------------------------------

interface NodePorts {
  frontend: number;
  frontendHttp: number;
  frontendMembership: number;
  history: number;
  historyMembership: number;
  matching: number;
  matchingMembership: number;
  worker: number;
  workerMembership: number;
  metrics: number;
}

/** One node's configuration, rendered by the compose stack's own template (docker/temporal/config.sh). */
function nodeConfig(pg: Postgres, ports: NodePorts, seedFrontend: number): string {
  return execFileSync('sh', [join(DOCKER_TEMPORAL_DIR, 'config.sh')], {
    encoding: 'utf8',
    env: {
      PATH: process.env.PATH,
      POSTGRES_HOST: '127.0.0.1',
      POSTGRES_PORT: String(pg.port),
      POSTGRES_USER: pg.user,
      POSTGRES_PASSWORD: pg.password,
      BIND_ON_IP: '127.0.0.1',
      BROADCAST_ADDRESS: '127.0.0.1',
      FRONTEND_GRPC_PORT: String(ports.frontend),
      FRONTEND_HTTP_PORT: String(ports.frontendHttp),
      FRONTEND_MEMBERSHIP_PORT: String(ports.frontendMembership),
      HISTORY_GRPC_PORT: String(ports.history),
      HISTORY_MEMBERSHIP_PORT: String(ports.historyMembership),
      MATCHING_GRPC_PORT: String(ports.matching),
      MATCHING_MEMBERSHIP_PORT: String(ports.matchingMembership),
      WORKER_GRPC_PORT: String(ports.worker),
      WORKER_MEMBERSHIP_PORT: String(ports.workerMembership),
      METRICS_PORT: String(ports.metrics),
      SEED_FRONTEND: `127.0.0.1:${seedFrontend}`,
      DYNAMIC_CONFIG_FILE: CLUSTER_DYNAMIC_CONFIG_FILE,
    },
  });
}

export interface TemporalNode {
  name: string;
  /** This node's frontend, `127.0.0.1:<port>`. */
  address: string;
  /** This node's HTTP API (what the compose stack's health check asks), `http://127.0.0.1:<port>`. */
  httpUrl: string;
  readonly child: ChildProcess | null;
  /** Starts the node's process (again); resolves once its frontend serves. */
  start(): Promise<void>;
  /** SIGTERM, and waits for the exit. */
  stop(): Promise<void>;
  /** SIGKILL, no goodbye. */
  kill(): Promise<void>;
  output(): string;
}

export interface TemporalCluster {
  nodes: TemporalNode[];
  /** The first node's frontend: what Baton is pointed at. */
  address: string;
  postgres: Postgres;
  stop(): Promise<void>;
}

/** Waits until a frontend answers (and the system namespace is there: the cluster finished starting). */
async function waitServing(address: string, timeoutMs: number, output: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const connection = await Connection.connect({ address, connectTimeout: 2_000 });
      try {
        await connection.workflowService.describeNamespace({ namespace: 'temporal-system' });
        return;
      } finally {
        await connection.close();
      }
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`Temporal at ${address} did not serve within ${timeoutMs} ms (${String(error)}):\n${output().slice(-4000)}`);
      await sleep(250);
    }
  }
}

export interface ClusterOptions {
  nodes?: number;
  log?: Log;
}

/** PostgreSQL, the schema and `nodes` Temporal server processes forming one cluster. */
export async function startCluster(options: ClusterOptions = {}): Promise<TemporalCluster> {
  const log = options.log ?? ((line: string) => process.stdout.write(`[cluster] ${line}\n`));
  const bins = await resolveTemporalServer({ log });
  const taken = new Set<number>();
  const postgres = await startPostgres(taken, log);
  const dir = mkdtempSync(join(tmpdir(), 'baton-cluster-'));
  try {
    setupSchema(bins, postgres);
    const allPorts: NodePorts[] = [];
    for (let i = 0; i < (options.nodes ?? 1); i++) {
      const port = () => freeLowPort(taken);
      allPorts.push({
        frontend: await port(),
        frontendHttp: await port(),
        frontendMembership: await port(),
        history: await port(),
        historyMembership: await port(),
        matching: await port(),
        matchingMembership: await port(),
        worker: await port(),
        workerMembership: await port(),
        metrics: await port(),
      });
    }
    const nodes = allPorts.map((ports, i) => {
      const name = `node-${i + 1}`;
      const configFile = join(dir, `${name}.yaml`);
      mkdirSync(join(dir, name), { recursive: true });
      writeFileSync(configFile, nodeConfig(postgres, ports, allPorts[0]!.frontend));
      return temporalNode(name, bins.server, configFile, join(dir, name), ports.frontend, ports.frontendHttp);
    });
    const started = Date.now();
    // The first node initialises the cluster's metadata in the fresh database; the others join it after
    // (started at once, they race to initialise it, and the losers exit).
    await nodes[0]!.start();
    await Promise.all(nodes.slice(1).map((node) => node.start()));
    log(`Temporal ${nodes.length} node(s) serving in ${Date.now() - started} ms: ${nodes.map((n) => `${n.name} ${n.address}`).join(', ')}`);
    return {
      nodes,
      address: nodes[0]!.address,
      postgres,
      async stop() {
        await Promise.all(nodes.map((node) => node.stop()));
        postgres.stop();
      },
    };
  } catch (error) {
    postgres.stop();
    throw error;
  }
}

function temporalNode(name: string, serverBinary: string, configFile: string, cwd: string, frontendPort: number, httpPort: number): TemporalNode {
  const address = `127.0.0.1:${frontendPort}`;
  let child: ChildProcess | null = null;
  let output = '';
  const exited = () =>
    new Promise<void>((resolve) => {
      if (!child || child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
    });
  return {
    name,
    address,
    httpUrl: `http://127.0.0.1:${httpPort}`,
    get child() {
      return child;
    },
    output: () => output,
    async start() {
      const spawned = spawn(serverBinary, ['--config-file', configFile, '--allow-no-auth', 'start'], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
      child = spawned;
      const keep = (chunk: Buffer) => {
        output = (output + chunk.toString()).slice(-200_000);
      };
      spawned.stdout.on('data', keep);
      spawned.stderr.on('data', keep);
      await waitServing(address, 60_000, () => output);
    },
    async stop() {
      child?.kill('SIGTERM');
      await exited();
    },
    async kill() {
      child?.kill('SIGKILL');
      await exited();
    },
  };
}
