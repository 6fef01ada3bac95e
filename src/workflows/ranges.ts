/**
 * How copies are cut into activities, and what each one is called in the Web UI. Pure: the
 * workflow schedules the ranges, and the activity that plans the copy names them.
 */
import type { CopyUnit, UnitRange } from './types';
import { tableKey } from './table-key';

/**
 * Most copy activities one pass schedules. Beyond this many units, units are batched so that
 * 5,000 partitions cost the same history as 200 (the bulk copy also batches small units: see
 * {@link rangeCuts}).
 */
export const MAX_COPY_ACTIVITIES = 200;

/**
 * The ranges that cover manifest lists of `count` units each, in at most about
 * MAX_COPY_ACTIVITIES ranges (one more per list at most).
 */
export function rangesOf(lists: readonly { list: string; count: number }[]): UnitRange[] {
  const total = lists.reduce((n, l) => n + l.count, 0);
  const size = Math.max(1, Math.ceil(total / MAX_COPY_ACTIVITIES));
  return lists.flatMap(({ list, count }) => Array.from({ length: Math.ceil(count / size) }, (_, i) => ({ list, from: i * size, to: Math.min(count, (i + 1) * size) })));
}

/** Planned bytes (uncompressed) after which a range of small units closes. */
export const RANGE_BYTES = 32 * 2 ** 20;
/** Units after which a range of small units closes, unless the run has too many units for that. */
export const RANGE_UNITS = 50;

/**
 * Where the bulk copy of `units` (a manifest list, in order) is cut into ranges: the end of each
 * range. One activity per unit costs a round trip through Temporal and a few catalogue reads per
 * unit, which dominate small units; so small units share a range until it holds RANGE_BYTES or
 * RANGE_UNITS units, while a unit of RANGE_BYTES or more stays alone. Every lane still gets about
 * four ranges or more, so the lanes finish together, and there are never more than about
 * MAX_COPY_ACTIVITIES ranges.
 */
export function rangeCuts(units: readonly { bytes: number }[], parallelism: number): number[] {
  const atLeast = Math.max(1, Math.ceil(units.length / MAX_COPY_ACTIVITIES));
  const balanced = Math.max(1, Math.ceil(units.length / (Math.max(1, parallelism) * 4)));
  const atMost = Math.max(atLeast, Math.min(RANGE_UNITS, balanced));
  const cuts: number[] = [];
  let count = 0;
  let bytes = 0;
  units.forEach((unit, i) => {
    count += 1;
    bytes += unit.bytes;
    if (count >= atMost || (count >= atLeast && bytes >= RANGE_BYTES) || i === units.length - 1) {
      cuts.push(i + 1);
      count = 0;
      bytes = 0;
    }
  });
  return cuts;
}

/** The ranges of `list` that end at `cuts` (see {@link rangeCuts}). */
export function rangesAt(list: string, cuts: readonly number[]): UnitRange[] {
  return cuts.map((to, i) => ({ list, from: i === 0 ? 0 : cuts[i - 1], to }));
}

/**
 * A one-line summary of a copy of `units`, as the Web UI shows it on the activity (plain text): the first
 * table with the partitions it copies, how many more tables, and the rows, such as
 * `copy shop.events 202401–202406 (1.2 M rows)` or `copy shop.a and 49 more tables (50 k rows)`.
 */
export function copyLabel(units: readonly Pick<CopyUnit, 'database' | 'table' | 'partitionId' | 'partitionIds' | 'partitioned' | 'rows'>[]): string {
  if (units.length === 0) return 'copy nothing';
  const first = units[0];
  const ofFirst = units.filter((u) => u.database === first.database && u.table === first.table);
  const partitions = ofFirst.flatMap((u) => u.partitionIds ?? [u.partitionId]);
  const span = !first.partitioned ? '' : partitions.length === 1 ? ` ${partitions[0]}` : ` ${partitions[0]}–${partitions[partitions.length - 1]}`;
  const tables = new Set(units.map((u) => tableKey(u.database, u.table))).size;
  const more = tables > 1 ? ` and ${tables - 1} more table${tables > 2 ? 's' : ''}` : '';
  return `copy ${first.database}.${first.table}${span}${more} (${countLabel(units.reduce((n, u) => n + u.rows, 0))} rows)`;
}

/** A count as people read it: 950, 12 k, 1.2 M, 3.4 G. */
export function countLabel(n: number): string {
  const scales: [number, string][] = [[1e9, 'G'], [1e6, 'M'], [1e3, 'k']];
  for (const [scale, suffix] of scales) {
    // 999,999 reads as 1 M, not 1000 k.
    if (n >= scale * 0.9995) return `${(n / scale).toFixed(n >= scale * 9.95 ? 0 : 1).replace(/\.0$/, '')} ${suffix}`;
  }
  return String(n);
}
