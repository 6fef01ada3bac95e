import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { ApplicationFailure, CancellationScope, condition, isCancellation, ParentClosePolicy, patched, startChild, type ChildWorkflowHandle } from '@temporalio/workflow';
import { scan } from './activity-stubs';
import { PATCHES } from './patches';
import type { StepGuard } from './steps';
import { FAILURE_TYPES, type EndpointRef, type MigrationInput, type MigrationState } from './types';

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

/**
 * The lock id of one database on a server that said who it is (patch `server-identity-locks`): a
 * hash of the server's id (src/clickhouse/identity.ts) and the database, so every name of one
 * server (`localhost`, `127.0.0.1`, a DNS alias) meets the same lock.
 */
export function serverLockId(serverId: string, database: string): string {
  return `migration-lock-${hash64(`${serverId}/${database}`)}`;
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

/** How a run takes its locks. */
export interface LockOptions {
  /**
   * The locks outlive a cancellation of the run, so they are held until its rollback has ended,
   * not released as it begins (patch `exact-rollback`).
   */
  holdThroughCancellation?: boolean;
  /** Watches the locks once taken (patch `server-identity-locks`); the run's steps check it. */
  held?: HeldLocks;
}

type LockedRun = Pick<MigrationInput, 'id' | 'target' | 'databases'> & { source?: EndpointRef };

/**
 * Takes the lock of every database of the run, recording each in `state.locks`, or records the
 * lock that is held in `state.lockConflict` and fails without retrying. Under the patch
 * `server-identity-locks` the run first asks the target which server it is, and fails without
 * retrying when the source is that same server.
 */
export async function lockTargets(run: LockedRun, runId: string, state: Pick<MigrationState, 'locks' | 'lockConflict'>, options: LockOptions = {}): Promise<void> {
  const serverId = patched(PATCHES.serverIdentityLocks) ? await identifyTarget(run) : null;
  const lockId = serverId !== null ? (_url: string, database: string) => serverLockId(serverId, database) : patched(PATCHES.opaqueLockIds) ? targetLockId : legacyTargetLockId;
  for (const database of run.databases) {
    const workflowId = lockId(run.target.url, database);
    const start = () =>
      startChild(targetLock, {
        workflowId,
        args: [{ id: run.id, runId }],
        memo: { owner: run.id, ownerRunId: runId, resource: lockedResource(run.target.url, database) },
        parentClosePolicy: ParentClosePolicy.TERMINATE,
      });
    let child: ChildWorkflowHandle<typeof targetLock>;
    try {
      child = await (options.holdThroughCancellation ? CancellationScope.nonCancellable(start) : start());
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
    if (serverId !== null) options.held?.watch(child, database);
  }
}

/**
 * The target's server id (created on first contact). A source that holds the same id is the same
 * server: the run fails without retrying. A source that cannot be read is compared by URL origin
 * instead (see `identifyServers` in src/activities/identity.ts).
 */
async function identifyTarget(run: LockedRun): Promise<string> {
  const source = run.source ? { source: run.source } : {};
  const summary = run.source ? 'ask the target which server it is, and the source whether it is that one' : 'ask the target which server it is';
  const found = await scan.identifyServers.executeWithOptions({ summary }, [{ target: run.target, ...source }]);
  if (found.sameServer) {
    throw ApplicationFailure.create({
      type: FAILURE_TYPES.sameServer,
      message: 'the source and the target are one server under two names (the source holds the identity marker of the target); a transfer needs two different servers',
      nonRetryable: true,
    });
  }
  return found.serverId;
}

/**
 * The locks a run holds, watched: a lock workflow ends only with its run (parent close policy),
 * or when it is cancelled with a run that releases its locks as its cancellation begins; any other
 * ending (terminated by hand, `temporal workflow terminate`) means the run no longer holds it,
 * and another run may take it. The run then stops at its next step or approval wait.
 */
export class HeldLocks implements StepGuard {
  private lost: { workflowId: string; database: string } | null = null;

  /** Watches the lock `child` of `database`. */
  watch(child: ChildWorkflowHandle<typeof targetLock>, database: string): void {
    const lose = () => {
      this.lost ??= { workflowId: child.workflowId, database };
    };
    child.result().then(lose, (err: unknown) => {
      if (!isCancellation(err)) lose();
    });
  }

  get broken(): boolean {
    return this.lost !== null;
  }

  check(): void {
    if (!this.lost) return;
    const { workflowId, database } = this.lost;
    throw ApplicationFailure.create({
      type: FAILURE_TYPES.lockLost,
      message: `the lock ${workflowId} of ${database} was terminated while this run held it; another run may be migrating ${database} into this target now, so this run stops here: start a new run once the target is free`,
      nonRetryable: true,
    });
  }
}
