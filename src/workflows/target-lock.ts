import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { ApplicationFailure, condition, ParentClosePolicy, startChild } from '@temporalio/workflow';
import { FAILURE_TYPES, type MigrationInput, type MigrationState } from './types';

/**
 * The lock that keeps two runs off one target database: a workflow whose id names the target
 * server and the database. Temporal lets only one open workflow hold an id in a namespace, so the
 * lock holds across any number of API replicas and workers. It lives as a child of the run that
 * took it and ends when that run closes (parent close policy TERMINATE).
 */
export async function targetLock(_owner: { id: string; runId: string }): Promise<void> {
  await condition(() => false);
}

/** The lock id for one database on the target at `targetUrl` (scheme and path do not matter; host and port do). */
export function targetLockId(targetUrl: string, database: string): string {
  const match = /^(\w+):\/\/(?:[^@/]*@)?(\[[^\]]+\]|[^/:?#]+)(?::(\d+))?/.exec(targetUrl);
  if (!match) return `migration-lock:${targetUrl}/${database}`;
  const [, scheme, host, port] = match;
  return `migration-lock:${host.toLowerCase()}:${port ?? (scheme.toLowerCase() === 'https' ? '443' : '80')}/${database}`;
}

/**
 * Takes the lock of every database of the run, recording each in `state.locks`, or records the
 * lock that is held in `state.lockConflict` and fails without retrying.
 */
export async function lockTargets(input: MigrationInput, runId: string, state: Pick<MigrationState, 'locks' | 'lockConflict'>): Promise<void> {
  for (const database of input.databases) {
    const workflowId = targetLockId(input.target.url, database);
    try {
      await startChild(targetLock, {
        workflowId,
        args: [{ id: input.id, runId }],
        memo: { owner: input.id, ownerRunId: runId },
        parentClosePolicy: ParentClosePolicy.TERMINATE,
      });
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      state.lockConflict = workflowId;
      throw ApplicationFailure.create({
        type: FAILURE_TYPES.targetLocked,
        message: `another open run is migrating ${database} into this target (its lock is ${workflowId})`,
        nonRetryable: true,
      });
    }
    state.locks.push(workflowId);
  }
}
