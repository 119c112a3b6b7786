/**
 * A production Temporal server (not `start-dev`) and its SQL schema tool, built with `go install` of a pinned
 * release into Baton's cache the first time (about ten minutes on two cores, with progress), reused after.
 * Used by the tests and the crash suite that run Baton against a real cluster on PostgreSQL.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { batonCacheDir, findOnPath, isExecutable, runTool } from './cli';

/** The server release: on the Go module proxy, no `replace` directive, builds with the machine's Go. */
export const TEMPORAL_SERVER_VERSION = 'v1.32.1';
const MODULES = [
  { binary: 'server', module: `go.temporal.io/server/cmd/server@${TEMPORAL_SERVER_VERSION}` },
  { binary: 'sql', module: `go.temporal.io/server/cmd/tools/sql@${TEMPORAL_SERVER_VERSION}` },
];

export interface TemporalServerBinaries {
  /** `server --config-file FILE --allow-no-auth start` */
  server: string;
  /** `sql --plugin postgres12 ... create-database | setup-schema | update-schema` */
  sqlTool: string;
}

/** Where the built binaries live (`TEMPORAL_SERVER_DIR` overrides, e.g. with binaries built elsewhere). */
export function serverBinDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.TEMPORAL_SERVER_DIR || join(batonCacheDir(env), `server-${TEMPORAL_SERVER_VERSION}`);
}

/** The server and its schema tool: from the cache, or built now. */
export async function resolveTemporalServer(options: { env?: NodeJS.ProcessEnv; log?: (line: string) => void } = {}): Promise<TemporalServerBinaries> {
  const env = options.env ?? process.env;
  const log = options.log ?? ((line: string) => process.stderr.write(`[baton] ${line}\n`));
  const dir = serverBinDir(env);
  const binaries = { server: join(dir, 'server'), sqlTool: join(dir, 'sql') };
  const missing = MODULES.filter(({ binary }) => !isExecutable(join(dir, binary)));
  if (missing.length === 0) return binaries;
  const go = findOnPath('go', env);
  if (!go) throw new Error(`the Temporal server is not in ${dir} and there is no Go toolchain to build it (go install ${MODULES[0]!.module})`);
  for (const { binary, module } of missing) {
    log(`building the Temporal server's ${binary} with 'go install ${module}' (about ten minutes the first time, cached after)`);
    const started = Date.now();
    const code = await runTool(
      {
        command: go,
        args: ['install', module],
        env: { ...env, GOBIN: dir, GOFLAGS: '-mod=mod' },
        onLine: (line) => {
          // Module downloads are many and say little; compile errors matter.
          if (!line.startsWith('go: downloading')) log(`go: ${line.replace(/^go: /, '')}`);
        },
        stillRunning: (seconds) => `still building the Temporal server's ${binary} (${seconds} s)`,
      },
      log,
    );
    if (code !== 0 || !existsSync(join(dir, binary))) throw new Error(`'go install ${module}' failed with exit code ${code}`);
    log(`built the Temporal server's ${binary} in ${Math.round((Date.now() - started) / 1000)} s`);
  }
  return binaries;
}
