/**
 * Activities of the orchestrator worker (queue `baton`): choosing an agent for a stage from the
 * deployment's agents, and delivering escalation notices.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { AgentStage } from '../workflows/spec';
import type { EscalationNotice } from '../workflows/notifications';
import type { AgentConfig } from './agents/config';

export interface ChooseAgentRequest {
  stage: AgentStage;
  capabilities: string[];
  /** An agent named by the spec or by a human's `reassign`; it must exist. */
  pinned?: string;
  /** Agents to avoid (those that just failed), unless no other can take the stage. */
  exclude: string[];
  /** Agents that must not take the stage at all (a review never goes to the agent that implemented the round). */
  forbid?: string[];
}

export interface OrchestratorDeps {
  agents: readonly AgentConfig[];
  /** Webhook that receives escalation notices (JSON POST with a Slack-compatible `text`). */
  webhookUrl?: string;
  fetchImpl?: typeof fetch;
}

/** One line a human can read in a chat channel. */
export function noticeText(notice: EscalationNotice): string {
  const head = notice.kind === 'reminder' ? `Reminder #${notice.notification - 1}: still escalated` : 'Escalated';
  const detail = notice.detail ? ` — ${notice.detail}` : '';
  return `${head}: task ${notice.taskId} "${notice.title}" (${notice.priority}, ${notice.stage}) needs a human: ${notice.reason}${detail}`;
}

export function createOrchestratorActivities(deps: OrchestratorDeps) {
  const dispatched = new Map<string, number>();
  const fetchImpl = deps.fetchImpl ?? fetch;

  return {
    /** Picks the agent for a stage: the pinned one, else the least-used agent with the stage's role and capabilities. */
    async chooseAgent(request: ChooseAgentRequest): Promise<{ agent: string }> {
      if (request.pinned) {
        const pinned = deps.agents.find((agent) => agent.name === request.pinned);
        if (!pinned) {
          throw ApplicationFailure.nonRetryable(`no agent named "${request.pinned}" in this deployment`, 'NoAgentAvailable');
        }
        return { agent: pinned.name };
      }
      const forbid = request.forbid ?? [];
      const able = deps.agents.filter(
        (agent) =>
          agent.roles.includes(request.stage) &&
          !forbid.includes(agent.name) &&
          request.capabilities.every((capability) => agent.capabilities.includes(capability)),
      );
      const preferred = able.filter((agent) => !request.exclude.includes(agent.name));
      const candidates = preferred.length > 0 ? preferred : able;
      if (candidates.length === 0) {
        const needs = request.capabilities.length ? ` with capabilities [${request.capabilities.join(', ')}]` : '';
        const others = forbid.length ? ` other than ${forbid.join(', ')}` : '';
        const why = forbid.length ? ' (an agent never reviews its own change)' : '';
        throw ApplicationFailure.nonRetryable(`no agent${others} has the role "${request.stage}"${needs}${why}`, 'NoAgentAvailable');
      }
      const chosen = candidates.reduce((best, agent) =>
        (dispatched.get(agent.name) ?? 0) < (dispatched.get(best.name) ?? 0) ? agent : best,
      );
      dispatched.set(chosen.name, (dispatched.get(chosen.name) ?? 0) + 1);
      return { agent: chosen.name };
    },

    /** Delivers one escalation notice: a log line, then the webhook if one is configured (retried until it answers 2xx). */
    async notify(notice: EscalationNotice): Promise<void> {
      const text = noticeText(notice);
      Context.current().log.warn(text, { taskId: notice.taskId, reason: notice.reason, kind: notice.kind });
      if (!deps.webhookUrl) return;
      const response = await fetchImpl(deps.webhookUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ text, ...notice }),
        signal: AbortSignal.timeout(10_000),
      });
      if (!response.ok) {
        throw ApplicationFailure.retryable(`webhook answered ${response.status}`, 'WebhookFailed');
      }
    },
  };
}

export type OrchestratorActivities = ReturnType<typeof createOrchestratorActivities>;
