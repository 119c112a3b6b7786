/**
 * `baton dev`'s embedded Temporal dev server. Light on purpose (no SDK): the command starts it first and loads
 * the workers and the API while the server comes up.
 */
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { startDevServer, type DevServer } from '../temporal/dev-server';

export interface EmbeddedServerOptions {
  home: string;
  temporalPort: number;
  uiPort: number;
  dbFile?: string;
  log: (line: string) => void;
}

/** Whether 127.0.0.1:`port` can be bound, waiting up to `withinMs` for it to be freed. */
async function portFreeWithin(port: number, withinMs: number): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const free = await new Promise<boolean>((done) => {
      const server = createServer();
      server.once('error', () => done(false));
      server.listen(port, '127.0.0.1', () => server.close(() => done(true)));
    });
    if (free || Date.now() > deadline) return free;
    await new Promise((r) => setTimeout(r, 250));
  }
}

export async function startEmbeddedServer(options: EmbeddedServerOptions): Promise<DevServer> {
  const dbFile = resolve(options.dbFile ?? join(options.home, 'temporal.db'));
  // A server left by a `baton dev` that was killed ends with it (temporal/lifeline.sh) within seconds; a port
  // still taken after that is someone else's, and a clear error beats talking to a stranger's server.
  for (const [name, port] of [['--temporal-port', options.temporalPort], ['--ui-port', options.uiPort]] as const) {
    if (!(await portFreeWithin(port, 10_000))) {
      throw new Error(`port ${port} (${name}) is in use by another process: stop it, or pick another port with ${name}`);
    }
  }
  options.log(`starting the Temporal dev server (database ${dbFile})`);
  return startDevServer({ port: options.temporalPort, uiPort: options.uiPort, dbFile, log: options.log });
}
