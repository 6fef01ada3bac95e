import { CancellationScope, CancelledFailure, patched, setHandler, workflowInfo } from '@temporalio/workflow';
import { long, scan } from './activity-stubs';
import { migrateData } from './migrate';
import { migrateDataPaged } from './migrate-paged';
import { modeOf } from './transfer-modes';
import { TableDetails } from './table-details';
import { PATCHES } from './patches';
import { HeldLocks, lockTargets } from './target-lock';
import { handleApprovals } from './approvals';
import { stateQuery, tablesQuery } from './messages';
import { now, runKeyOfThisRun, stepsOf } from './steps';
import { fingerprintWhileWaiting, recover, runToEnd, takeRestorePoint, type RunEnding } from './recovery';
import { initialState } from './state';
import type { MigrationInput, MigrationState, RestorePoint } from './types';
import { namedList } from './markdown';
import { targetDatabasesOf } from './database-map';
import { listScope } from './scope-listing';
import { checkReplicaHealth } from './replica-health';
import { filtersOf, restorePointScope } from './scope';
import { replicationOf } from './replication';
import { ScheduleKeeper, waitForSchedule } from './schedule-wait';

/**
 * A ClickHouse migration in four approved steps: backup, configure, validation, migration.
 * Returns the final state document; a run that fails or is rolled back ends as a failed workflow
 * whose state stays queryable.
 */
export async function clickhouseMigration(input: MigrationInput): Promise<MigrationState> {
  const { runId } = workflowInfo();
  const runKey = runKeyOfThisRun(runId);
  const state = initialState(input, runId);
  const endpoints = { source: input.source, target: input.target };
  const dbs = namedList(input.databases);
  // Locks, the restore point, clean-up and rollback name the databases as the target has them.
  const targetSide = { ...input, databases: targetDatabasesOf(input) };
  const renames = input.renames ? { renames: input.renames } : {};

  const details = new TableDetails();
  setHandler(stateQuery, () => state);
  setHandler(tablesQuery, (request) => details.page(request));
  const approved = handleApprovals(input, state, now);

  const held = new HeldLocks();
  const { setStatus, runStep, gate } = stepsOf(input, state, approved, held);

  // Runs with a manifest keep their plan on the target and hand activities ranges of it.
  const manifest = patched(PATCHES.runManifest);
  const ending: RunEnding = { runKey, target: input.target, databases: targetSide.databases, state, restorePoint: null, fingerprint: null, manifest };
  if (manifest && patched(PATCHES.exactRollback)) ending.exact = true;
  const inManifest = manifest ? { manifest: true } : {};
  let migrationStarted = false;
  const steps = async () => {
    if (patched(PATCHES.transferScope)) await listScope(input, state, details);
    if (patched(PATCHES.replicaHealth)) await checkReplicaHealth(input, state);
    if (patched(PATCHES.targetLocks)) await lockTargets(targetSide, runId, state, { holdThroughCancellation: ending.exact, held });
    const fresh = patched(PATCHES.freshRestorePoint);
    const point = await runStep('backup', () => long.takeRestorePoint.executeWithOptions({ summary: `${fresh ? 'rehearse' : 'take'} the restore point of ${namedList(targetSide.databases)}` }, [{ runKey, target: input.target, databases: targetSide.databases, ...inManifest, ...restorePointScope(input) }]));
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
        ...renames,
        onConflict: input.options.onConflict,
        ...filtersOf(input),
        rehearsal: { tables: tablesOf(point), rows: point.totalRows },
        // Only runs with a mode send it: the arguments of runs before modes stay as they were.
        ...modeOf(input),
        ...replicationOf(input),
      }]),
    );
    await gate('validation');
    const plan = await runStep('validation', () => long.validateSource.executeWithOptions({ summary: `validate the source and dry-run ${dbs}` }, [{ runKey, ...endpoints, databases: input.databases, ...inManifest, ...renames, ...filtersOf(input), ...replicationOf(input) }]));
    state.transferPath = plan.transfer.path;
    await gate('migration');
    const keeper = input.schedule && patched(PATCHES.maintenanceWindows) ? new ScheduleKeeper(input.schedule, state) : null;
    if (keeper) await waitForSchedule(keeper, state, held, setStatus);
    await runStep('migration', async () => {
      if (fresh) await takeRestorePoint(ending, targetSide);
      else await ending.fingerprint;
      migrationStarted = true;
      const report = await (manifest ? migrateDataPaged({ runKey, input, state, ending, details, beforeRange: keeper?.beforeRange }, plan) : migrateData({ runKey, input, state, ending }, plan));
      // A cancel that came while the last activity finished anyway (it heard of it too late) still rolls the run back.
      if (ending.exact && CancellationScope.current().consideredCancelled) throw new CancelledFailure('the run was cancelled during its migration step');
      return report;
    });
  };
  await runToEnd(ending, setStatus, 'the migration is verified, but its clean-up', steps, (cancelled) => recover(ending, migrationStarted, cancelled));
  return state;
}

/** How many tables a restore point captured (runs that predate the manifest carry the list). */
function tablesOf(point: RestorePoint): number {
  return point.tableCount ?? point.tables?.length ?? 0;
}
