import { long, quick } from './activity-stubs';
import { describeFailure } from './failures';
import { FAILURE_TYPES, type EndpointRef, type MigrationState, type MigrationStatus, type RestorePoint, type RestorePointDigests } from './types';

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
  /** What the migration step changes: the objects it created, once known, and the tables it copies into. */
  scope?: { created: string[] | null; tables: string[] };
}

/** Takes the restore point a rollback uses, with the digests it will be proved against. */
export async function takeRestorePoint(run: RunEnding, input: { target: EndpointRef; databases: string[] }): Promise<void> {
  const point = await long.takeRestorePoint({ runKey: run.runKey, target: input.target, databases: input.databases });
  run.restorePoint = point;
  const digests = await long.fingerprintRestorePoint({ target: input.target, restorePoint: point });
  run.state.restorePoint = { database: point.database, takenAt: point.takenAt, totalRows: point.totalRows, digests };
  run.fingerprint = Promise.resolve(digests);
}

/** After success or rejection: drops staging and the restore point. */
export async function finishCleanly(run: RunEnding): Promise<void> {
  if (run.fingerprint) await run.fingerprint.catch(() => null);
  await quick.dropStaging({ target: run.target, runKey: run.runKey, databases: run.databases });
  if (run.restorePoint) await quick.dropRestorePoint({ target: run.target, restorePoint: run.restorePoint });
}

/**
 * After a failure or a cancellation: undoes what the run changed and says how the run ends. A
 * rollback that cannot be proved against the recorded digests keeps the restore point.
 */
export async function recover(run: RunEnding, changed: boolean, cancelled: boolean): Promise<MigrationStatus> {
  const { state, restorePoint: point } = run;
  const failedStatus: MigrationStatus = cancelled ? 'cancelled' : 'failed';
  try {
    await quick.dropStaging({ target: run.target, runKey: run.runKey, databases: run.databases, restorePoint: !point });
    if (!point) return failedStatus;
    const recorded = run.fingerprint ? await run.fingerprint.catch(() => null) : null;
    if (!changed) {
      await quick.dropRestorePoint({ target: run.target, restorePoint: point });
      return failedStatus;
    }
    state.rollback = await long.rollbackToRestorePoint({ target: run.target, restorePoint: point, databases: run.databases, recorded, scope: run.scope });
    const mismatched = state.rollback.verified.filter((t) => !t.match);
    if (mismatched.length > 0) {
      state.error = {
        type: FAILURE_TYPES.rollbackIncomplete,
        message: `rollback left ${mismatched.map((t) => `${t.database}.${t.table}`).join(', ')} different from the restore point ${point.database}, which is kept`,
      };
      return 'failed';
    }
    await quick.dropRestorePoint({ target: run.target, restorePoint: point });
    return cancelled ? 'cancelled' : 'rolled_back';
  } catch (err) {
    state.error = {
      type: FAILURE_TYPES.rollbackIncomplete,
      message: `${state.error?.message ?? ''}; then recovery failed: ${describeFailure(err).message}${point ? ` (restore point ${point.database} is kept)` : ''}`,
    };
    return 'failed';
  }
}
