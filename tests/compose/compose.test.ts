/**
 * `docker-compose.temporal.yml`, validated without a Docker engine: compose-go (the loader `docker compose`
 * itself uses; tests/compose/validate) checks the schema, interpolation and that every reference resolves,
 * and prints the resolved project; the checks here hold it to what the cluster tests prove: pinned images,
 * health checks, start order, Baton's environment, and the Temporal files the tests run.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import YAML from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { FLEET_DYNAMIC_CONFIG } from '../../temporal/dev-server';
import { TEMPORAL_SERVER_VERSION } from '../../temporal/server-build';
import { CLUSTER_DYNAMIC_CONFIG_FILE } from '../helpers/cluster';
import { REPO_ROOT } from '../helpers/stack';

const execFileAsync = promisify(execFile);
const COMPOSE_FILE = join(REPO_ROOT, 'docker-compose.temporal.yml');
const TOKENS = 'root:admin:0123456789abcdef0123';

interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[];
  environment?: Record<string, string | null>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  restart?: string;
  ports?: { target: number; published: string; host_ip?: string }[];
  volumes?: unknown[];
}

let validator: string;

async function validate(env: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileAsync(validator, [COMPOSE_FILE, ...env], { env: { PATH: process.env.PATH }, maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

describe('docker-compose.temporal.yml', () => {
  let services: Record<string, Service>;

  beforeAll(async () => {
    validator = join(mkdtempSync(join(tmpdir(), 'baton-compose-')), 'validate');
    // Go's build cache keeps this to a second after the first run.
    execFileSync('go', ['build', '-o', validator, '.'], { cwd: join(__dirname, 'validate'), env: { ...process.env, GOFLAGS: '-mod=mod' }, stdio: 'pipe' });
    const result = await validate([`BATON_API_TOKENS=${TOKENS}`]);
    expect(result.code, result.stderr).toBe(0);
    services = (JSON.parse(result.stdout) as { services: Record<string, Service> }).services;
  }, 180_000);

  it('loads with compose-go, and refuses to run the API without tokens', async () => {
    expect(Object.keys(services).sort()).toEqual([
      'baton-api',
      'baton-coder',
      'baton-planner',
      'baton-reviewer',
      'baton-setup',
      'baton-worker',
      'postgresql',
      'temporal',
      'temporal-schema',
      'temporal-ui',
    ]);
    const missing = await validate([]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('required variable BATON_API_TOKENS is missing a value');
  });

  it('pins every image, and every base image of what it builds', () => {
    for (const [name, service] of Object.entries(services)) {
      expect(service.image, name).toMatch(/^[a-z0-9./-]+:[0-9][0-9A-Za-z.-]*$/);
    }
    const dockerfiles = new Set(Object.values(services).flatMap((s) => (s.build ? [join(s.build.context, s.build.dockerfile)] : [])));
    expect([...dockerfiles].map((file) => file.replace(`${REPO_ROOT}/`, '')).sort()).toEqual(['docker/baton.Dockerfile', 'docker/temporal/Dockerfile']);
    for (const file of dockerfiles) {
      const bases = [...readFileSync(file, 'utf8').matchAll(/^FROM\s+(\S+)/gm)].map((m) => m[1]!);
      expect(bases.length, file).toBeGreaterThan(0);
      for (const base of bases) expect(base, file).toMatch(/^[a-z0-9./-]+:[0-9a-z][0-9A-Za-z.-]*$/);
      expect(bases.some((base) => base.endsWith(':latest')), file).toBe(false);
    }
    // The Temporal image builds the release the cluster tests build and run.
    expect(readFileSync(join(REPO_ROOT, 'docker', 'temporal', 'Dockerfile'), 'utf8')).toContain(`ARG TEMPORAL_VERSION=${TEMPORAL_SERVER_VERSION}`);
  });

  it('starts in order: PostgreSQL healthy, schema done, Temporal healthy, Baton set up, then Baton', () => {
    const after = (name: string) => Object.fromEntries(Object.entries(services[name]!.depends_on ?? {}).map(([dep, d]) => [dep, d.condition]));
    expect(after('temporal-schema')).toEqual({ postgresql: 'service_healthy' });
    expect(after('temporal')).toEqual({ 'temporal-schema': 'service_completed_successfully' });
    expect(after('temporal-ui')).toEqual({ temporal: 'service_healthy' });
    expect(after('baton-setup')).toEqual({ temporal: 'service_healthy' });
    for (const name of ['baton-worker', 'baton-api', 'baton-planner', 'baton-coder', 'baton-reviewer']) {
      expect(after(name), name).toEqual({ 'baton-setup': 'service_completed_successfully' });
    }
    for (const name of ['postgresql', 'temporal', 'temporal-ui', 'baton-api']) {
      expect(services[name]!.healthcheck?.test.length, `${name} has a health check`).toBeGreaterThan(1);
    }
    expect(services.temporal!.healthcheck!.test).toEqual(['CMD', 'curl', '-fsS', 'http://127.0.0.1:7243/api/v1/system-info']);
    expect(services['temporal-schema']!.command).toEqual(['schema']);
    expect(services['baton-setup']!.command).toEqual(['setup', '--create-namespace']);
  });

  it('gives Baton the environment the cluster test proves, and no shared agent home', () => {
    for (const name of ['baton-setup', 'baton-worker', 'baton-api', 'baton-planner', 'baton-coder', 'baton-reviewer']) {
      expect(services[name]!.environment, name).toMatchObject({ TEMPORAL_ADDRESS: 'temporal:7233', TEMPORAL_NAMESPACE: 'default', BATON_TASK_QUEUE: 'baton' });
      expect(services[name]!.image).toBe('baton:0.1.0');
    }
    expect(services['baton-api']!.environment).toMatchObject({ BATON_API_HOST: '0.0.0.0', BATON_API_TOKENS: TOKENS });
    for (const name of ['baton-planner', 'baton-coder', 'baton-reviewer']) {
      expect(services[name]!.command?.slice(0, 1), name).toEqual(['agent']);
      expect(services[name]!.volumes ?? [], `${name} keeps its own home`).toEqual([]);
    }
    // Only the API and the UI face the network; Temporal's port is loopback-only on the host.
    expect(services.temporal!.ports).toEqual([expect.objectContaining({ target: 7233, host_ip: '127.0.0.1' })]);
  });

  it('runs Temporal with the dynamic config the fleet needs, the same baton dev gives its dev server', () => {
    const config = YAML.parse(readFileSync(CLUSTER_DYNAMIC_CONFIG_FILE, 'utf8')) as Record<string, { value: unknown }[]>;
    for (const entry of FLEET_DYNAMIC_CONFIG) {
      const [key, value] = entry.split('=') as [string, string];
      expect(config[key]?.[0]?.value, key).toEqual(JSON.parse(value));
    }
    const dockerfile = readFileSync(join(REPO_ROOT, 'docker', 'temporal', 'Dockerfile'), 'utf8');
    for (const file of ['config.sh', 'schema.sh', 'entrypoint.sh', 'dynamicconfig.yaml']) expect(dockerfile, file).toContain(`docker/temporal/${file}`);
  });

  it('copies into the Baton image every source directory the command loads', () => {
    const dockerfile = readFileSync(join(REPO_ROOT, 'docker', 'baton.Dockerfile'), 'utf8');
    const copied = [...dockerfile.matchAll(/^COPY\s+(\S+)\s+\.\/\1$/gm)].map((m) => m[1]);
    const imported = new Set<string>();
    for (const dir of ['cli', 'api', 'activities', 'workflows', 'worker', 'mcp', 'temporal']) {
      const out = execFileSync('grep', ['-rhoE', "from '\\.\\./(\\.\\./)*[a-z]+/", join(REPO_ROOT, dir)], { encoding: 'utf8' });
      for (const line of out.split('\n')) {
        const top = /from '(?:\.\.\/)+([a-z]+)\//.exec(line)?.[1];
        if (top && existsSync(join(REPO_ROOT, top))) imported.add(top);
      }
    }
    for (const dir of [...imported, 'bin', 'agents']) expect(copied, dir).toContain(dir);
  });
});
