import { ApplicationFailure, CancellationScope, isCancellation, patched, setHandler, workflowInfo } from '@temporalio/workflow';
import { long, quick } from './activity-stubs';
import { describeFailure } from './failures';
import { migrateData } from './migrate';
import { PATCHES } from './patches';
import { lockTargets } from './target-lock';
import { handleApprovals } from './approvals';
import { stateQuery } from './messages';
import { now, Rejected, stepsOf } from './steps';
import { finishCleanly, recover, takeRestorePoint, type RunEnding } from './recovery';
import { initialState, runKeyOf } from './state';
import { FAILURE_TYPES, type MigrationInput, type MigrationState } from './types';

/**
 * A ClickHouse migration in four approved steps: backup, configure, validation, migration.
 * Returns the final state document; a run that fails or is rolled back ends as a failed workflow
 * whose state stays queryable.
 */
export async function clickhouseMigration(input: MigrationInput): Promise<MigrationState> {
  const { runId } = workflowInfo();
  const runKey = runKeyOf(runId);
  const state = initialState(input, runId);
  const endpoints = { source: input.source, target: input.target };

  setHandler(stateQuery, () => state);
  const approved = handleApprovals(input, state, now);

  const { setStatus, runStep, gate } = stepsOf(input, state, approved);

  const ending: RunEnding = { runKey, target: input.target, databases: input.databases, state, restorePoint: null, fingerprint: null };
  let migrationStarted = false;
  try {
    if (patched(PATCHES.targetLocks)) await lockTargets(input, runId, state);
    const fresh = patched(PATCHES.freshRestorePoint);
    const point = await runStep('backup', () => long.takeRestorePoint({ runKey, target: input.target, databases: input.databases }));
    if (fresh) {
      // A rehearsal: the restore point a rollback uses is taken after the last approval, so it
      // holds every write the target gets while the run waits at its gates.
      await quick.dropRestorePoint({ target: input.target, restorePoint: point });
    } else {
      ending.restorePoint = point;
      ending.fingerprint = long.fingerprintRestorePoint({ target: input.target, restorePoint: point }).then((digests) => {
        state.restorePoint = { database: point.database, takenAt: point.takenAt, totalRows: point.totalRows, digests };
        return digests;
      });
      ending.fingerprint.catch(() => undefined);
    }
    await gate('configure');
    await runStep('configure', () =>
      quick.checkTarget({
        runKey,
        ...endpoints,
        databases: input.databases,
        onConflict: input.options.onConflict,
        rehearsal: { tables: point.tables.length, rows: point.totalRows },
      }),
    );
    await gate('validation');
    const plan = await runStep('validation', () => long.validateSource({ runKey, ...endpoints, databases: input.databases }));
    state.transferPath = plan.transfer.path;
    await gate('migration');
    await runStep('migration', async () => {
      if (fresh) await takeRestorePoint(ending, input);
      else await ending.fingerprint;
      migrationStarted = true;
      return migrateData({ runKey, input, state, ending }, plan);
    });
    state.currentStep = null;
    // Verified: the run is complete whatever the clean-up meets, even a cancellation.
    await CancellationScope.nonCancellable(() => finishCleanly(ending)).catch((err: unknown) => {
      state.warnings.push(`the migration is verified, but its clean-up failed after retries: ${describeFailure(err).message}; run the janitor to remove what is left`);
    });
    setStatus('completed');
    return state;
  } catch (err) {
    if (err instanceof Rejected) {
      await finishCleanly(ending);
      setStatus('rejected');
      return state;
    }
    state.error = describeFailure(err);
    const endStatus = await CancellationScope.nonCancellable(() => recover(ending, migrationStarted, isCancellation(err)));
    setStatus(endStatus);
    if (isCancellation(err)) throw err;
    throw ApplicationFailure.create({
      type: endStatus === 'rolled_back' ? FAILURE_TYPES.migrationRolledBack : FAILURE_TYPES.migrationFailed,
      message: `${endStatus}: ${state.error.message}`,
      nonRetryable: true,
    });
  }
}
