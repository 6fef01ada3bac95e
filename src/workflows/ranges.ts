/**
 * How copies are cut into activities, and what each one is called in the Web UI. Pure: the
 * workflow schedules the ranges, and the activity that plans the copy names them.
 */
import type { CopyUnit, UnitRange } from './types';

/**
 * Most copy activities one pass schedules. Up to this many units, each unit is its own activity
 * (fine-grained progress, and a unit that finished is never copied again); beyond it, units are
 * batched so that 5,000 partitions cost the same history as 200.
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
  const tables = new Set(units.map((u) => `${u.database}\u0000${u.table}`)).size;
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
