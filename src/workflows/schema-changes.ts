import { ApplicationFailure, CancellationScope, CancelledFailure, patched, setHandler, workflowInfo } from '@temporalio/workflow';
import { long, scan } from './activity-stubs';
import { applyChanges } from './apply-changes';
import { handleApprovals } from './approvals';
import { CHANGES_FAILURE_TYPES, TRACKING_TABLE, type ChangesInput, type ChangesPlan, type ChangesState } from './changes-types';
import { firstLines } from './bounded';
import { stateQuery, tablesQuery } from './messages';
import { recoveryFailed, runToEnd, takeRestorePoint, type RunEnding } from './recovery';
import { initialState } from './state';
import { now, runKeyOfThisRun, stepsOf } from './steps';
import { PATCHES } from './patches';
import { HeldLocks, lockTargets } from './target-lock';
import { DETAIL_LIMIT, FAILURE_TYPES, type MigrationStatus } from './types';

/**
 * Versioned schema changes to one database, in the same four approved steps as a transfer:
 * backup (a rehearsal of the restore point), configure (the plan against the tracking table),
 * validation (every pending statement on a shadow loaded with real rows), migration (the restore
 * point, then the statements, each recorded). A failure rolls back, or stops with the version
 * dirty under `onFailure: "stop"`; a cancellation always rolls back.
 */
export async function schemaChanges(input: ChangesInput): Promise<ChangesState> {
  const { runId } = workflowInfo();
  const runKey = runKeyOfThisRun(runId);
  const state: ChangesState = {
    ...initialState(input, runId),
    kind: 'changes',
    changes: { database: input.database, versionsTotal: input.changes.length, versionsDone: 0, current: null, stopped: null },
  };
  setHandler(stateQuery, () => state);
  setHandler(tablesQuery, () => ({ tables: [], nextCursor: null, total: 0 }));
  const approved = handleApprovals(input, state, now);
  const held = new HeldLocks();
  const { setStatus, runStep, gate } = stepsOf(input, state, approved, held);
  const { target, database } = input;
  const databases = [database];
  const ending: RunEnding = { runKey, target, databases, state, restorePoint: null, fingerprint: null, manifest: true, exact: true };
  const touched = new Set<string>();
  const steps = async () => {
    await lockTargets({ id: input.id, target, databases }, runId, state, { holdThroughCancellation: true, held });
    const rehearsal = await runStep('backup', () => long.takeRestorePoint.executeWithOptions({ summary: `rehearse the restore point of ${database}` }, [{ runKey, target, databases, manifest: true }]));
    await scan.dropRestorePoint.executeWithOptions({ summary: 'drop the rehearsal restore point' }, [{ target, restorePoint: rehearsal, manifestOf: runKey }]);
    await gate('configure');
    const plan = await runStep('configure', () => scan.planChanges.executeWithOptions({ summary: `plan ${input.changes.length} versions against ${database}` }, [{ target, database, changes: input.changes }]));
    await gate('validation');
    await runStep('validation', () => long.stageChanges.executeWithOptions({ summary: `stage ${plan.pendingStatements} statements on a shadow of ${database}` }, [{ runKey, target, database, plan, changes: input.changes }]));
    await gate('migration');
    await runStep('migration', async () => {
      if (patched(PATCHES.changesReplan)) await assertPlanHolds(input, plan);
      await takeRestorePoint(ending, { target, databases });
      touched.add(TRACKING_TABLE);
      const report = await applyChanges({ input, state, plan, runId, touched });
      if (CancellationScope.current().consideredCancelled) throw new CancelledFailure('the run was cancelled during its migration step');
      return report;
    });
  };
  await runToEnd(ending, setStatus, "the changes are applied, but the run's clean-up", steps, (cancelled) => endChanges(ending, input, touched, cancelled));
  return state;
}

/**
 * After a failure or a cancellation: nothing to undo before the migration step; under
 * `onFailure: "stop"` a failure keeps what was applied (the version stays dirty); otherwise every
 * table the statements reached goes back to the restore point, and the rollback is proved.
 */
async function endChanges(run: RunEnding, input: ChangesInput, touched: ReadonlySet<string>, cancelled: boolean): Promise<MigrationStatus> {
  const state = run.state as ChangesState;
  const point = run.restorePoint;
  const failed: MigrationStatus = cancelled ? 'cancelled' : 'failed';
  try {
    await scan.dropStaging({ target: run.target, runKey: run.runKey, databases: run.databases, restorePoint: !point, keepManifest: point !== null });
    if (!point) return failed;
    const dropPoint = { target: run.target, restorePoint: point, manifestOf: run.runKey };
    if (touched.size === 0) {
      await scan.dropRestorePoint(dropPoint);
      return failed;
    }
    if (!cancelled && input.options.onFailure === 'stop') {
      const current = state.changes.current;
      if (current) {
        state.changes.stopped = { version: current.version, applied: current.statement - 1, statements: current.statements };
        state.error = {
          type: state.error?.type ?? CHANGES_FAILURE_TYPES.changeFailed,
          message: `${state.error?.message ?? ''}; stopped: version ${current.version} stays dirty with ${current.statement - 1} of ${current.statements} statements applied. Fix its statements after ${current.statement - 1} and start a new run: it resumes at statement ${current.statement}`,
        };
      }
      await scan.dropRestorePoint(dropPoint);
      return 'failed';
    }
    const rollback = await long.rollbackChanges.executeWithOptions({ summary: `roll ${input.database} back to the restore point` }, [
      { runKey: run.runKey, target: run.target, database: input.database, restorePoint: point, touched: [...touched] },
    ]);
    state.rollback = rollback;
    const wrong = [
      ...(rollback.leftovers ?? []).map((name) => `${name} of the run is still there`),
      ...rollback.verified.filter((v) => !v.match).map((v) => `${v.database}.${v.table} differs from the restore point`),
    ];
    if (wrong.length > 0) {
      state.error = {
        type: FAILURE_TYPES.rollbackIncomplete,
        message: `${state.error?.message ?? ''}; then the rollback's proof found: ${firstLines(wrong, DETAIL_LIMIT).join('; ')} (restore point ${point.database} is kept)`,
      };
      return 'rollback_incomplete';
    }
    await scan.dropRestorePoint(dropPoint);
    return cancelled ? 'cancelled' : 'rolled_back';
  } catch (err) {
    const changed = point !== null && touched.size > 0;
    recoveryFailed(state, err, point, changed);
    return changed ? 'rollback_incomplete' : 'failed';
  }
}

/**
 * The plan approved at configure, checked again as the migration step starts: a version applied,
 * edited or left dirty since (by hand, or by another tool) fails the step before anything changes.
 */
async function assertPlanHolds(input: ChangesInput, approved: ChangesPlan): Promise<void> {
  const now = await scan.planChanges.executeWithOptions({ summary: `check that nothing pending in ${input.database} changed since configure` }, [
    { target: input.target, database: input.database, changes: input.changes },
  ]);
  const pending = (plan: ChangesPlan) => plan.versions.map((v) => `${v.version} ${v.status} from statement ${v.from}`);
  const [was, is] = [pending(approved), pending(now)];
  const changed = is.filter((line, i) => line !== was[i]);
  if (changed.length === 0) return;
  throw ApplicationFailure.create({
    type: CHANGES_FAILURE_TYPES.drift,
    message: `drift: ${TRACKING_TABLE} of ${input.database} changed since configure planned this run (now: ${changed.join('; ')}); start a new run to plan again`,
    nonRetryable: true,
  });
}
