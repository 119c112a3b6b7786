/**
 * The schema modules every workflow of a worker shares (worker/workflow-bundle.ts, SHARED_WORKFLOW_MODULES):
 * evaluated once per worker instead of once per workflow, then deep-frozen by the SDK.
 *
 * zod finishes a schema lazily: a method is bound to the schema on its first read, some internals are computed
 * on their first read, and the first parse may swap the schema's parse function. A frozen schema refuses all
 * three ("Cannot define property safeParse, object is not extensible"), so this module, preloaded after the
 * schemas and before the freeze, finishes every schema reachable from their exports: it reads every member
 * through the schema itself and parses once with each schema directly. It only reads and parses: deterministic.
 */
import * as agentProtocol from './agent-protocol';
import * as signalPayloads from './signal-payloads';
import * as spec from './spec';
import * as workspace from './workspace';

const BUILT_IN_PROTOTYPES = new Set<unknown>([
  Object.prototype,
  Function.prototype,
  Array.prototype,
  Map.prototype,
  Set.prototype,
  RegExp.prototype,
  Error.prototype,
  Promise.prototype,
  String.prototype,
  Number.prototype,
]);

interface ZodLike {
  _zod: { def: object; run: unknown };
  safeParse(value: unknown): unknown;
}

/** A schema instance (not a prototype or a class: their `_zod` and `safeParse` are inherited or missing). */
function isSchema(value: object): value is ZodLike {
  if (!Object.prototype.hasOwnProperty.call(value, '_zod')) return false;
  const internals = (value as Partial<ZodLike>)._zod;
  return typeof internals === 'object' && internals !== null && typeof internals.def === 'object' && typeof internals.run === 'function';
}

/** Reads every member of `target`'s prototype chain through `target`, so lazily bound or computed members land on it. */
function readInheritedMembers(target: object): void {
  for (let proto: unknown = Object.getPrototypeOf(target); proto && !BUILT_IN_PROTOTYPES.has(proto); proto = Object.getPrototypeOf(proto)) {
    for (const key of Reflect.ownKeys(proto)) {
      if (key === 'constructor') continue;
      try {
        void (target as Record<PropertyKey, unknown>)[key];
      } catch {
        // a member that throws when read on its own (e.g. one that needs arguments) has nothing to install
      }
    }
  }
}

function finish(value: unknown, seen: Set<object>, schemas: ZodLike[]): void {
  // Functions (a schema's constructor among them) are left alone: reading a prototype's members through the
  // prototype would bind them to it, for every schema.
  if (value === null || typeof value !== 'object' || seen.has(value)) return;
  seen.add(value);
  if (isSchema(value)) {
    readInheritedMembers(value);
    readInheritedMembers(value._zod);
    schemas.push(value);
  }
  for (const key of Reflect.ownKeys(value)) {
    let member: unknown;
    try {
      member = (value as Record<PropertyKey, unknown>)[key];
    } catch {
      continue;
    }
    finish(member, seen, schemas);
  }
}

/** One parse of nothing: enough for zod to settle the schema's parse function (a refinement may throw on it). */
function parseOnce(schema: ZodLike): void {
  try {
    schema.safeParse(undefined);
  } catch {
    // a refinement written for valid input only; the schema is settled all the same
  }
}

function finishAll(): number {
  const schemas: ZodLike[] = [];
  const seen = new Set<object>();
  for (const moduleExports of [spec, agentProtocol, workspace, signalPayloads]) finish(moduleExports, seen, schemas);
  // Parsing may compute more (the internals of what a parse reaches): finish again what it added.
  for (const schema of schemas) parseOnce(schema);
  const before = schemas.length;
  for (const moduleExports of [spec, agentProtocol, workspace, signalPayloads]) finish(moduleExports, new Set(), schemas);
  for (const schema of schemas.slice(before)) parseOnce(schema);
  return new Set(schemas).size;
}

/** How many shared schemas were finished before the freeze (tests/workflows/shared-schemas.test.ts reads it). */
export const FINISHED_SCHEMAS = finishAll();
