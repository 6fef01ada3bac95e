import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { ApplicationFailure, CancellationScope, condition, ParentClosePolicy, patched, startChild } from '@temporalio/workflow';
import { PATCHES } from './patches';
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

/** What a lock guards: `host:port/database` of the target (scheme and path do not matter; host and port do). */
export function lockedResource(targetUrl: string, database: string): string {
  const match = /^(\w+):\/\/(?:[^@/]*@)?(\[[^\]]+\]|[^/:?#]+)(?::(\d+))?/.exec(targetUrl);
  if (!match) return `${targetUrl}/${database}`;
  const [, scheme, host, port] = match;
  return `${host.toLowerCase()}:${port ?? (scheme.toLowerCase() === 'https' ? '443' : '80')}/${database}`;
}

/**
 * The lock id for one database on a target: a hash of {@link lockedResource}, because workflow
 * ids are not encrypted and history, the Web UI and `temporal workflow list` show them. The hash
 * hides the names from a reader, not from someone who guesses them and hashes the guess.
 */
export function targetLockId(targetUrl: string, database: string): string {
  return `migration-lock-${hash64(lockedResource(targetUrl, database))}`;
}

/** The lock id of runs started before the `opaque-lock-ids` patch: the resource in clear. */
export function legacyTargetLockId(targetUrl: string, database: string): string {
  return `migration-lock:${lockedResource(targetUrl, database)}`;
}

/** 64 bits of two independent 32-bit multiply-xorshift lanes over the UTF-16 code units, as hex (deterministic in the sandbox). */
function hash64(text: string): string {
  let a = 0x9e3779b9;
  let b = 0x85ebca6b;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0xcc9e2d51);
    a = (a << 15) | (a >>> 17);
    b = Math.imul(b ^ c, 0x1b873593);
    b = (b << 13) | (b >>> 19);
  }
  const mix = (h: number) => {
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    return (h ^ (h >>> 16)) >>> 0;
  };
  const hi = mix(a ^ Math.imul(b, 0x27d4eb2f) ^ text.length);
  const lo = mix(b ^ Math.imul(hi, 0x165667b1));
  return hi.toString(16).padStart(8, '0') + lo.toString(16).padStart(8, '0');
}

/**
 * Takes the lock of every database of the run, recording each in `state.locks`, or records the
 * lock that is held in `state.lockConflict` and fails without retrying.
 */
export async function lockTargets(
  input: Pick<MigrationInput, 'id' | 'target' | 'databases'>,
  runId: string,
  state: Pick<MigrationState, 'locks' | 'lockConflict'>,
  /**
   * The locks outlive a cancellation of the run, so they are held until its rollback has ended,
   * not released as it begins (patch `exact-rollback`).
   */
  holdThroughCancellation = false,
): Promise<void> {
  const lockId = patched(PATCHES.opaqueLockIds) ? targetLockId : legacyTargetLockId;
  for (const database of input.databases) {
    const workflowId = lockId(input.target.url, database);
    const start = () =>
      startChild(targetLock, {
        workflowId,
        args: [{ id: input.id, runId }],
        memo: { owner: input.id, ownerRunId: runId, resource: lockedResource(input.target.url, database) },
        parentClosePolicy: ParentClosePolicy.TERMINATE,
      });
    try {
      await (holdThroughCancellation ? CancellationScope.nonCancellable(start) : start());
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
