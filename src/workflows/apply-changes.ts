import { ApplicationFailure, sleep } from '@temporalio/workflow';
import { long, scan } from './activity-stubs';
import { showDetails } from './details';
import { CHANGES_FAILURE_TYPES, type AppliedStatement, type ChangesInput, type ChangesPlan, type ChangesReport, type ChangesState, type PlannedVersion, type TrackingRecord, type Change } from './changes-types';

/** What the migration step of a run of changes works with. */
export interface ApplyRun {
  input: ChangesInput;
  state: ChangesState;
  plan: ChangesPlan;
  runId: string;
  /** The objects the statements sent so far write: what a rollback puts back. Grows before each statement is sent. */
  touched: Set<string>;
}

/** Longest pause between two looks at a mutation's progress. */
const MUTATION_POLL_MAX_MS = 10_000;
/** How long a mutation may make no progress before the run warns that it may be failing, on a server that cannot say. */
const MUTATION_STALL_WARNING_MS = 10 * 60_000;

/**
 * Applies the pending versions in order, statement by statement, each recorded in the tracking
 * table once it (and every mutation it started) has finished; a version is dirty until its last
 * statement is. Progress (version, statement, mutation parts left) is in the state.
 */
export async function applyChanges(run: ApplyRun): Promise<ChangesReport> {
  const { input, state } = run;
  const report: ChangesReport = { applied: [], statements: 0 };
  const approvedBy = state.approvals.find((a) => a.step === 'migration')?.by ?? '';
  for (const version of run.plan.versions.filter((v) => v.status === 'pending' || v.status === 'resume')) {
    const startedAt = seconds();
    const record = (applied: number): TrackingRecord => ({
      version: version.version,
      name: version.name,
      checksum: version.checksum,
      statementChecksums: version.statementChecksums,
      applied,
      dirty: applied < version.statements,
      approvedBy,
      runId: run.runId,
      startedAt,
      finishedAt: applied < version.statements ? null : seconds(),
    });
    const target = { target: input.target, database: input.database };
    const change = input.changes.find((c) => c.version === version.version) as Change;
    await scan.recordVersion({ ...target, record: record(version.from - 1) });
    for (const statement of version.pending) {
      state.changes.current = { version: version.version, name: version.name, statement: statement.index, statements: version.statements, sql: statement.sql.slice(0, 200), mutationPartsLeft: null };
      showDetails(state);
      for (const t of statement.touches) run.touched.add(t.table);
      const applied = await long.applyStatement.executeWithOptions({ summary: `version ${version.version}, statement ${statement.index} of ${version.statements}` }, [
        { ...target, change, version: { ...version, pending: [] }, index: statement.index },
      ]);
      await awaitMutations(run, version, statement.index, applied);
      await scan.recordVersion({ ...target, record: record(statement.index) });
      report.statements++;
    }
    state.changes.versionsDone++;
    report.applied.push({ version: version.version, name: version.name, statements: version.statements, from: version.from });
  }
  state.changes.current = null;
  showDetails(state);
  return report;
}

/** Waits for the mutations a statement started, showing the parts they have left; fails on one the server says failed. */
async function awaitMutations(run: ApplyRun, version: PlannedVersion, index: number, applied: AppliedStatement): Promise<void> {
  if (applied.mutations.length === 0) return;
  const current = run.state.changes.current;
  let since = { partsLeft: -1, at: Date.now() };
  let warned = false;
  for (let pause = 500; ; pause = Math.min(pause * 2, MUTATION_POLL_MAX_MS)) {
    const progress = await scan.mutationProgress({ target: run.input.target, database: run.input.database, mutations: applied.mutations });
    if (current) current.mutationPartsLeft = progress.partsLeft;
    if (progress.partsLeft !== since.partsLeft) since = { partsLeft: progress.partsLeft, at: Date.now() };
    if (!warned && !progress.failuresKnown && Date.now() - since.at > MUTATION_STALL_WARNING_MS) {
      warned = true;
      run.state.warnings.push(
        `version ${version.version} (${version.name}), statement ${index}: its mutation has had ${progress.partsLeft} parts left for ${MUTATION_STALL_WARNING_MS / 60_000} minutes; this server (before 20.x) does not say whether a mutation keeps failing (see its error log), so cancel the run to roll it back if it does`,
      );
    }
    showDetails(run.state);
    if (progress.failed) {
      throw ApplicationFailure.create({
        type: CHANGES_FAILURE_TYPES.changeFailed,
        message: `version ${version.version} (${version.name}), statement ${index}: its mutation ${progress.failed.mutationId} of ${progress.failed.table} failed: ${progress.failed.reason}`,
        nonRetryable: true,
      });
    }
    if (progress.running === 0) return;
    await sleep(pause);
  }
}

/** Workflow time in Unix seconds, as the tracking table records it. */
function seconds(): number {
  return Math.floor(Date.now() / 1000);
}
