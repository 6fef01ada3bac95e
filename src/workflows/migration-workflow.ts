import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  condition,
  isCancellation,
  proxyActivities,
  setHandler,
  type RetryPolicy,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { MigrationActivities } from '../activities';
import { approveSignal, rejectSignal, stateQuery } from './messages';
import { statusKey, stepKey } from './search-attributes';
import { inBatches, initialState, optionalText, runKeyOf, signalMismatch } from './state';
import {
  FAILURE_TYPES,
  type CopyResult,
  type CopyUnit,
  type MigrationInput,
  type MigrationReport,
  type MigrationState,
  type MigrationStatus,
  type RestorePoint,
  type RestorePointDigests,
  type StepName,
  type TransferPath,
  type ValidationReport,
} from './types';

const retry: RetryPolicy = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 5 };

/** Catalogue reads and small DDL. */
const quick = proxyActivities<MigrationActivities>({ startToCloseTimeout: '5m', retry });
/** Data movement and scans: long, so they heartbeat and a lost worker is noticed within the heartbeat timeout. */
const long = proxyActivities<MigrationActivities>({
  startToCloseTimeout: '12h',
  heartbeatTimeout: '30s',
  // A cancelled run rolls back only after its copies have really stopped.
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: { ...retry, maximumAttempts: 10 },
});

/**
 * Most copy activities one pass schedules. Up to this many units, each unit is its own activity
 * (fine-grained progress, and a unit that finished is never copied again); beyond it, units are
 * batched so that 5,000 partitions cost the same history as 200.
 */
const MAX_COPY_ACTIVITIES = 200;

/** Thrown inside the workflow when a person rejects a step. */
class Rejected extends Error {}

/**
 * A ClickHouse migration in four approved steps: backup, configure, validation, migration.
 * Returns the final state document; a run that fails or is rolled back ends as a failed workflow
 * whose state stays queryable.
 */
export async function clickhouseMigration(input: MigrationInput): Promise<MigrationState> {
  const { runId } = workflowInfo();
  const runKey = runKeyOf(runId);
  const state = initialState(input, runId);
  const approved = new Set<StepName>();
  const endpoints = { source: input.source, target: input.target };

  setHandler(stateQuery, () => state);
  setHandler(approveSignal, (payload) => {
    const mismatch = signalMismatch(payload, state.awaitingApproval?.step ?? null);
    if (mismatch) return ignoreSignal('approve', payload, mismatch);
    state.approvals.push({ step: payload.step, by: optionalText(payload, 'by'), comment: optionalText(payload, 'comment'), at: now() });
    approved.add(payload.step);
  });
  setHandler(rejectSignal, (payload) => {
    const mismatch = signalMismatch(payload, state.awaitingApproval?.step ?? null);
    if (mismatch) return ignoreSignal('reject', payload, mismatch);
    state.rejection = { step: payload.step, by: optionalText(payload, 'by'), reason: optionalText(payload, 'reason') ?? '', at: now() };
  });

  function ignoreSignal(name: string, payload: unknown, reason: string): void {
    const step = (payload as { step?: unknown } | null)?.step;
    state.ignoredSignals.push({ name, step: typeof step === 'string' ? step : String(step), reason, at: now() });
  }

  function setStatus(status: MigrationStatus): void {
    state.status = status;
    upsertSearchAttributes([
      { key: statusKey, value: status },
      { key: stepKey, value: state.currentStep ?? 'none' },
    ]);
  }

  function step(name: StepName) {
    const found = state.steps.find((s) => s.name === name);
    if (!found) throw new Error(`unknown step ${name}`);
    return found;
  }

  async function runStep<T>(name: StepName, body: () => Promise<T>): Promise<T> {
    const current = step(name);
    state.currentStep = name;
    current.status = 'running';
    current.startedAt = now();
    setStatus('running');
    try {
      const result = await body();
      current.status = 'completed';
      current.result = result;
      return result;
    } catch (err) {
      current.status = isCancellation(err) ? 'skipped' : 'failed';
      current.error = describeFailure(err);
      throw err;
    } finally {
      current.finishedAt = now();
    }
  }

  /** Waits until a person approves `next` (or approvals are off). */
  async function gate(next: StepName): Promise<void> {
    if (!input.approvals.required) return;
    const current = step(next);
    current.status = 'awaiting_approval';
    state.awaitingApproval = { step: next };
    state.currentStep = next;
    setStatus('awaiting_approval');
    await condition(() => approved.has(next) || state.rejection !== null);
    state.awaitingApproval = null;
    if (state.rejection) {
      current.status = 'rejected';
      throw new Rejected();
    }
    current.status = 'pending';
  }

  let restorePoint: RestorePoint | null = null;
  let fingerprint: Promise<RestorePointDigests> | null = null;
  let migrationStarted = false;
  try {
    restorePoint = await runStep('backup', () =>
      long.takeRestorePoint({ runKey, target: input.target, databases: input.databases }),
    );
    const point = restorePoint;
    // Checksumming the snapshot takes a scan; it runs while the run waits for approvals.
    fingerprint = long.fingerprintRestorePoint({ target: input.target, restorePoint: point }).then((digests) => {
      state.restorePoint = { database: point.database, takenAt: point.takenAt, totalRows: point.totalRows, digests };
      return digests;
    });
    fingerprint.catch(() => undefined);
    await gate('configure');
    await runStep('configure', () =>
      quick.checkTarget({ runKey, ...endpoints, databases: input.databases, onConflict: input.options.onConflict }),
    );
    await gate('validation');
    const plan = await runStep('validation', () => long.validateSource({ runKey, ...endpoints, databases: input.databases }));
    state.transferPath = plan.transfer.path;
    await gate('migration');
    await fingerprint;
    migrationStarted = true;
    await runStep('migration', () => migrate(plan));
    state.currentStep = null;
    await finishCleanly(restorePoint);
    setStatus('completed');
    return state;
  } catch (err) {
    if (err instanceof Rejected) {
      await finishCleanly(restorePoint);
      setStatus('rejected');
      return state;
    }
    state.error = describeFailure(err);
    const endStatus = await CancellationScope.nonCancellable(() => recover(restorePoint, migrationStarted, isCancellation(err)));
    setStatus(endStatus);
    if (isCancellation(err)) throw err;
    throw ApplicationFailure.create({
      type: endStatus === 'rolled_back' ? FAILURE_TYPES.migrationRolledBack : FAILURE_TYPES.migrationFailed,
      message: `${endStatus}: ${state.error.message}`,
      nonRetryable: true,
    });
  }

  async function migrate(plan: ValidationReport): Promise<MigrationReport> {
    const path = plan.transfer.path;
    const began = Date.now();
    const created = await quick.createSchema({ target: input.target, objects: plan.objects });
    const units = await quick.planCopy({ ...endpoints, objects: plan.objects });
    trackTables(units);
    const copyBegan = Date.now();
    const copied = await copyAll(units, path, 'bulk');
    const copyEnded = Date.now();
    const resynced: MigrationReport['resynced'] = [];
    let report = await long.verifyData({ ...endpoints, objects: plan.objects });
    for (let pass = 1; pass <= input.options.syncPasses && report.mismatched.length + report.extra.length > 0; pass++) {
      const again = [...report.mismatched, ...report.extra];
      const recopied = await copyAll(again, path, 'resync');
      resynced.push({
        pass,
        units: again.length,
        rows: recopied.rows,
        partitions: again.map((u) => ({ database: u.database, table: u.table, partitionId: u.partitionId })).slice(0, 100),
      });
      report = await long.verifyData({ ...endpoints, objects: plan.objects });
    }
    const differing = report.tables.filter((t) => !t.match);
    if (differing.length > 0) {
      throw ApplicationFailure.create({
        type: FAILURE_TYPES.verificationFailed,
        message: `source and target still differ after ${input.options.syncPasses} sync passes: ${differing
          .map((t) => `${t.database}.${t.table} (${t.sourceRows} vs ${t.targetRows} rows)`)
          .join(', ')}`,
        nonRetryable: true,
      });
    }
    return {
      transferPath: path,
      created,
      copied: { ...copied, units: units.length },
      resynced,
      verification: report.tables,
      timings: { schemaMs: copyBegan - began, copyMs: copyEnded - copyBegan, verifyAndSyncMs: Date.now() - copyEnded },
      skipped: plan.unsupported.map(({ database, name, reason }) => ({ database, name, reason })),
    };
  }

  function trackTables(units: CopyUnit[]): void {
    const tables = new Set(units.map(tableKey));
    state.progress = {
      tablesTotal: tables.size,
      tablesDone: 0,
      unitsTotal: units.length,
      unitsDone: 0,
      rowsTotal: units.reduce((sum, u) => sum + u.rows, 0),
      rowsCopied: 0,
      bytesCopied: 0,
    };
  }

  /**
   * Copies units in batches, at most `parallelism` batches in flight, updating progress as each
   * batch lands. Batches keep the history bounded: a run never schedules more than
   * MAX_COPY_ACTIVITIES copy activities per pass, however many partitions it moves.
   */
  async function copyAll(units: CopyUnit[], path: TransferPath, pass: 'bulk' | 'resync'): Promise<CopyResult> {
    const remaining = new Map<string, number>();
    for (const unit of units) remaining.set(tableKey(unit), (remaining.get(tableKey(unit)) ?? 0) + 1);
    const batches = inBatches(units, Math.ceil(units.length / MAX_COPY_ACTIVITIES));
    const total: CopyResult = { rows: 0, bytes: 0 };
    let next = 0;
    let failure: { error: unknown } | null = null;
    async function lane(): Promise<void> {
      while (next < batches.length && !failure) {
        const batch = batches[next++];
        const result = await long.copyUnits({ runKey, ...endpoints, units: batch, path });
        total.rows += result.rows;
        total.bytes += result.bytes;
        if (pass === 'resync') continue;
        state.progress.rowsCopied += result.rows;
        state.progress.bytesCopied += result.bytes;
        state.progress.unitsDone += batch.length;
        for (const unit of batch) {
          const left = (remaining.get(tableKey(unit)) ?? 1) - 1;
          remaining.set(tableKey(unit), left);
          if (left === 0) state.progress.tablesDone = Math.min(state.progress.tablesTotal, state.progress.tablesDone + 1);
        }
      }
    }
    // On the first failure no new batch starts, and the batches in flight finish before the
    // caller rolls back: a copy that lands after the rollback would undo it.
    const lanes = Array.from({ length: Math.max(1, Math.min(input.options.parallelism, batches.length)) }, () =>
      lane().catch((error: unknown) => {
        failure ??= { error };
      }),
    );
    await Promise.all(lanes);
    if (failure) throw (failure as { error: unknown }).error;
    return total;
  }

  /** Undoes what the run changed and says how the run ends. */
  async function recover(point: RestorePoint | null, changed: boolean, cancelled: boolean): Promise<MigrationStatus> {
    const failedStatus: MigrationStatus = cancelled ? 'cancelled' : 'failed';
    try {
      await quick.dropStaging({ target: input.target, runKey, databases: input.databases });
      if (!point) return failedStatus;
      if (!changed) {
        if (fingerprint) await fingerprint.catch(() => null);
        await quick.dropRestorePoint({ target: input.target, restorePoint: point });
        return failedStatus;
      }
      const recorded = fingerprint ? await fingerprint.catch(() => null) : null;
      state.rollback = await long.rollbackToRestorePoint({ target: input.target, restorePoint: point, databases: input.databases, recorded });
      const mismatched = state.rollback.verified.filter((t) => !t.match);
      if (mismatched.length > 0) {
        state.error = {
          type: FAILURE_TYPES.rollbackIncomplete,
          message: `rollback left ${mismatched.map((t) => `${t.database}.${t.table}`).join(', ')} different from the restore point ${point.database}, which is kept`,
        };
        return 'failed';
      }
      await quick.dropRestorePoint({ target: input.target, restorePoint: point });
      return cancelled ? 'cancelled' : 'rolled_back';
    } catch (err) {
      const cause = describeFailure(err);
      state.error = {
        type: FAILURE_TYPES.rollbackIncomplete,
        message: `${state.error?.message ?? ''}; then recovery failed: ${cause.message}${point ? ` (restore point ${point.database} is kept)` : ''}`,
      };
      return 'failed';
    }
  }

  async function finishCleanly(point: RestorePoint | null): Promise<void> {
    if (fingerprint) await fingerprint.catch(() => null);
    await quick.dropStaging({ target: input.target, runKey, databases: input.databases });
    if (point) await quick.dropRestorePoint({ target: input.target, restorePoint: point });
  }
}

function tableKey(unit: CopyUnit): string {
  return `${unit.database}\u0000${unit.table}`;
}

function now(): string {
  return new Date().toISOString();
}

/** The readable type and message of whatever ended a step. */
function describeFailure(err: unknown): { type: string; message: string } {
  const cause = err instanceof ActivityFailure && err.cause ? err.cause : err;
  if (isCancellation(err)) return { type: FAILURE_TYPES.cancelled, message: 'the run was cancelled' };
  if (cause instanceof ApplicationFailure) return { type: cause.type ?? 'Error', message: cause.message };
  if (cause instanceof Error) return { type: cause.name, message: cause.message };
  return { type: 'Error', message: String(cause) };
}
