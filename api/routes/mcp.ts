/**
 * `/mcp`: Baton's MCP task tools over streamable HTTP (stateless: each POST is one exchange with a fresh
 * server, so any API instance answers any call). The same tools as `baton mcp --tasks` on stdio.
 */
import { createRequire } from 'node:module';
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { refusal, type Action } from '../auth';

async function importMcpModules() {
  const [sdk, server, tools] = await Promise.all([
    import('@modelcontextprotocol/sdk/server/streamableHttp.js'),
    import('../../mcp/server.js'),
    import('../../mcp/task-tools.js'),
  ]);
  return { StreamableHTTPServerTransport: sdk.StreamableHTTPServerTransport, createMcpServer: server.createMcpServer, taskToolSet: tools.taskToolSet };
}
type McpModules = Awaited<ReturnType<typeof importMcpModules>>;
let loaded: Promise<McpModules> | undefined;

/**
 * The MCP SDK and the tools, loaded with the first call: most starts of the API never serve MCP, and the SDK
 * costs `baton dev` about 0.4 s of its start. Loaded with require where bin/baton.js's TypeScript hook serves
 * it, else (a test runner's own loader) with import().
 */
function mcpModules(): Promise<McpModules> {
  loaded ??= (async () => {
    try {
      const load = createRequire(__filename);
      return {
        StreamableHTTPServerTransport: (load('@modelcontextprotocol/sdk/server/streamableHttp.js') as Pick<McpModules, 'StreamableHTTPServerTransport'>).StreamableHTTPServerTransport,
        createMcpServer: (load('../../mcp/server') as Pick<McpModules, 'createMcpServer'>).createMcpServer,
        taskToolSet: (load('../../mcp/task-tools') as Pick<McpModules, 'taskToolSet'>).taskToolSet,
      };
    } catch {
      return importMcpModules();
    }
  })();
  return loaded;
}

export const mcpRoutes: FastifyPluginAsync = async (app) => {
  app.post('/mcp', { schema: { summary: 'MCP task tools (streamable HTTP, stateless): list_tasks, get_task, create_task, signal_task, claim_work, heartbeat_work, complete_work, fail_work' } }, async (request, reply) => {
    const { StreamableHTTPServerTransport, createMcpServer, taskToolSet } = await mcpModules();
    const { principal } = request;
    const authorize = principal ? (action: Action) => refusal(principal, action) : undefined;
    const server = createMcpServer([taskToolSet({ tasks: app.tasks, work: app.workItems, authorize })]);
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    // The transport writes the answer (JSON or an event stream) on the raw response itself.
    reply.hijack();
    reply.raw.once('close', () => {
      void transport.close();
      void server.close();
    });
    try {
      await server.connect(transport);
      await transport.handleRequest(request.raw, reply.raw, request.body);
    } catch (error) {
      request.log.error({ err: error }, 'MCP request failed');
      if (!reply.raw.headersSent) {
        reply.raw.writeHead(500, { 'content-type': 'application/json' });
        reply.raw.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32603, message: 'Internal server error' }, id: null }));
      }
    }
  });

  // Stateless: no session to resume (GET) or end (DELETE).
  const notAllowed = async (_request: unknown, reply: FastifyReply) =>
    reply
      .status(405)
      .header('allow', 'POST')
      .send({ jsonrpc: '2.0', error: { code: -32000, message: 'Method not allowed: this MCP endpoint is stateless (POST only)' }, id: null });
  app.get('/mcp', { schema: { hide: true } }, notAllowed);
  app.delete('/mcp', { schema: { hide: true } }, notAllowed);
};
