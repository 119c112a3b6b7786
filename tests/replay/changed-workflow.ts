/**
 * A deliberately changed `taskWorkflow`: it sleeps before doing what the real one does, which changes
 * its command sequence without a `patched()` guard. Replaying committed histories with it must fail.
 */
import { sleep } from '@temporalio/workflow';
import { taskWorkflow as realTaskWorkflow, type TaskWorkflowRunInput } from '../../workflows/task-workflow';

export async function taskWorkflow(input: TaskWorkflowRunInput) {
  await sleep('1s');
  return realTaskWorkflow(input);
}
