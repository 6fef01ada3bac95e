import { long } from './activity-stubs';
import { MAX_COPY_ACTIVITIES } from './ranges';
import { inBatches } from './state';
import type { CopyResult, CopyUnit, EndpointRef, Progress, RangeCopyResult, TransferPath, UnitRange } from './types';
import { tableKey } from './table-key';

/** What a copy pass needs to know about its run. */
export interface CopyPass {
  runKey: string;
  source: EndpointRef;
  target: EndpointRef;
  path: TransferPath;
  parallelism: number;
  /** The run's progress, advanced as batches land; absent for sync passes, which report apart. */
  progress?: Progress;
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
  await inLanes(batches, pass.parallelism, async (batch) => {
    const result = await long.copyUnits({ runKey: pass.runKey, source: pass.source, target: pass.target, units: batch, path: pass.path });
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
  await inLanes(ranges, pass.parallelism, async ({ summary, ...range }) => {
    const result = await long.copyUnitRange.executeWithOptions({ summary: summary ?? `copy units ${range.from + 1}–${range.to} of ${range.list}` }, [
      { runKey: pass.runKey, source: pass.source, target: pass.target, range, path: pass.path },
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
