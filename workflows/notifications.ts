/** What the workflow asks the notifier to deliver when a task needs a human. */
import type { EscalationReason } from './state';

export interface EscalationNotice {
  kind: 'escalated' | 'reminder';
  taskId: string;
  workflowId: string;
  title: string;
  priority: string;
  stage: string;
  reason: EscalationReason;
  detail?: string;
  since: string;
  /** 1 for the first notice, then one more for every reminder. */
  notification: number;
}
