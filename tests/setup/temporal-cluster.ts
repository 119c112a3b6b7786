/**
 * What the cluster tests need on this machine, prepared before any test runs (with progress, cached after):
 * the production Temporal server and its SQL tool built from their Go module (about ten minutes the first
 * time), and Debian's PostgreSQL (installed with apt when missing). The tests start their own cluster.
 */
import { resolveTemporalServer } from '../../temporal/server-build';
import { ensurePostgres } from '../helpers/cluster';

export default async function setup() {
  const log = (line: string) => process.stderr.write(`[cluster] ${line}\n`);
  await resolveTemporalServer({ log });
  await ensurePostgres(log);
}
