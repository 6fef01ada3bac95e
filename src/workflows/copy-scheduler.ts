import { long } from './activity-stubs';
import { MAX_COPY_ACTIVITIES } from './ranges';
import { inBatches } from './state';
import type { CopyResult, CopyUnit, EndpointRef, MigrationOptions, MigrationState, Progress, RangeCopyResult, TransferMode, TransferPath, UnitRange } from './types';
import { tableKey } from './table-key';

/** What a copy pass needs to know about its run. */
export interface CopyPass {
  runKey: string;
  source: EndpointRef;
  target: EndpointRef;
  path: TransferPath;
  parallelism: number;
  /** The run's mode, where it names one (`data`: copy the columns the existing tables share with the source). */
  mode?: TransferMode;
  /** The run's progress, advanced as batches land; absent for sync passes, which report apart. */
  progress?: Progress;
  /** Called before each range of units starts (the maintenance window); may wait, or throw to stop the copy. */
  beforeRange?: () => Promise<void>;
  /** The run's rate limits (`options`); each lane keeps its share (see {@link perLane}). */
  limits?: Pick<MigrationOptions, 'maxBytesPerSecond' | 'maxRowsPerSecond'>;
}

/** The limits one copy activity keeps (see src/activities/throttle.ts). */
export interface LaneRate {
  bytesPerSecond?: number;
  rowsPerSecond?: number;
}

/**
 * Each lane's share of the run's limits: copies run `lanes` at once, possibly on several workers,
 * each with buckets of its own, so that together they keep the run's limits. Undefined without limits.
 */
export function perLane(limits: CopyPass['limits'], lanes: number): LaneRate | undefined {
  const n = Math.max(1, lanes);
  const share: LaneRate = {
    ...(limits?.maxBytesPerSecond ? { bytesPerSecond: limits.maxBytesPerSecond / n } : {}),
    ...(limits?.maxRowsPerSecond ? { rowsPerSecond: limits.maxRowsPerSecond / n } : {}),
  };
  return share.bytesPerSecond || share.rowsPerSecond ? share : undefined;
}

/** The activity argument that carries a lane's share of the limits: nothing without limits, so a plain run's input stays as it was. */
function rateOf(pass: CopyPass, jobs: number): { rate?: LaneRate } {
  const rate = perLane(pass.limits, Math.min(pass.parallelism, jobs));
  return rate ? { rate } : {};
}

/** `state.rate`: the run's limits, and what the bulk copy reached so far in `ms` (bytes as counted in `progress.bytesCopied`). */
export function reachedRate(limits: CopyPass['limits'], progress: Progress, ms: number): NonNullable<MigrationState['rate']> {
  const perSecond = (n: number) => (ms > 0 && progress.unitsDone > 0 ? Math.round((n / ms) * 1000) : null);
  return {
    maxBytesPerSecond: limits?.maxBytesPerSecond ?? null,
    maxRowsPerSecond: limits?.maxRowsPerSecond ?? null,
    bytesPerSecond: perSecond(progress.bytesCopied),
    rowsPerSecond: perSecond(progress.rowsCopied),
  };
}

/** Progress at the start of the bulk copy of `units`. */
export function progressOf(units: readonly CopyUnit[]): Progress {
  return {
    tablesTotal: new Set(units.map(keyOf)).size,
    tablesDone: 0,
    unitsTotal: units.length,
    unitsDone: 0,
    rowsTotal: units.reduce((sum, u) => sum + u.rows, 0),
    rowsCopied: 0,
    bytesCopied: 0,
  };
}

/**
 * Runs `work` for every job, at most `parallelism` at once. On the first failure no new job
 * starts, and the jobs in flight finish before the error reaches the caller, who may roll back:
 * a copy that landed after the rollback would undo it.
 */
export async function inLanes<J>(jobs: readonly J[], parallelism: number, work: (job: J) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | null = null;
  async function lane(): Promise<void> {
    while (next < jobs.length && !failure) await work(jobs[next++]);
  }
  const lanes = Array.from({ length: Math.max(1, Math.min(parallelism, jobs.length)) }, () =>
    lane().catch((error: unknown) => {
      failure ??= { error };
    }),
  );
  await Promise.all(lanes);
  if (failure) throw (failure as { error: unknown }).error;
}

/** Copies units in batches (see {@link inLanes}), updating progress as each batch lands. */
export async function copyAll(units: CopyUnit[], pass: CopyPass): Promise<CopyResult> {
  const remaining = new Map<string, number>();
  for (const unit of units) remaining.set(keyOf(unit), (remaining.get(keyOf(unit)) ?? 0) + 1);
  const batches = inBatches(units, Math.ceil(units.length / MAX_COPY_ACTIVITIES));
  const total: CopyResult = { rows: 0, bytes: 0 };
  const rate = rateOf(pass, batches.length);
  await inLanes(batches, pass.parallelism, async (batch) => {
    const result = await long.copyUnits({ runKey: pass.runKey, source: pass.source, target: pass.target, units: batch, path: pass.path, ...rate });
    total.rows += result.rows;
    total.bytes += result.bytes;
    if (pass.progress) advance(pass.progress, batch, result, remaining);
  });
  return total;
}

/**
 * Copies units that the run's manifest holds, range by range (see {@link inLanes}); progress
 * advances as each range lands, then `landed` hears of its result. Each copy activity carries its
 * range's summary (the Web UI shows it in the event history), or one that counts its units.
 */
export async function copyRanges(ranges: (UnitRange & { summary?: string })[], pass: CopyPass, landed: (result: RangeCopyResult) => void): Promise<CopyResult> {
  const total: CopyResult = { rows: 0, bytes: 0 };
  const rate = rateOf(pass, ranges.length);
  await inLanes(ranges, pass.parallelism, async ({ summary, ...range }) => {
    if (pass.beforeRange) await pass.beforeRange();
    const result = await long.copyUnitRange.executeWithOptions({ summary: summary ?? `copy units ${range.from + 1}–${range.to} of ${range.list}` }, [
      { runKey: pass.runKey, source: pass.source, target: pass.target, range, path: pass.path, ...rate, ...(pass.mode ? { mode: pass.mode } : {}) },
    ]);
    total.rows += result.rows;
    total.bytes += result.bytes;
    if (pass.progress) {
      pass.progress.rowsCopied += result.rows;
      pass.progress.bytesCopied += result.bytes;
      pass.progress.unitsDone += result.units;
      pass.progress.tablesDone = Math.min(pass.progress.tablesTotal, pass.progress.tablesDone + result.tablesDone);
    }
    landed(result);
  });
  return total;
}

function advance(progress: Progress, batch: CopyUnit[], result: CopyResult, remaining: Map<string, number>): void {
  progress.rowsCopied += result.rows;
  progress.bytesCopied += result.bytes;
  progress.unitsDone += batch.length;
  for (const unit of batch) {
    const left = (remaining.get(keyOf(unit)) ?? 1) - 1;
    remaining.set(keyOf(unit), left);
    if (left === 0) progress.tablesDone = Math.min(progress.tablesTotal, progress.tablesDone + 1);
  }
}

function keyOf(unit: CopyUnit): string {
  return tableKey(unit.database, unit.table);
}
