/**
 * Another machine on this one, for tests that need root: a network namespace joined to the root namespace by
 * a veth pair on a random private /30 (host end A, namespace end B, nothing else routed), processes started
 * inside it, and the two services such a machine reaches over the link: a TCP proxy on A to a server that
 * listens on the host's loopback only (the run's Temporal dev server), and a `git daemon` on A serving bare
 * repositories (`git://A:port/<name>`). Teardown kills everything inside the namespace and deletes it (the
 * veth goes with it); a process `exit` hook does the same if a test never got to its own teardown.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { processGone } from './processes';

const IP_CANDIDATES = ['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip'];
const GIT_DAEMON_CANDIDATES = ['/usr/lib/git-core/git-daemon', '/usr/libexec/git-core/git-daemon'];

function findIp(): string | null {
  return IP_CANDIDATES.find((candidate) => existsSync(candidate)) ?? null;
}

function ipBinary(): string {
  const ip = findIp();
  if (!ip) throw new Error(`iproute2's ip is not installed (looked in ${IP_CANDIDATES.join(', ')})`);
  return ip;
}

/** Why namespaces with a veth link cannot be made here (not root, no `ip`), or null when they can. */
export function netnsUnavailable(): string | null {
  if (process.platform !== 'linux') return 'network namespaces need Linux';
  if (process.getuid?.() !== 0) return 'creating a network namespace and a veth pair needs root';
  if (!findIp()) return `iproute2's ip is not installed (looked in ${IP_CANDIDATES.join(', ')})`;
  return null;
}

function ip(args: string[]): string {
  return execFileSync(ipBinary(), args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

// ---- addresses -------------------------------------------------------------------------------------------

const toInt = (address: string) => address.split('.').reduce((n, part) => n * 256 + Number(part), 0);
const toAddress = (n: number) => [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');

/** [first, last] address (as numbers) of `a.b.c.d/len`. */
function range(address: string, length: number): [number, number] {
  const size = 2 ** (32 - length);
  const start = Math.floor(toInt(address) / size) * size;
  return [start, start + size - 1];
}

/** Every IPv4 range this machine already uses: its addresses' prefixes and its routes (the default one aside). */
function usedRanges(): [number, number][] {
  const used: [number, number][] = [];
  const addresses = JSON.parse(ip(['-j', '-4', 'addr', 'show'])) as { addr_info?: { local: string; prefixlen: number }[] }[];
  for (const link of addresses) for (const info of link.addr_info ?? []) used.push(range(info.local, info.prefixlen));
  const routes = JSON.parse(ip(['-j', '-4', 'route', 'show', 'table', 'all'])) as { dst: string }[];
  for (const { dst } of routes) {
    if (dst === 'default' || !/^\d+\.\d+\.\d+\.\d+(\/\d+)?$/.test(dst)) continue;
    const [address, length] = dst.split('/') as [string, string | undefined];
    used.push(range(address, length === undefined ? 32 : Number(length)));
  }
  return used;
}

/** A random /30 in 10.0.0.0/8 or 172.16.0.0/12 that overlaps nothing this machine has: [A, B]. */
function pickSubnet(): [string, string] {
  const used = usedRanges();
  for (let tries = 0; tries < 100; tries++) {
    const random = randomBytes(4).readUInt32BE(0);
    const base = random % 2 === 0 ? toInt('10.0.0.0') + (random % 2 ** 24) : toInt('172.16.0.0') + (random % 2 ** 20);
    const start = Math.floor(base / 4) * 4;
    // Stay clear of x.x.x.0/30 and the top /30 of a /24: nothing needs them, and they look like network or broadcast.
    if (start % 256 === 0 || start % 256 === 252) continue;
    if (used.some(([from, to]) => start <= to && start + 3 >= from)) continue;
    return [toAddress(start + 1), toAddress(start + 2)];
  }
  throw new Error('found no free /30 in 10.0.0.0/8 or 172.16.0.0/12');
}

// ---- the namespace ---------------------------------------------------------------------------------------

export interface ExecResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface Netns {
  name: string;
  /** The host end of the veth (root namespace): A. */
  hostAddress: string;
  /** The namespace end of the veth: B. */
  nsAddress: string;
  hostInterface: string;
  nsInterface: string;
  /** Starts `argv` inside the namespace (`ip netns exec`, which execs: the child's pid is the command's). */
  spawn(argv: string[], options?: { env?: NodeJS.ProcessEnv; cwd?: string }): ChildProcess;
  /** Runs `argv` inside the namespace to its end. */
  exec(argv: string[], options?: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number }): Promise<ExecResult>;
  /** From inside the namespace, opens a TCP connection: "connected", or the error's code (ECONNREFUSED, ...). */
  probeTcp(host: string, port: number): Promise<string>;
  /** Pids of every process in the namespace. */
  pids(): number[];
  /** Kills what runs inside, deletes the namespace (and so the veth). Safe to call more than once. */
  destroy(): Promise<void>;
}

const live = new Set<string>();
let exitHookInstalled = false;

function pidsIn(name: string): number[] {
  try {
    return ip(['netns', 'pids', name])
      .split('\n')
      .filter((line) => /^\d+$/.test(line.trim()))
      .map(Number);
  } catch {
    return [];
  }
}

/** Synchronous last resort (process exit): SIGKILL what is inside, delete namespace and host veth. */
function destroySync(name: string, hostInterface: string): void {
  for (const pid of pidsIn(name)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Gone already.
    }
  }
  for (const args of [['netns', 'delete', name], ['link', 'delete', hostInterface]]) {
    try {
      execFileSync(ipBinary(), args, { stdio: 'ignore' });
    } catch {
      // Not there (the veth goes with the namespace's end).
    }
  }
  live.delete(name);
}

const PROBE = `
const net = require('node:net');
const [host, port] = process.argv.slice(1);
const socket = net.connect({ host, port: Number(port) });
const done = (what) => { process.stdout.write(what); socket.destroy(); process.exit(0); };
socket.setTimeout(5000, () => done('ETIMEDOUT'));
socket.once('connect', () => done('connected'));
socket.once('error', (error) => done(error.code ?? String(error)));
`;

/** Creates a namespace `baton-test-<random>` with lo up and one veth to the root namespace on a free /30. */
export async function createNetns(): Promise<Netns> {
  const ipPath = ipBinary();
  const id = randomBytes(3).toString('hex');
  const name = `baton-test-${id}`;
  const hostInterface = `bt${id}h`;
  const nsInterface = `bt${id}n`;
  const [hostAddress, nsAddress] = pickSubnet();

  live.add(name);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const leftover of [...live]) destroySync(leftover, `bt${leftover.slice('baton-test-'.length)}h`);
    });
  }
  try {
    ip(['netns', 'add', name]);
    ip(['link', 'add', hostInterface, 'type', 'veth', 'peer', 'name', nsInterface]);
    ip(['link', 'set', nsInterface, 'netns', name]);
    ip(['addr', 'add', `${hostAddress}/30`, 'dev', hostInterface]);
    ip(['link', 'set', hostInterface, 'up']);
    ip(['-n', name, 'link', 'set', 'lo', 'up']);
    ip(['-n', name, 'addr', 'add', `${nsAddress}/30`, 'dev', nsInterface]);
    ip(['-n', name, 'link', 'set', nsInterface, 'up']);
  } catch (error) {
    destroySync(name, hostInterface);
    const stderr = (error as { stderr?: string }).stderr ?? '';
    throw new Error(`could not set up network namespace ${name}: ${String(error)} ${stderr}`);
  }

  const spawnInside = (argv: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}) =>
    spawn(ipPath, ['netns', 'exec', name, ...argv], { env: options.env ?? {}, cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });

  const exec = (argv: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}) =>
    new Promise<ExecResult>((resolve, reject) => {
      const child = spawnInside(argv, options);
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
      child.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal, stdout, stderr });
      });
    });

  let destroyed = false;
  return {
    name,
    hostAddress,
    nsAddress,
    hostInterface,
    nsInterface,
    spawn: spawnInside,
    exec,
    async probeTcp(host, port) {
      const result = await exec([process.execPath, '-e', PROBE, host, String(port)], { timeoutMs: 30_000 });
      if (result.code !== 0 || result.stdout === '') throw new Error(`probe of ${host}:${port} in ${name} failed: ${result.code} ${result.stderr}`);
      return result.stdout;
    },
    pids: () => pidsIn(name),
    async destroy() {
      if (destroyed) return;
      destroyed = true;
      // Politely first, then for good: nothing may keep the namespace (and its veth) alive.
      for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
        const pids = pidsIn(name);
        if (pids.length === 0) break;
        for (const pid of pids) {
          try {
            process.kill(pid, signal);
          } catch {
            // Gone already.
          }
        }
        const deadline = Date.now() + 10_000;
        while (Date.now() < deadline && !pids.every(processGone)) await new Promise((r) => setTimeout(r, 100));
      }
      destroySync(name, hostInterface);
    },
  };
}

// ---- a TCP proxy on the host end ---------------------------------------------------------------------------

export interface TcpProxy {
  host: string;
  port: number;
  /** Connections accepted so far. */
  connections(): number;
  /** The remote address of every connection accepted. */
  peers(): string[];
  close(): Promise<void>;
}

/** Listens on `host:0` and forwards every connection, byte for byte, to `target`. */
export async function startTcpProxy(host: string, target: { host: string; port: number }): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  const peers: string[] = [];
  const server = net.createServer((client) => {
    peers.push(client.remoteAddress ?? '?');
    const upstream = net.connect(target);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.setNoDelay(true);
      socket.once('close', () => sockets.delete(socket));
    }
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port: 0 }, () => resolve());
  });
  const { port } = server.address() as net.AddressInfo;
  return {
    host,
    port,
    connections: () => peers.length,
    peers: () => [...peers],
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}

// ---- git daemon on the host end ---------------------------------------------------------------------------

export interface GitDaemon {
  host: string;
  port: number;
  /** `git://host:port/<name>` for a repository `<basePath>/<name>`. */
  url(name: string): string;
  /** The addresses connections came from, as the daemon logged them (`--verbose`). */
  clients(): string[];
  output(): string;
  close(): Promise<void>;
}

async function freePort(host: string): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port: 0 }, () => resolve());
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.setTimeout(2000, () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * `git daemon` on `host` serving every repository under `basePath`, pushes allowed (`receive-pack`), the
 * machine's git configuration ignored. Resolves once it accepts connections.
 */
export async function startGitDaemon(host: string, basePath: string): Promise<GitDaemon> {
  const daemon = GIT_DAEMON_CANDIDATES.find((candidate) => existsSync(candidate));
  const argv = daemon ? [daemon] : ['git', 'daemon'];
  const env = { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1' };
  let lastOutput = '';
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort(host);
    const child = spawn(
      argv[0]!,
      [
        ...argv.slice(1),
        '--verbose',
        '--reuseaddr',
        `--listen=${host}`,
        `--port=${port}`,
        '--export-all',
        '--enable=receive-pack',
        `--base-path=${basePath}`,
      ],
      { env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    let ready = false;
    const deadline = Date.now() + 30_000;
    while (!ready && child.exitCode === null && child.signalCode === null && Date.now() < deadline) {
      ready = await canConnect(host, port);
      if (!ready) await new Promise((r) => setTimeout(r, 100));
    }
    if (ready) {
      return {
        host,
        port,
        url: (name) => `git://${host}:${port}/${name}`,
        clients: () => [...output.matchAll(/Connection from ([\d.]+):\d+/g)].map((m) => m[1]!),
        output: () => output,
        async close() {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
          await exited;
        },
      };
    }
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
    lastOutput = output;
  }
  throw new Error(`git daemon did not start on ${host}:\n${lastOutput}`);
}
