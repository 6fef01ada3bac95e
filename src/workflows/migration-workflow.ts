import { ApplicationFailure, CancellationScope, CancelledFailure, isCancellation, patched, setHandler, workflowInfo } from '@temporalio/workflow';
import { long, scan } from './activity-stubs';
import { describeFailure } from './failures';
import { migrateData } from './migrate';
import { migrateDataPaged } from './migrate-paged';
import { TableDetails } from './table-details';
import { PATCHES } from './patches';
import { lockTargets } from './target-lock';
import { handleApprovals } from './approvals';
import { stateQuery, tablesQuery } from './messages';
import { now, Rejected, stepsOf } from './steps';
import { fingerprintWhileWaiting, finishCleanly, recover, takeRestorePoint, type RunEnding } from './recovery';
import { initialState, runKeyOf } from './state';
import { FAILURE_TYPES, type MigrationInput, type MigrationState, type RestorePoint } from './types';
import { namedList } from './markdown';

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
  const dbs = namedList(input.databases);

  const details = new TableDetails();
  setHandler(stateQuery, () => state);
  setHandler(tablesQuery, (request) => details.page(request));
  const approved = handleApprovals(input, state, now);

  const { setStatus, runStep, gate } = stepsOf(input, state, approved);

  // Runs with a manifest keep their plan on the target and hand activities ranges of it.
  const manifest = patched(PATCHES.runManifest);
  const ending: RunEnding = { runKey, target: input.target, databases: input.databases, state, restorePoint: null, fingerprint: null, manifest };
  if (manifest && patched(PATCHES.exactRollback)) ending.exact = true;
  const inManifest = manifest ? { manifest: true } : {};
  let migrationStarted = false;
  try {
    if (patched(PATCHES.targetLocks)) await lockTargets(input, runId, state, ending.exact);
    const fresh = patched(PATCHES.freshRestorePoint);
    const point = await runStep('backup', () => long.takeRestorePoint.executeWithOptions({ summary: `${fresh ? 'rehearse' : 'take'} the restore point of ${dbs}` }, [{ runKey, target: input.target, databases: input.databases, ...inManifest }]));
    if (fresh) {
      // A rehearsal: the restore point a rollback uses is taken after the last approval, so it
      // holds every write the target gets while the run waits at its gates.
      await scan.dropRestorePoint.executeWithOptions({ summary: 'drop the rehearsal restore point' }, [{ target: input.target, restorePoint: point }]);
    } else {
      fingerprintWhileWaiting(ending, point);
    }
    await gate('configure');
    await runStep('configure', () =>
      scan.checkTarget.executeWithOptions({ summary: `check that the target is ready for ${dbs}` }, [{
        runKey,
        ...endpoints,
        databases: input.databases,
        onConflict: input.options.onConflict,
        rehearsal: { tables: tablesOf(point), rows: point.totalRows },
      }]),
    );
    await gate('validation');
    const plan = await runStep('validation', () => long.validateSource.executeWithOptions({ summary: `validate the source and dry-run ${dbs}` }, [{ runKey, ...endpoints, databases: input.databases, ...inManifest }]));
    state.transferPath = plan.transfer.path;
    await gate('migration');
    await runStep('migration', async () => {
      if (fresh) await takeRestorePoint(ending, input);
      else await ending.fingerprint;
      migrationStarted = true;
      const report = await (manifest ? migrateDataPaged({ runKey, input, state, ending, details }, plan) : migrateData({ runKey, input, state, ending }, plan));
      // A cancel that came while the last activity finished anyway (it heard of it too late) still rolls the run back.
      if (ending.exact && CancellationScope.current().consideredCancelled) throw new CancelledFailure('the run was cancelled during its migration step');
      return report;
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
    // A cancelled run whose activity failed otherwise (timed out on a dead worker, say) was still cancelled.
    const cancelled = isCancellation(err) || (ending.exact === true && CancellationScope.current().consideredCancelled);
    const endStatus = await CancellationScope.nonCancellable(() => recover(ending, migrationStarted, cancelled));
    setStatus(endStatus);
    if (isCancellation(err)) throw err;
    if (cancelled) throw new CancelledFailure(state.error.message);
    throw ApplicationFailure.create({
      type: endStatus === 'rolled_back' ? FAILURE_TYPES.migrationRolledBack : FAILURE_TYPES.migrationFailed,
      message: `${endStatus}: ${state.error.message}`,
      nonRetryable: true,
    });
  }
}

/** How many tables a restore point captured (runs that predate the manifest carry the list). */
function tablesOf(point: RestorePoint): number {
  return point.tableCount ?? point.tables?.length ?? 0;
}
