/**
 * Preparing a Temporal server Baton did not start (a cluster, Temporal Cloud): its namespace, created when
 * asked to, and Baton's search attributes, registered where missing. The dev server gets both at start;
 * `baton setup` does it for any other server, and every `baton` process that serves tasks checks it at start.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { isGrpcServiceError, type Connection } from '@temporalio/client';
import { encodeSearchAttributeIndexedValueType } from '@temporalio/common/lib/search-attributes';
import { msToTs } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';
import { BATON_SEARCH_ATTRIBUTES } from '../workflows/search-attributes';

const GRPC_NOT_FOUND = 5;
const GRPC_ALREADY_EXISTS = 6;
const GRPC_PERMISSION_DENIED = 7;

type Operator = Pick<Connection, 'operatorService' | 'workflowService'>;

/** The gRPC status code of a failed call, as a plain number (undefined for other errors). */
function grpcCode(error: unknown): number | undefined {
  return isGrpcServiceError(error) ? (error.code) : undefined;
}

/** Adds every Baton search attribute to `namespace` at once (the time-skipping test server takes them this way). */
export async function registerSearchAttributes(connection: Pick<Connection, 'operatorService'>, namespace: string): Promise<void> {
  await connection.operatorService.addSearchAttributes({
    namespace,
    searchAttributes: Object.fromEntries(
      BATON_SEARCH_ATTRIBUTES.map((key) => [key.name, encodeSearchAttributeIndexedValueType(key.type)!]),
    ),
  });
}

export class SetupError extends Error {
  override readonly name = 'SetupError';
}

export interface PrepareOptions {
  /** Create the namespace when it does not exist (otherwise that is an error naming `baton setup --create-namespace`). */
  createNamespace?: boolean;
  /** Retention of a namespace created here (default 7 days). */
  retentionDays?: number;
  log?: (line: string) => void;
  /** How long to wait for a new namespace or attribute to become usable (default 30 s). */
  settleTimeoutMs?: number;
}

/**
 * Each Temporal server process caches a namespace's search attributes and reads them again once this old
 * (`cacheRefreshInterval` in the server's `common/searchattribute/manager.go`). An attribute registered now is
 * known to every process once this much has passed; before it, an upsert may be refused by one that has not
 * read it yet. (`system.forceSearchAttributesCacheRefreshOnRead` would skip the wait by reading the database at
 * every lookup, including one per upsert event whenever a history is served: Baton's clusters leave it off.)
 */
export const SEARCH_ATTRIBUTE_CACHE_MS = 60_000;

export interface Prepared {
  namespaceCreated: boolean;
  /** Search attributes added now (empty when all were there). */
  added: string[];
}

async function namespaceExists(connection: Operator, namespace: string): Promise<boolean> {
  try {
    await connection.workflowService.describeNamespace({ namespace });
    return true;
  } catch (error) {
    if (grpcCode(error) === GRPC_NOT_FOUND) return false;
    throw error;
  }
}

/** Waits until `probe` holds: a new namespace is not found by other calls for a moment after it was created. */
async function settle(what: string, probe: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe().catch(() => false)) return;
    if (Date.now() > deadline) throw new SetupError(`${what} did not become usable within ${Math.round(timeoutMs / 1000)} s`);
    await sleep(250);
  }
}

/** The custom search attributes of the namespace, name -> indexed value type. */
async function customAttributes(connection: Operator, namespace: string): Promise<Map<string, number>> {
  const answer = await connection.operatorService.listSearchAttributes({ namespace });
  return new Map(Object.entries(answer.customAttributes ?? {}).map(([name, type]) => [name, Number(type)]));
}

function typeName(type: number | undefined): string {
  return (type !== undefined && temporal.api.enums.v1.IndexedValueType[type]?.replace('INDEXED_VALUE_TYPE_', '')) || String(type);
}

/**
 * Makes `namespace` ready for Baton: creates it if asked to, and registers the search attributes it lacks
 * (one already there with another type is an error: Baton would write values it cannot hold).
 */
export async function prepareNamespace(connection: Operator, namespace: string, options: PrepareOptions = {}): Promise<Prepared> {
  const log = options.log ?? (() => undefined);
  const settleMs = options.settleTimeoutMs ?? 30_000;
  let namespaceCreated = false;
  if (!(await namespaceExists(connection, namespace))) {
    if (!options.createNamespace) {
      throw new SetupError(`namespace "${namespace}" does not exist on this Temporal server: create it with \`baton setup --create-namespace\` (or \`temporal operator namespace create\`)`);
    }
    const days = options.retentionDays ?? 7;
    try {
      await connection.workflowService.registerNamespace({
        namespace,
        description: 'Baton: durable orchestration of AI coding agents',
        workflowExecutionRetentionPeriod: msToTs(days * 86_400_000),
      });
      namespaceCreated = true;
      log(`created namespace ${namespace} (retention ${days} days)`);
    } catch (error) {
      // Another process created it meanwhile: fine.
      if (!(grpcCode(error) === GRPC_ALREADY_EXISTS)) throw error;
    }
    await settle(`namespace ${namespace}`, async () => {
      await connection.workflowService.listWorkflowExecutions({ namespace, pageSize: 1 });
      return true;
    }, settleMs);
  }

  const present = await customAttributes(connection, namespace);
  const wrong = BATON_SEARCH_ATTRIBUTES.filter((key) => present.has(key.name) && present.get(key.name) !== encodeSearchAttributeIndexedValueType(key.type));
  if (wrong.length > 0) {
    throw new SetupError(
      `namespace ${namespace} has ${wrong.map((key) => `${key.name} as ${typeName(present.get(key.name))} (Baton needs ${key.type})`).join(', ')}: remove them or use another namespace`,
    );
  }
  const missing = BATON_SEARCH_ATTRIBUTES.filter((key) => !present.has(key.name));
  if (missing.length > 0) {
    const registeredAt = Date.now();
    await connection.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(missing.map((key) => [key.name, encodeSearchAttributeIndexedValueType(key.type)!])),
    });
    await settle(`the search attributes of ${namespace}`, async () => {
      const now = await customAttributes(connection, namespace);
      return missing.every((key) => now.has(key.name));
    }, settleMs);
    log(`registered search attributes ${missing.map((key) => `${key.name} (${key.type})`).join(', ')} on ${namespace}`);
    const rest = registeredAt + SEARCH_ATTRIBUTE_CACHE_MS + 1_000 - Date.now();
    if (rest > 0) {
      log(`waiting ${Math.ceil(rest / 1000)} s until every Temporal server process has read them (its cache keeps search attributes ${SEARCH_ATTRIBUTE_CACHE_MS / 1000} s)`);
      await sleep(rest);
    }
  }
  return { namespaceCreated, added: missing.map((key) => key.name) };
}

/**
 * At the start of a process that serves tasks on a server Baton did not start: registers missing search
 * attributes, or says what to run when it may not (a key without operator rights). Never creates a namespace.
 */
export async function checkNamespace(connection: Operator, namespace: string, log: (line: string) => void): Promise<void> {
  try {
    await prepareNamespace(connection, namespace, { log });
  } catch (error) {
    if (grpcCode(error) === GRPC_PERMISSION_DENIED) {
      log(`cannot check the search attributes of ${namespace} (permission denied): make sure \`baton setup\` ran with an operator's credentials`);
      return;
    }
    throw error;
  }
}
