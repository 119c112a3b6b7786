/**
 * `/mcp`: Baton's MCP task tools over streamable HTTP (stateless: each POST is one exchange with a fresh
 * server, so any API instance answers any call). The same tools as `baton mcp --tasks` on stdio.
 */
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { createMcpServer } from '../../mcp/server';
import { taskToolSet } from '../../mcp/task-tools';
import { refusal, type Action } from '../auth';

export const mcpRoutes: FastifyPluginAsync = async (app) => {
  app.post('/mcp', { schema: { summary: 'MCP task tools (streamable HTTP, stateless): list_tasks, get_task, create_task, signal_task, claim_work, heartbeat_work, complete_work, fail_work' } }, async (request, reply) => {
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
