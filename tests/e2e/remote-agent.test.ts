/**
 * `baton agent` on another machine needs nothing but TEMPORAL_ADDRESS and a repository it can reach: one
 * agent process runs in a network namespace of its own, with a fresh home and an environment of six
 * variables (PATH, HOME, TMPDIR, BATON_HOME, BATON_TASK_QUEUE, TEMPORAL_ADDRESS), and reaches this machine
 * only over a veth link — Temporal through a TCP proxy on the link's host end (the dev server itself listens
 * on the host's loopback only), the repository through `git daemon` as a `git://` `repo.url`. The
 * orchestrator and the reviewer run in the test process. Then the same against a secured cluster: a proxy
 * that wants mTLS and an API key, which the agent gets from Temporal's own TEMPORAL_TLS_* and
 * TEMPORAL_API_KEY variables. Needs root and iproute2 (and openssl for the second part); skipped with the
 * reason otherwise.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAgentsFile } from '../../activities/agents/config';
import { ANSWER_REPO_FILES } from '../helpers/answer-repo';
import { createRepo, readFileAt, removeTempDirs, revParse, runGit, tempDir } from '../helpers/git';
import { createNetns, netnsUnavailable, startGitDaemon, startTcpProxy, type GitDaemon, type Netns, type TcpProxy } from '../helpers/netns';
import { makeCertificates, opensslUnavailable, startSecuredProxy, type SecuredProxy } from '../helpers/secured-proxy';
import { FIXTURE_AGENTS_DIR, REPO_ROOT, fixtureAgent, startStack, type TestStack } from '../helpers/stack';
import type { TaskState } from '../../workflows/state';

const AGENTS_FILE = path.join(FIXTURE_AGENTS_DIR, 'remote-agent.yaml');
const AGENT = 'netns-coder';
const REPO_NAME = 'answer.git';
const SERVER_NAME = 'temporal.baton.test';
const API_KEY = 'baton-test-api-key';

const unavailable = netnsUnavailable();
if (unavailable) console.warn(`[remote-agent] skipped: ${unavailable}`);

/** host and port of `host:port`. */
function splitAddress(address: string): { host: string; port: number } {
  const at = address.lastIndexOf(':');
  return { host: address.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(address.slice(at + 1)) };
}

interface NamespacedAgent {
  child: ChildProcess;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * `baton agent --agents FILE --name NAME` inside the namespace, in `home`, with only what another machine
 * would be given: where Temporal is, the deployment's task queue, a PATH (for node and git), its home.
 */
async function startNamespacedAgent(ns: Netns, options: { home: string; taskQueue: string; env: Record<string, string> }): Promise<NamespacedAgent> {
  const tmp = path.join(options.home, 'tmp');
  fs.mkdirSync(tmp);
  const env = {
    PATH: [path.dirname(process.execPath), '/usr/local/bin', '/usr/bin', '/bin'].join(':'),
    HOME: options.home,
    TMPDIR: tmp,
    BATON_HOME: path.join(options.home, 'baton'),
    BATON_TASK_QUEUE: options.taskQueue,
    ...options.env,
  };
  const child = ns.spawn([process.execPath, path.join(REPO_ROOT, 'bin', 'baton.js'), 'agent', '--agents', AGENTS_FILE, '--name', AGENT], {
    env,
    cwd: options.home,
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  // A cold start compiles Baton's sources (its TMPDIR is new, so tsx's cache is too): a slow machine may take a while.
  const deadline = Date.now() + 150_000;
  while (!output.includes('polling')) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`baton agent exited (${child.exitCode ?? child.signalCode}) before polling:\n${output}`);
    if (Date.now() > deadline) throw new Error(`baton agent did not poll within 150 s:\n${output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { child, output: () => output, exited };
}

/** Runs every step even when one fails; rethrows the first failure. */
async function all(steps: (() => unknown)[]): Promise<void> {
  const results = await Promise.allSettled(steps.map(async (step) => step()));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

/** What every test here sets up: the namespace, git daemon on its link, a stack with the reviewer. */
interface Fixture {
  ns: Netns;
  daemon: GitDaemon;
  stack: TestStack;
  remote: string;
  devServer: { host: string; port: number };
}

async function startFixture(into: Partial<Fixture>): Promise<void> {
  into.ns = await createNetns();
  const served = tempDir('baton-served-');
  into.remote = path.join(served, REPO_NAME);
  runGit(served, ['clone', '--quiet', '--bare', createRepo(ANSWER_REPO_FILES), into.remote]);
  into.daemon = await startGitDaemon(into.ns.hostAddress, served);
  // The reviewer runs here, in the root namespace; the coder only in the namespace.
  into.stack = await startStack({
    agents: [fixtureAgent('reviewer', ['review'], 'scripted.mjs')],
    remoteAgents: loadAgentsFile(AGENTS_FILE).agents,
  });
  into.devServer = splitAddress(into.stack.address);
}

async function stopFixture(fixture: Partial<Fixture>, ...more: (() => unknown)[]): Promise<void> {
  // The namespace first: nothing of the agent may outlive the test, whatever failed.
  await all([() => fixture.ns?.destroy()]);
  await all([() => fixture.daemon?.close(), () => fixture.stack?.stop(), ...more]);
  removeTempDirs();
}

/** Starts a task on the namespaced coder and the reviewer, on the repository behind git daemon; waits for its end. */
async function runTask(fixture: Fixture, agent: NamespacedAgent, label: string) {
  const { stack, daemon } = fixture;
  const taskId = stack.taskId(label);
  const started = Date.now();
  await stack.tasks.start({
    id: taskId,
    title: 'an agent on another machine',
    goal: 'answer 42',
    acceptanceCriteria: ['the test gate passes'],
    agents: { implement: AGENT, review: 'reviewer' },
    repo: { url: daemon.url(REPO_NAME) },
  });
  const state = await stack.waitFor(taskId, (s) => s.status === 'completed' || s.status === 'escalated', 240_000);
  if (state.status !== 'completed') console.error(`[remote-agent] agent output:\n${agent.output()}`);
  const implement = state.results.find((r) => r.stage === 'implement');
  const assigned = state.timeline.find((e) => e.type === 'assigned' && e.detail.startsWith(`implement · ${AGENT}`));
  const timing =
    implement && assigned
      ? `implement on ${AGENT} took ${Date.parse(implement.at) - Date.parse(assigned.at)} ms (assigned → result); task ${Date.now() - started} ms to ${state.status}`
      : `task ${Date.now() - started} ms to ${state.status}`;
  return { taskId, state, timing };
}

/** The implement stage ran in the namespace (the agent saw only its loopback and its end of the veth), in `home`. */
function expectWorkedInNamespace(state: TaskState, ns: Netns, home: string) {
  const implement = state.results.find((r) => r.stage === 'implement')!;
  expect(implement.agent).toBe(AGENT);
  const where = JSON.parse(implement.summary!) as { agent: string; addresses: string[]; home: string; workdir: string };
  expect(where.agent).toBe(AGENT);
  expect(where.addresses).toEqual(['127.0.0.1', ns.nsAddress].sort());
  expect(where.home).toBe(home);
  expect(where.workdir.startsWith(path.join(home, 'baton'))).toBe(true);
  return { implement, where };
}

/** Ctrl-C: the agent exits 0, and nothing of it is left in the namespace. */
async function expectCleanStop(agent: NamespacedAgent, ns: Netns) {
  expect(agent.child.exitCode).toBeNull();
  agent.child.kill('SIGINT');
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`baton agent did not exit within 90 s of SIGINT:\n${agent.output()}`)), 90_000);
  });
  const exit = await Promise.race([agent.exited, timeout]).finally(() => clearTimeout(timer));
  expect(exit, agent.output()).toEqual({ code: 0, signal: null });
  const deadline = Date.now() + 30_000;
  while (ns.pids().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  expect(ns.pids()).toEqual([]);
}

describe.skipIf(unavailable !== null)(`an agent in a network namespace of its own${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  const fixture: Partial<Fixture> = {};
  let proxy: TcpProxy | undefined;
  let agent: NamespacedAgent;
  let agentHome: string;

  beforeAll(async () => {
    await startFixture(fixture);
    const { ns, stack, devServer } = fixture as Fixture;
    proxy = await startTcpProxy(ns.hostAddress, devServer);
    agentHome = tempDir('baton-netns-home-');
    const started = Date.now();
    agent = await startNamespacedAgent(ns, { home: agentHome, taskQueue: stack.taskQueue, env: { TEMPORAL_ADDRESS: `${ns.hostAddress}:${proxy.port}` } });
    console.log(`[remote-agent] ${ns.name}: host ${ns.hostAddress}, agent ${ns.nsAddress}; baton agent polling after ${Date.now() - started} ms`);
  }, 300_000);

  afterAll(() => stopFixture(fixture, () => proxy?.close()), 120_000);

  it('completes the implement stage there, through the remote only', async () => {
    const { ns, daemon, remote, devServer } = fixture as Fixture;
    const { taskId, state, timing } = await runTask(fixture as Fixture, agent, 'T-netns');
    expect(state.status).toBe('completed');
    const { implement, where } = expectWorkedInNamespace(state, ns, agentHome);
    expect(state.gates.map((g) => `${g.round}:${g.name}:${g.ok}`)).toEqual(['1:test:true']);

    // Its commit is on the task's branch of the bare remote, which it reached only through git daemon.
    const head = state.branch!.head;
    expect(implement.commit).toBe(head);
    expect(revParse(remote, `baton/${taskId}`)).toBe(head);
    expect(readFileAt(remote, `baton/${taskId}`, 'answer.txt')).toBe('42\n');
    expect(JSON.parse(readFileAt(remote, `baton/${taskId}`, 'where.json')!)).toMatchObject({ addresses: where.addresses, taskId });
    expect(runGit(remote, ['log', '--format=%an', `main..baton/${taskId}`])).toBe(AGENT);
    const clones = fs.readdirSync(path.join(agentHome, 'baton', 'repos'));
    expect(clones).toHaveLength(1);
    expect(runGit(path.join(agentHome, 'baton', 'repos', clones[0]!), ['remote', 'get-url', 'origin'])).toBe(daemon.url(REPO_NAME));

    // The reviewer, in the root namespace, reviewed that commit from its own clone.
    const review = state.results.find((r) => r.stage === 'review')!;
    expect(review.reviewedCommit).toBe(head);
    expect((JSON.parse(review.summary!) as { workdir: string }).workdir.startsWith(agentHome)).toBe(false);

    // How it got there: Temporal only through the proxy, the repository through git daemon, both from B.
    expect(proxy!.connections()).toBeGreaterThan(0);
    expect(new Set(proxy!.peers())).toEqual(new Set([ns.nsAddress]));
    expect(daemon.clients()).toContain(ns.nsAddress);
    // And no other way: the dev server is not reachable from the namespace, neither at its own address (the
    // namespace's loopback is its own) nor through the veth; the proxy is (so the probe itself works).
    const direct = await ns.probeTcp(devServer.host, devServer.port);
    const overVeth = await ns.probeTcp(ns.hostAddress, devServer.port);
    const viaProxy = await ns.probeTcp(ns.hostAddress, proxy!.port);
    expect(direct).not.toBe('connected');
    expect(overVeth).not.toBe('connected');
    expect(viaProxy).toBe('connected');
    console.log(
      `[remote-agent] plaintext: ${timing}; proxy connections ${proxy!.connections()}; ` +
        `from the namespace: ${devServer.host}:${devServer.port} ${direct}, ${ns.hostAddress}:${devServer.port} ${overVeth}`,
    );
  }, 300_000);

  it('stops cleanly on Ctrl-C', () => expectCleanStop(agent, fixture.ns!), 120_000);
});

const securedUnavailable = unavailable ?? opensslUnavailable();
if (securedUnavailable && !unavailable) console.warn(`[remote-agent] secured cluster test skipped: ${securedUnavailable}`);

describe.skipIf(securedUnavailable !== null)(
  `an agent in a network namespace, on a cluster that wants mTLS and an API key${securedUnavailable ? ` (skipped: ${securedUnavailable})` : ''}`,
  () => {
    const fixture: Partial<Fixture> = {};
    let proxy: SecuredProxy | undefined;
    let agent: NamespacedAgent;
    let agentHome: string;

    beforeAll(async () => {
      await startFixture(fixture);
      const { ns, stack, devServer } = fixture as Fixture;
      const certs = makeCertificates(tempDir('baton-certs-'), { serverName: SERVER_NAME, clientName: AGENT });
      proxy = await startSecuredProxy(ns.hostAddress, devServer, { certs, apiKey: API_KEY });
      agentHome = tempDir('baton-netns-home-');
      // The agent machine's own copies of its certificate, its key and the cluster's CA.
      const tls = path.join(agentHome, 'tls');
      fs.mkdirSync(tls);
      for (const file of [certs.caCert, certs.clientCert, certs.clientKey]) fs.copyFileSync(file, path.join(tls, path.basename(file)));
      agent = await startNamespacedAgent(ns, {
        home: agentHome,
        taskQueue: stack.taskQueue,
        env: {
          // An IP address, so the server's name for verification comes from TEMPORAL_TLS_SERVER_NAME.
          TEMPORAL_ADDRESS: `${ns.hostAddress}:${proxy.port}`,
          TEMPORAL_API_KEY: API_KEY,
          TEMPORAL_TLS_SERVER_NAME: SERVER_NAME,
          TEMPORAL_TLS_SERVER_CA_CERT_PATH: path.join(tls, 'ca.crt'),
          TEMPORAL_TLS_CLIENT_CERT_PATH: path.join(tls, 'client.crt'),
          TEMPORAL_TLS_CLIENT_KEY_PATH: path.join(tls, 'client.key'),
        },
      });
    }, 300_000);

    afterAll(() => stopFixture(fixture, () => proxy?.close()), 120_000);

    it('completes the implement stage there with TLS and the API key from its environment', async () => {
      const { ns, remote } = fixture as Fixture;
      const { taskId, state, timing } = await runTask(fixture as Fixture, agent, 'T-netns-tls');
      expect(state.status).toBe('completed');
      expectWorkedInNamespace(state, ns, agentHome);
      expect(revParse(remote, `baton/${taskId}`)).toBe(state.branch!.head);
      // Every call went through TLS with the agent's client certificate, from B, and carried the key.
      expect(proxy!.forwarded()).toBeGreaterThan(0);
      expect(proxy!.refused()).toBe(0);
      expect(new Set(proxy!.clientNames())).toEqual(new Set([AGENT]));
      expect(new Set(proxy!.peers())).toEqual(new Set([ns.nsAddress]));
      console.log(`[remote-agent] mTLS + API key: ${timing}; calls forwarded ${proxy!.forwarded()}`);
    }, 300_000);

    it('stops cleanly on Ctrl-C', () => expectCleanStop(agent, fixture.ns!), 120_000);
  },
);
