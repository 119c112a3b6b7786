/**
 * The API's gate (api/auth.ts): with tokens configured, every request but `/healthz` and the docs carries a
 * bearer token (401 without a valid one) whose role allows what the route does (403 otherwise). The caller's
 * principal is on `request.principal` (null with auth off) for the MCP tools to check each call.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { bearerToken, refusal, type Action, type ApiTokens, type Principal } from './auth';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who sent the request; null when auth is off. */
    principal: Principal | null;
  }
}

/** Routes anyone may call: liveness, and the API's own description. */
function isPublic(url: string): boolean {
  return url === '/healthz' || url === '/docs' || url.startsWith('/docs/');
}

/** What a route does, as far as permissions go (MCP calls are checked per tool call as well). */
function actionOf(request: FastifyRequest): Action {
  const route = request.routeOptions.url ?? '';
  if (request.method === 'GET' || request.method === 'HEAD') return { kind: 'read' };
  if (route === '/tasks/kill-all') return { kind: 'kill' };
  if (route === '/tasks/:taskId/signals/:name') return { kind: 'signal', signal: (request.params as { name?: string }).name ?? '' };
  if (route === '/tasks') return { kind: 'create' };
  if (route === '/mcp') return { kind: 'read' };
  return { kind: 'work' };
}

export function registerAuth(app: FastifyInstance, tokens: ApiTokens | null): void {
  app.decorateRequest('principal', null);
  if (!tokens) return;
  app.addHook('onRequest', async (request, reply) => {
    const url = request.routeOptions.url ?? request.url.split('?')[0]!;
    if (isPublic(url)) return;
    const token = bearerToken(request.headers.authorization);
    const principal = token ? tokens.verify(token) : undefined;
    if (!principal) {
      return reply
        .status(401)
        .header('www-authenticate', 'Bearer realm="baton"')
        .send({ error: 'Unauthorized', message: token ? 'the bearer token is not valid' : 'this API needs an Authorization: Bearer <token> header' });
    }
    request.principal = principal;
  });
  // After routing and parameter parsing: the signal name is known.
  app.addHook('preHandler', async (request, reply) => {
    if (!request.principal) return;
    const why = refusal(request.principal, actionOf(request));
    if (why) return reply.status(403).send({ error: 'Forbidden', message: why });
  });
}
