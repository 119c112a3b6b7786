/** Usage and cost of one agent run, from what the CLI or endpoint reported and the agent's price table. */
import type { AgentReport } from '../../../workflows/agent-protocol';
import type { AgentConfig } from '../config';
import type { CliUsage } from './types';

/** Tokens summed over the turns; cost from the CLI's own figure when it gives one, else from the agent's price table. */
export function runUsage(agent: Pick<AgentConfig, 'price'>, usages: (CliUsage | undefined)[]): AgentReport['usage'] {
  const reported = usages.filter((usage): usage is CliUsage => usage !== undefined);
  if (reported.length === 0) return undefined;
  const inputTokens = reported.reduce((sum, usage) => sum + (usage.inputTokens ?? 0), 0);
  const outputTokens = reported.reduce((sum, usage) => sum + (usage.outputTokens ?? 0), 0);
  const ownCost = reported.some((usage) => usage.costUsd !== undefined) ? reported.reduce((sum, usage) => sum + (usage.costUsd ?? 0), 0) : undefined;
  const priced = agent.price ? (inputTokens * agent.price.inputUsdPerMTok + outputTokens * agent.price.outputUsdPerMTok) / 1e6 : undefined;
  const costUsd = ownCost ?? priced;
  return { inputTokens, outputTokens, ...(costUsd !== undefined ? { costUsd: Math.round(costUsd * 1e6) / 1e6 } : {}) };
}

