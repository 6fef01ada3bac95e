import { ApplicationFailure, CancellationScope, CancelledFailure, isCancellation } from '@temporalio/workflow';
import { long, scan } from './activity-stubs';
import { restorePointScope, type TableFilters } from './scope';
import { Rejected } from './steps';
import { describeFailure } from './failures';
import { firstLines } from './bounded';
import { DETAIL_LIMIT, FAILURE_TYPES, type RollbackScope, type EndpointRef, type MigrationState, type MigrationStatus, type RestorePoint, type RestorePointDigests } from './types';
import { namedList } from './markdown';

/** What the ending of a run works with. */
export interface RunEnding {
  runKey: string;
  target: EndpointRef;
  databases: string[];
  state: MigrationState;
  /** The restore point, once the backup step has taken it. */
  restorePoint: RestorePoint | null;
  /** The digests of the restore point, being computed while the run waits for approvals. */
  fingerprint: Promise<RestorePointDigests> | null;
  /** What the migration step changes (see {@link RollbackScope}). */
  scope?: RollbackScope;
  /** The run keeps its plan, restore point tables and digests in a manifest on the target. */
  manifest?: boolean;
  /** The run rolls back from what it recorded before acting, once nothing of it writes, and proves it apart (patch `exact-rollback`). */
  exact?: boolean;
}

/** Takes the restore point a rollback uses, with the digests it will be proved against. */
export async function takeRestorePoint(run: RunEnding, input: { target: EndpointRef; databases: string[]; renames?: Record<string, string> } & TableFilters): Promise<void> {
  const manifest = run.manifest ? { manifest: true } : {};
  const point = await long.takeRestorePoint.executeWithOptions({ summary: `take the restore point of ${namedList(input.databases)}` }, [{ runKey: run.runKey, target: input.target, databases: input.databases, ...manifest, ...restorePointScope(input) }]);
  run.restorePoint = point;
  const digests = await long.fingerprintRestorePoint({ target: input.target, restorePoint: point, ...(run.manifest ? { runKey: run.runKey } : {}) });
  run.state.restorePoint = { database: point.database, takenAt: point.takenAt, totalRows: point.totalRows, digests };
  run.fingerprint = Promise.resolve(digests);
}

/**
 * Runs before the restore-point patch: the backup step's restore point is the one a rollback
 * uses, and its digests are computed while the run waits for approvals.
 */
export function fingerprintWhileWaiting(run: RunEnding, point: RestorePoint): void {
  run.restorePoint = point;
  run.fingerprint = long.fingerprintRestorePoint({ target: run.target, restorePoint: point }).then((digests) => {
    run.state.restorePoint = { database: point.database, takenAt: point.takenAt, totalRows: point.totalRows, digests };
    return digests;
  });
  run.fingerprint.catch(() => undefined);
}

/** After success or rejection: drops staging and the restore point. */
export async function finishCleanly(run: RunEnding): Promise<void> {
  if (run.fingerprint) await run.fingerprint.catch(() => null);
  await scan.dropStaging({ target: run.target, runKey: run.runKey, databases: run.databases });
  if (run.restorePoint) await scan.dropRestorePoint({ target: run.target, restorePoint: run.restorePoint });
}

/**
 * After a failure or a cancellation: undoes what the run changed and says how the run ends. A
 * rollback that cannot be proved against the recorded digests keeps the restore point.
 */
export async function recover(run: RunEnding, changed: boolean, cancelled: boolean): Promise<MigrationStatus> {
  const { state, restorePoint: point } = run;
  const failedStatus: MigrationStatus = cancelled ? 'cancelled' : 'failed';
  try {
    await scan.dropStaging({ target: run.target, runKey: run.runKey, databases: run.databases, restorePoint: !point, keepManifest: point !== null });
    if (!point) return failedStatus;
    const recorded = run.fingerprint ? await run.fingerprint.catch(() => null) : null;
    const dropPoint = { target: run.target, restorePoint: point, manifestOf: run.runKey };
    if (!changed) {
      await scan.dropRestorePoint(dropPoint);
      return failedStatus;
    }
    if (run.exact) return await rollBackAndProve(run, point, cancelled);
    // With a manifest, the activity reads the full record of digests from it (the run keeps the first few).
    const from = run.manifest ? { recorded: null, runKey: run.runKey } : { recorded };
    state.rollback = await long.rollbackToRestorePoint.executeWithOptions({ summary: `roll ${namedList(run.databases)} back to the restore point` }, [{ target: run.target, restorePoint: point, databases: run.databases, scope: run.scope, ...from }]);
    const mismatched = state.rollback.verified.filter((t) => !t.match);
    if (mismatched.length > 0) {
      state.error = {
        type: FAILURE_TYPES.rollbackIncomplete,
        message: `rollback left ${firstLines(mismatched.map((t) => `${t.database}.${t.table}`), DETAIL_LIMIT).join(', ')} different from the restore point ${point.database}, which is kept`,
      };
      return 'failed';
    }
    await scan.dropRestorePoint(dropPoint);
    return cancelled ? 'cancelled' : 'rolled_back';
  } catch (err) {
    recoveryFailed(state, err, point, changed);
    return run.exact && changed ? 'rollback_incomplete' : 'failed';
  }
}

/**
 * The rollback of a run that recorded what it was about to do: undone, then proved apart. A proof
 * that finds an object of the run left, or a restored partition that differs from the restore
 * point, ends the run as `rollback_incomplete` and keeps the restore point.
 */
async function rollBackAndProve(run: RunEnding, point: RestorePoint, cancelled: boolean): Promise<MigrationStatus> {
  const { state } = run;
  const request = { target: run.target, restorePoint: point, databases: run.databases, runKey: run.runKey, recordsIntent: true };
  const undone = await long.rollbackToRestorePoint.executeWithOptions({ summary: `roll ${namedList(run.databases)} back to the restore point` }, [{ ...request, recorded: null, prove: false }]);
  const proof = await scan.proveRollback.executeWithOptions({ summary: 'prove the rollback: nothing of the run left, every partition it wrote as the restore point recorded it' }, [request]);
  state.rollback = { ...undone, verified: proof.verified, leftovers: proof.leftovers, counts: { dropped: undone.dropped.length, restored: undone.restored.length, ...undone.counts, ...proof.counts } };
  const differing = proof.verified.filter((v) => !v.match).map((v) => `${v.database}.${v.table} differs from the restore point`);
  const wrong = [...proof.leftovers.map((name) => `${name} of the run is still there`), ...differing];
  if (proof.counts.leftovers > 0 || proof.counts.matched < proof.counts.verified) {
    state.error = {
      type: FAILURE_TYPES.rollbackIncomplete,
      message: `${state.error?.message ?? ''}; then the rollback's proof found ${proof.counts.leftovers} objects of the run left and ${proof.counts.verified - proof.counts.matched} tables different: ${firstLines(wrong, DETAIL_LIMIT).join('; ')} (restore point ${point.database} is kept)`,
    };
    return 'rollback_incomplete';
  }
  await scan.dropRestorePoint({ target: run.target, restorePoint: point, manifestOf: run.runKey });
  return cancelled ? 'cancelled' : 'rolled_back';
}


/**
 * Records that the recovery of a run failed too: the run's error, then the recovery's, and the
 * restore point kept. A run that had changed nothing on the target (`changed` false: its
 * migration step never wrote) keeps the type of its own error: only its clean-up failed, and
 * there was nothing to roll back.
 */
export function recoveryFailed(state: MigrationState, err: unknown, point: RestorePoint | null, changed: boolean): void {
  const kept = point ? ` (restore point ${point.database} is kept)` : '';
  const cause = describeFailure(err).message;
  state.error = changed
    ? { type: FAILURE_TYPES.rollbackIncomplete, message: `${state.error?.message ?? ''}; then recovery failed: ${cause}${kept}` }
    : { type: state.error?.type ?? FAILURE_TYPES.migrationFailed, message: `${state.error?.message ?? ''}; then its clean-up failed (nothing of the run had changed the target): ${cause}${kept}` };
}

/**
 * Runs the steps of a run, of either kind, and ends it: `completed` once `steps` return (a
 * clean-up that fails then only warns: `done` begins the warning, up to its clean-up), `rejected` after a rejection (cleaned up),
 * or as `recoverAfter` decides after a failure or a cancellation; a run that did not complete
 * then fails (or is cancelled) as a workflow, its state still queryable.
 */
export async function runToEnd(
  run: RunEnding,
  setStatus: (status: MigrationStatus) => void,
  done: string,
  steps: () => Promise<void>,
  recoverAfter: (cancelled: boolean) => Promise<MigrationStatus>,
): Promise<void> {
  const { state } = run;
  try {
    await steps();
    state.currentStep = null;
    // Done: the run is complete whatever the clean-up meets, even a cancellation.
    await CancellationScope.nonCancellable(() => finishCleanly(run)).catch((err: unknown) => {
      state.warnings.push(`${done} failed after retries: ${describeFailure(err).message}; run the janitor to remove what is left`);
    });
    setStatus('completed');
  } catch (err) {
    if (err instanceof Rejected) {
      await finishCleanly(run);
      setStatus('rejected');
      return;
    }
    state.error = describeFailure(err);
    // A cancelled run whose activity failed otherwise (timed out on a dead worker, say) was still cancelled.
    const cancelled = isCancellation(err) || (run.exact === true && CancellationScope.current().consideredCancelled);
    const endStatus = await CancellationScope.nonCancellable(() => recoverAfter(cancelled));
    setStatus(endStatus);
    const message = state.error?.message ?? '';
    if (isCancellation(err)) throw err;
    if (cancelled) throw new CancelledFailure(message);
    throw ApplicationFailure.create({
      type: endStatus === 'rolled_back' ? FAILURE_TYPES.migrationRolledBack : FAILURE_TYPES.migrationFailed,
      message: `${endStatus}: ${message}`,
      nonRetryable: true,
    });
  }
}
