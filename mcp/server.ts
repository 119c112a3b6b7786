/**
 * `baton mcp`: Baton's Model Context Protocol server. It serves tool sets over a transport: the agent tools an
 * agent CLI uses during one stage (`baton mcp`, stdio, configured by the environment Baton's presets set), or
 * the task tools for people and orchestrating agents (`mcp/task-tools.ts`: `baton mcp --tasks` on stdio, and
 * the API's `/mcp` over streamable HTTP). The flag, not the environment, picks the task tools: a stage's
 * `baton mcp` missing its environment fails loudly instead of offering other tools to the agent.
 *
 * stdout is the transport: anything else this process prints goes to stderr.
 */
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { version } from '../package.json';
import { MCP_SERVER_NAME } from '../activities/agents/presets/types';
import { agentToolSet, agentToolsConfig } from './agent-tools';

/** A group of tools registered together, with what a client is told about them on connecting. */
export interface ToolSet {
  /** For logs: what this server is serving. */
  name: string;
  instructions: string;
  register(server: McpServer): void;
}

/** An MCP server named `baton` offering the given tool sets. */
export function createMcpServer(toolSets: readonly ToolSet[]): McpServer {
  const server = new McpServer({ name: MCP_SERVER_NAME, version }, { instructions: toolSets.map((set) => set.instructions).join('\n\n') });
  for (const set of toolSets) set.register(server);
  return server;
}

/**
 * Runs `baton mcp`: serves the agent tools on stdio when Baton's environment names a stage and its files.
 * Resolves once connected (the process then lives until the client closes stdin), or with exit code 2 after
 * one line on stderr when that environment is missing.
 */
export async function runMcpCommand(env: NodeJS.ProcessEnv, log: (line: string) => void = logToStderr): Promise<number | undefined> {
  const agent = agentToolsConfig(env);
  if ('problem' in agent) {
    log(`baton mcp: ${agent.problem} (for the task tools, run \`baton mcp --tasks\`)`);
    return 2;
  }
  const toolSet = agentToolSet(agent.config);
  await createMcpServer([toolSet]).connect(new StdioServerTransport());
  log(`baton mcp: serving ${toolSet.name} on stdio`);
  return undefined;
}

function logToStderr(line: string): void {
  process.stderr.write(`${line}\n`);
}
