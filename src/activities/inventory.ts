import { countRows, listTables, partitionSizesIn, type TableInfo } from '../clickhouse/catalog';
import type { ClickHouseConnection } from '../clickhouse/connection';
import type { PlannedObject } from '../workflows/types';
import { objectKey } from '../workflows/table-key';
import type { TableFilters } from '../workflows/scope';
import { splitByScope, type ExcludedObject } from './scope';

/** Creation order: tables, then objects that only hold schema, then views, then materialized views. */
const CREATION_ORDER: Record<TableInfo['kind'], number> = {
  partitioned: 0,
  'whole-table': 0,
  'schema-only': 1,
  view: 2,
  'materialized-view': 3,
  unsupported: 4,
};

export { holdsData, isView } from '../workflows/objects';

/** Sorts objects into the order the target must create them in (inner tables last: their view creates them). */
export function inCreationOrder<T extends Pick<TableInfo, 'kind' | 'inner' | 'database' | 'name'>>(objects: T[]): T[] {
  return [...objects].sort(
    (a, b) =>
      Number(a.inner) - Number(b.inner) ||
      CREATION_ORDER[a.kind] - CREATION_ORDER[b.kind] ||
      a.database.localeCompare(b.database) ||
      a.name.localeCompare(b.name),
  );
}

/**
 * The objects of `databases` on `source` that `filters` keep in scope, with their sizes, in
 * creation order, and those the filters leave out: the one place a run's scope is decided, so
 * every step after it (checks, plan, copy, verification, rollback) sees only what is in scope.
 */
export async function takeInventory(source: ClickHouseConnection, databases: readonly string[], filters?: TableFilters): Promise<{
  objects: PlannedObject[];
  unsupported: TableInfo[];
  excluded: ExcludedObject[];
}> {
  const { inScope: tables, excluded } = splitByScope(await listTables(source, databases), filters);
  // Every table's partitions in one query: a query per table costs minutes at 10,000 tables.
  const partitions = await partitionSizesIn(source, databases);
  const objects: PlannedObject[] = [];
  for (const table of inCreationOrder(tables.filter((t) => t.kind !== 'unsupported'))) {
    const sizes = table.kind === 'partitioned' ? (partitions.get(objectKey(table)) ?? []) : [];
    const rows = table.kind === 'whole-table' ? await countRows(source, table.database, table.name) : sizes.reduce((n, p) => n + p.rows, 0);
    objects.push({
      database: table.database,
      name: table.name,
      engine: table.engine,
      kind: table.kind,
      inner: table.inner,
      createTableQuery: table.createTableQuery,
      rows,
      bytesOnDisk: sizes.reduce((n, p) => n + p.bytesOnDisk, 0),
      partitions: sizes.length,
    });
  }
  return { objects, unsupported: tables.filter((t) => t.kind === 'unsupported'), excluded };
}
