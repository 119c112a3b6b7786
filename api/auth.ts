/**
 * Who may do what: API tokens with roles, from configuration. With no token configured the API is open (and
 * `baton dev` only binds to loopback); with tokens, every route but `/healthz` and the docs needs
 * `Authorization: Bearer <token>` (401 without a valid one), and a role may only do what it is allowed to (403).
 *
 * - `admin`: everything, including the kill switch (`POST /tasks/kill-all`).
 * - `human`: read, create tasks, every signal (approve, cancel, reassign, ...), claim work; not the kill switch.
 * - `agent`: read, create tasks, claim and answer work, and the signals an agent sends (`progress`,
 *   `heartbeat`, `addNote`, `escalate`); never approve, requestChanges, reassign, retry, cancel, pause, resume,
 *   setPriority, setBudget or kill.
 *
 * Tokens come from `BATON_API_TOKENS` (`name:role:token`, comma separated: the secrets stay in the
 * environment) and/or `BATON_AUTH_FILE` (YAML `tokens: [{ name, role, sha256 }]`, the token's SHA-256 in hex,
 * so the file holds no secret). Only SHA-256 digests are kept in memory; a token never reaches a log.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import { z } from 'zod';

export const ROLES = ['admin', 'human', 'agent'] as const;
export type Role = (typeof ROLES)[number];

export interface Principal {
  name: string;
  role: Role;
}

/** What a request or a tool call does, as far as permissions go. */
export type Action =
  | { kind: 'read' }
  | { kind: 'create' }
  | { kind: 'work' }
  /** A signal by name (an unknown name is refused by the route itself). */
  | { kind: 'signal'; signal: string }
  | { kind: 'kill' };

/** Signals an agent token may send: its own reports, a note, and a call for help. */
export const AGENT_SIGNALS: readonly string[] = ['progress', 'heartbeat', 'addNote', 'escalate'];

/** Why `principal` may not do `action`, or undefined when it may. */
export function refusal(principal: Principal, action: Action): string | undefined {
  if (principal.role === 'admin') return undefined;
  if (action.kind === 'kill') return `the kill switch needs an admin token (${principal.name} is ${principal.role})`;
  if (principal.role === 'human') return undefined;
  if (action.kind === 'signal' && !AGENT_SIGNALS.includes(action.signal)) {
    return `an agent token may send ${AGENT_SIGNALS.join(', ')} only, not ${action.signal} (${principal.name} is an agent)`;
  }
  return undefined;
}

const Digest = z.string().regex(/^[0-9a-f]{64}$/, 'sha256 must be 64 lower-case hex characters');
const AuthFileSchema = z
  .object({
    tokens: z
      .array(z.object({ name: z.string().min(1).max(128), role: z.enum(ROLES), sha256: Digest }).strict())
      .min(1, 'tokens must list at least one token'),
  })
  .strict();

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** The configured tokens, by digest. */
export class ApiTokens {
  private readonly byDigest = new Map<string, Principal>();

  add(digest: string, principal: Principal): void {
    this.byDigest.set(digest, principal);
  }

  get size(): number {
    return this.byDigest.size;
  }

  /**
   * The principal of a presented token, or undefined. Looked up by the token's digest: what a lookup's timing
   * could tell is about the digest, which says nothing usable about any token.
   */
  verify(token: string): Principal | undefined {
    return this.byDigest.get(sha256Hex(token));
  }
}

/** A problem in the auth configuration: the message names the variable or file and the entry, never a token. */
export class AuthConfigError extends Error {
  override readonly name = 'AuthConfigError';
}

/**
 * Reads `BATON_API_TOKENS` and `BATON_AUTH_FILE`. Returns null when neither is set (auth off).
 * @throws AuthConfigError on a malformed entry.
 */
export function loadApiTokens(env: NodeJS.ProcessEnv): ApiTokens | null {
  const inline = env.BATON_API_TOKENS?.trim();
  const file = env.BATON_AUTH_FILE?.trim();
  if (!inline && !file) return null;
  const tokens = new ApiTokens();
  if (inline) {
    inline.split(',').forEach((entry, index) => {
      const [name, role, ...rest] = entry.trim().split(':');
      const token = rest.join(':');
      if (!name || !role || !token) throw new AuthConfigError(`BATON_API_TOKENS entry ${index + 1}: expected name:role:token`);
      if (!(ROLES as readonly string[]).includes(role)) {
        throw new AuthConfigError(`BATON_API_TOKENS entry ${index + 1} (${name}): role must be one of ${ROLES.join(', ')}, not ${role}`);
      }
      if (token.length < 16) throw new AuthConfigError(`BATON_API_TOKENS entry ${index + 1} (${name}): a token needs at least 16 characters`);
      tokens.add(sha256Hex(token), { name, role: role as Role });
    });
  }
  if (file) {
    let raw: unknown;
    try {
      raw = YAML.parse(readFileSync(file, 'utf8'));
    } catch (error) {
      throw new AuthConfigError(`BATON_AUTH_FILE=${file}: ${(error as Error).message}`);
    }
    const parsed = AuthFileSchema.safeParse(raw);
    if (!parsed.success) {
      throw new AuthConfigError(`BATON_AUTH_FILE=${file}: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
    }
    for (const { name, role, sha256 } of parsed.data.tokens) tokens.add(sha256, { name, role });
  }
  return tokens;
}

/** The token of an `Authorization: Bearer <token>` header, or undefined. */
export function bearerToken(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(value ?? '');
  return match?.[1];
}

/** A host the API may bind to without auth: loopback only. */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}
