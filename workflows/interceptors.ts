/**
 * Workflow interceptors of the bundle (registered by `bundleOptions`, worker/workflow-bundle.ts).
 *
 * One activation of a task often upserts its search attributes more than once: a handoff records the new
 * stage, then the assignment. Each upsert is a command, an event and a visibility write on the server before
 * the next agent can take its work. A run that asks for it (patch `lean-handoff`, workflows/task-workflow.ts)
 * sends one upsert per activation instead: the attributes of all of them, where the last one stood.
 *
 * Each workflow run has its own instance of this module (the SDK keeps a module cache per workflow), so the
 * choice of one run never reaches another's commands.
 */
import type { coresdk, temporal } from '@temporalio/proto';
import type { WorkflowInterceptorsFactory } from '@temporalio/workflow';

type Command = coresdk.workflow_commands.IWorkflowCommand;

let merging = false;

/** This run's upserts of one activation become one command from now on (call it at a deterministic point). */
export function mergeUpsertsOfEachActivation(): void {
  merging = true;
}

/** The commands with their search-attribute upserts merged into the last of them (later values win). */
export function mergeUpserts(commands: readonly Command[]): Command[] {
  const upserts = commands.filter((command) => command.upsertWorkflowSearchAttributes);
  if (upserts.length < 2) return [...commands];
  const last = upserts.at(-1)!;
  const indexedFields: Record<string, temporal.api.common.v1.IPayload> = {};
  for (const command of upserts) Object.assign(indexedFields, command.upsertWorkflowSearchAttributes!.searchAttributes?.indexedFields ?? {});
  const merged: Command = { ...last, upsertWorkflowSearchAttributes: { ...last.upsertWorkflowSearchAttributes, searchAttributes: { indexedFields } } };
  return commands.flatMap((command) => (command === last ? [merged] : command.upsertWorkflowSearchAttributes ? [] : [command]));
}

export const interceptors: WorkflowInterceptorsFactory = () => ({
  internals: [
    {
      concludeActivation(input, next) {
        return next(merging ? { commands: mergeUpserts(input.commands) } : input);
      },
    },
  ],
});
