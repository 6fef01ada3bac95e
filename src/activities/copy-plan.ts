import type { ActivePart, PartitionSize } from '../clickhouse/catalog';
import type { CopyUnit } from '../workflows/types';

/**
 * Uncompressed bytes up to which partitions of one table are copied together, by one statement.
 * A partition this large or larger goes alone, so a big table still copies in parallel, one
 * partition per statement; below it, the per-statement cost (a round trip and a few
 * milliseconds of server work per statement) would outweigh the data.
 */
export const GROUP_BYTES = 64 * 2 ** 20;

/** What the plan knows of one partitioned table. */
export interface PlannedTable {
  database: string;
  table: string;
  /** Active partitions on the source. */
  partitions: PartitionSize[];
  /** Partitions only the target has: copying them empties them. */
  extraOnTarget: string[];
  /** The run created the table and nothing on the target reads from it (no materialized view): it may be filled directly. */
  direct: boolean;
}

/**
 * The units of one partitioned table, in partition order: consecutive partitions are grouped
 * while the group stays under {@link GROUP_BYTES}. A single group holding every partition is the
 * whole table and needs no condition. Partitions only the target has go last, one group.
 */
export function planUnits(table: PlannedTable, groupBytes = GROUP_BYTES): CopyUnit[] {
  const base = { database: table.database, table: table.table, partitioned: true };
  const groups: PartitionSize[][] = [];
  let bytes = 0;
  for (const p of [...table.partitions].sort((a, b) => a.partitionId.localeCompare(b.partitionId))) {
    const current = groups[groups.length - 1];
    if (current && bytes + p.bytesUncompressed < groupBytes) {
      current.push(p);
      bytes += p.bytesUncompressed;
    } else {
      groups.push([p]);
      bytes = p.bytesUncompressed;
    }
  }
  const units: CopyUnit[] = groups.map((group) => ({
    ...base,
    partitionId: group[0].partitionId,
    ...(group.length > 1 ? { partitionIds: group.map((p) => p.partitionId) } : {}),
    rows: group.reduce((n, p) => n + p.rows, 0),
    bytes: group.reduce((n, p) => n + p.bytesUncompressed, 0),
    ...(table.direct ? { direct: true } : {}),
  }));
  if (units.length === 1 && table.extraOnTarget.length === 0) units[0].whole = true;
  if (table.extraOnTarget.length > 0) {
    const [first, ...rest] = table.extraOnTarget;
    units.push({ ...base, partitionId: first, ...(rest.length > 0 ? { partitionIds: table.extraOnTarget } : {}), rows: 0, bytes: 0 });
  }
  return units;
}

/** Every partition id a unit covers. */
export function partitionIdsOf(unit: CopyUnit): string[] {
  return unit.partitionIds ?? [unit.partitionId];
}

/**
 * The parts of an ordered copy, in rounds: round k holds the k-th part (in block order) of every
 * partition that has one. One statement reads a round, so a partition's parts arrive one after
 * the other, in order; parts of different partitions never merge together, so they may share one.
 */
export function partRounds(parts: readonly ActivePart[]): string[][] {
  const rounds: string[][] = [];
  const seen = new Map<string, number>();
  for (const part of parts) {
    const k = seen.get(part.partitionId) ?? 0;
    seen.set(part.partitionId, k + 1);
    (rounds[k] ??= []).push(part.name);
  }
  return rounds;
}
