/**
 * Resolves Temporal's time-skipping test server (the Java one from the Java SDK) without the SDK's own
 * download: `TEMPORAL_TEST_SERVER_PATH`, then a launcher built before in Baton's cache, then, where Java
 * and Maven are installed, a launcher built once from Maven Central (`io.temporal:temporal-test-server`
 * and its dependencies, fetched with `mvn`). The launcher is what `TestWorkflowEnvironment.createTimeSkipping`
 * runs as `{ type: 'existing-path', path }`: the SDK calls it as `<path> <port> [extraArgs...]`.
 */
import { chmodSync, existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { batonCacheDir, findOnPath, isExecutable, runTool } from './cli';

/** The newest release on Maven Central when this was written; the launcher runs its `Main-Class`. */
export const TEST_SERVER_VERSION = '1.38.0';
export const TEST_SERVER_ARTIFACT = `io.temporal:temporal-test-server:${TEST_SERVER_VERSION}`;
const MAIN_CLASS = 'io.temporal.testserver.TestServer';
/** Pinned so the fetch does not depend on the Maven installation's default plugin version. */
const DEPENDENCY_PLUGIN = 'org.apache.maven.plugins:maven-dependency-plugin:3.8.1';

export interface TimeSkippingServerOptions {
  env?: NodeJS.ProcessEnv;
  /** Progress lines (the Maven fetch takes a few minutes on a machine without a Maven cache). */
  log?: (line: string) => void;
}

/** Where the launcher and the jars of this test server version live. */
export function testServerDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(batonCacheDir(env), 'test-server', TEST_SERVER_VERSION);
}

function cachedLauncher(env: NodeJS.ProcessEnv): string | undefined {
  const launcher = join(testServerDir(env), 'temporal-test-server');
  return isExecutable(launcher) ? launcher : undefined;
}

/** Why no test server can be had here, or null when `resolveTimeSkippingServer` will find or build one. */
export function timeSkippingServerUnavailable(env: NodeJS.ProcessEnv = process.env): string | null {
  if (env.TEMPORAL_TEST_SERVER_PATH || cachedLauncher(env)) return null;
  const missing = ['java', 'mvn'].filter((tool) => !findOnPath(tool, env));
  if (missing.length === 0) return null;
  return (
    `no Temporal time-skipping test server: set TEMPORAL_TEST_SERVER_PATH, or install Java 17+ and Maven ` +
    `so Baton can fetch ${TEST_SERVER_ARTIFACT} (missing on PATH: ${missing.join(', ')})`
  );
}

function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

const POM = `<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>baton.local</groupId>
  <artifactId>temporal-test-server-launcher</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>io.temporal</groupId>
      <artifactId>temporal-test-server</artifactId>
      <version>${TEST_SERVER_VERSION}</version>
    </dependency>
    <!-- an SLF4J binding, so the server does not warn about the missing one on every start -->
    <dependency>
      <groupId>org.slf4j</groupId>
      <artifactId>slf4j-nop</artifactId>
      <version>1.7.36</version>
    </dependency>
  </dependencies>
</project>
`;

/** Copies the test server's jar and its runtime dependencies into `libDir` with Maven. */
async function mavenFetch(mvn: string, dir: string, libDir: string, env: NodeJS.ProcessEnv, log: (line: string) => void) {
  writeFileSync(join(dir, 'pom.xml'), POM);
  const args = ['-B', '-f', join(dir, 'pom.xml'), `${DEPENDENCY_PLUGIN}:copy-dependencies`, `-DoutputDirectory=${libDir}`, '-DincludeScope=runtime'];
  log(`fetching ${TEST_SERVER_ARTIFACT} and its dependencies with 'mvn ${args.slice(3).join(' ')}' (seconds to minutes without a Maven cache, cached after)`);
  const started = Date.now();
  let downloaded = 0;
  const tail: string[] = [];
  const code = await runTool(
    {
      command: mvn,
      args,
      env,
      cwd: dir,
      onLine: (line) => {
        if (/\bDownloaded from\b/.test(line)) downloaded += 1;
        else if (/^\[(ERROR|WARNING)\]|BUILD (SUCCESS|FAILURE)/.test(line)) log(`mvn: ${line}`);
        tail.push(line);
        if (tail.length > 30) tail.shift();
      },
      stillRunning: (seconds) => `still fetching with Maven (${downloaded} files downloaded, ${seconds} s)`,
    },
    log,
  );
  if (code !== 0) throw new Error(`Maven could not fetch ${TEST_SERVER_ARTIFACT} (exit code ${code}):\n${tail.join('\n')}`);
  log(`fetched ${TEST_SERVER_ARTIFACT} in ${Math.round((Date.now() - started) / 1000)} s (${downloaded} files downloaded)`);
}

/**
 * Finds or builds the test server launcher and returns its path; null when there is none and neither
 * Java nor Maven is there to build one (`timeSkippingServerUnavailable` says why).
 */
export async function resolveTimeSkippingServer(options: TimeSkippingServerOptions = {}): Promise<string | null> {
  const env = options.env ?? process.env;
  const log = options.log ?? ((line: string) => process.stderr.write(`[baton] ${line}\n`));

  const fromEnv = env.TEMPORAL_TEST_SERVER_PATH;
  if (fromEnv) {
    if (!isExecutable(fromEnv)) throw new Error(`TEMPORAL_TEST_SERVER_PATH=${fromEnv} is not an executable file`);
    return fromEnv;
  }
  const cached = cachedLauncher(env);
  if (cached) return cached;

  const java = findOnPath('java', env);
  const mvn = findOnPath('mvn', env);
  if (!java || !mvn) {
    log(timeSkippingServerUnavailable(env) ?? 'no time-skipping test server');
    return null;
  }
  const dir = testServerDir(env);
  const libDir = join(dir, 'lib');
  mkdirSync(dir, { recursive: true });
  const partial = `${libDir}.partial-${process.pid}`;
  rmSync(partial, { recursive: true, force: true });
  try {
    await mavenFetch(mvn, dir, partial, env, log);
    rmSync(libDir, { recursive: true, force: true });
    renameSync(partial, libDir);
  } finally {
    rmSync(partial, { recursive: true, force: true });
  }
  if (!existsSync(join(libDir, `temporal-test-server-${TEST_SERVER_VERSION}.jar`))) {
    throw new Error(`Maven finished but ${libDir} has no temporal-test-server-${TEST_SERVER_VERSION}.jar`);
  }

  // `exec`, so the SDK's kill of the launcher stops the JVM itself. C1 only and the serial GC: the SDK
  // gives the server 5 s to answer, and a test server never runs long enough for C2 to pay off.
  const launcher = join(dir, 'temporal-test-server');
  const script = [
    '#!/bin/sh',
    `# Temporal's time-skipping test server (${TEST_SERVER_ARTIFACT}), written by Baton (temporal/test-server.ts).`,
    '# Usage: temporal-test-server <port> [--enable-time-skipping]',
    `exec ${shellQuote(java)} -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -cp ${shellQuote(join(libDir, '*'))} ${MAIN_CLASS} "$@"`,
    '',
  ].join('\n');
  const temporary = `${launcher}.partial-${process.pid}`;
  writeFileSync(temporary, script);
  chmodSync(temporary, 0o755);
  renameSync(temporary, launcher);
  log(`wrote the test server launcher ${launcher}`);
  return launcher;
}
