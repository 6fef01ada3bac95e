import type { ClickHouseConnection } from './connection';
import { partitionKeyOf } from './ddl';
import type { StoredColumn } from './fingerprint';
import { INTERNAL_PREFIX } from './scratch';
import { literalOfPartitionText, literalOfTypedValue } from './partition-values';
import { qualifiedName, quoteString, quoteStringList } from './sql';
import { objectKey, tableKey } from '../workflows/table-key';
import { INNER_TABLE_PREFIX } from '../workflows/objects';


/** How an object's data moves, decided by its engine. */
export type ObjectKind =
  /** MergeTree family: copied partition by partition. */
  | 'partitioned'
  /** Log, TinyLog, StripeLog, Memory: copied as one unit. */
  | 'whole-table'
  | 'view'
  | 'materialized-view'
  /** Engines that hold no data of their own, such as Null, Merge, Buffer, Dictionary: schema only. */
  | 'schema-only'
  /** Engines whose data lives outside ClickHouse or cannot be read back: reported, not migrated. */
  | 'unsupported';

/** A table or view as the catalogue describes it. */
export interface TableInfo {
  database: string;
  name: string;
  engine: string;
  kind: ObjectKind;
  createTableQuery: string;
  /** The hidden storage table of a materialized view (`.inner.<name>`): created by its view's DDL. */
  inner: boolean;
  /** Why the table cannot be migrated, for `unsupported` ones. */
  unsupportedReason?: string;
}

/**
 * A column that holds stored data: ordinary, DEFAULT and MATERIALIZED columns. Their stored
 * values are copied as they are, never recomputed; ALIAS columns store nothing.
 */
export interface ColumnInfo extends StoredColumn {
  /** `''`, `DEFAULT` or `MATERIALIZED`, as `system.columns.default_kind` says. */
  defaultKind: string;
}

/** One partition's size from `system.parts` (active parts only). */
export interface PartitionSize {
  partitionId: string;
  rows: number;
  bytesOnDisk: number;
  bytesUncompressed: number;
}

/** Engines whose rows are read and written as one unit (they have no partitions). */
const WHOLE_TABLE_ENGINES = new Set(['Log', 'TinyLog', 'StripeLog', 'Memory', 'Join']);
/**
 * Engines that hold no rows of their own, or only rows on their way elsewhere: created with the
 * same DDL, so that on the target they point at the migrated tables (Merge, Buffer, Distributed
 * over local tables) or at the target's own configuration (Dictionary, the cluster of a
 * Distributed table). Rows still waiting in a Buffer reach the target through the sync passes
 * once the source flushes them.
 */
const SCHEMA_ONLY_ENGINES = new Set(['Null', 'Merge', 'Buffer', 'Dictionary', 'Distributed']);

/** Decides how an engine's data moves, and why when it cannot. */
export function classifyEngine(engine: string): { kind: ObjectKind; reason?: string } {
  if (engine === 'View') return { kind: 'view' };
  if (engine === 'MaterializedView') return { kind: 'materialized-view' };
  if (engine.endsWith('MergeTree')) return { kind: 'partitioned' };
  if (WHOLE_TABLE_ENGINES.has(engine)) return { kind: 'whole-table' };
  if (SCHEMA_ONLY_ENGINES.has(engine)) return { kind: 'schema-only' };
  if (engine === 'Set') return { kind: 'unsupported', reason: 'a Set table cannot be read back with SELECT, so its rows cannot be copied; recreate and refill it on the target' };
  return { kind: 'unsupported', reason: `the ${engine} engine reads from or writes to a system outside ClickHouse; recreate it by hand` };
}

/**
 * Whether what users read from a table of `engine` depends on the order in which its rows
 * arrived. Every MergeTree engine but the plain one merges rows of equal sorting key, and keeps
 * or combines them by their order: Replacing keeps the last row (of a key, or among equal
 * versions), Summing the first value of a column it does not sum, Collapsing and
 * VersionedCollapsing cancel sign rows in pairs in their order, Aggregating keeps `any`/`anyLast`
 * states by order, Graphite rolls up by order, and so may an engine newer than this code. In a
 * partition, merges and `FINAL` take parts in block-number order and a part's rows as stored.
 * Such a table is copied keeping that order (see `copier` in src/activities/transfer.ts) and
 * verified by what `SELECT … FINAL` reads as well as by its rows.
 */
export function mergesByOrder(engine: string): boolean {
  const base = engine.replace(/^(Replicated|Shared)/, '');
  return base.endsWith('MergeTree') && base !== 'MergeTree';
}

/** The value of one setting for the connection's user, as the server reports it. */
export async function settingValue(conn: ClickHouseConnection, name: string): Promise<string | undefined> {
  const [row] = await conn.rows<{ value: string }>(`SELECT value FROM system.settings WHERE name = ${quoteString(name)}`);
  return row?.value;
}

/** Databases that exist, among `names`. */
export async function existingDatabases(conn: ClickHouseConnection, names: readonly string[]): Promise<string[]> {
  if (names.length === 0) return [];
  const rows = await conn.rows<{ name: string }>(`SELECT name FROM system.databases WHERE name IN (${quoteStringList(names)})`);
  return rows.map((r) => r.name);
}

/** The tables and views of `databases`, without the migrator's own tables. */
export async function listTables(conn: ClickHouseConnection, databases: readonly string[]): Promise<TableInfo[]> {
  if (databases.length === 0) return [];
  const rows = await conn.rows<{ database: string; name: string; engine: string; create_table_query: string }>(
    `SELECT database, name, engine, create_table_query FROM system.tables
     WHERE database IN (${quoteStringList(databases)}) AND NOT startsWith(name, ${quoteString(INTERNAL_PREFIX)})
     ORDER BY database, name`,
  );
  return rows.map((row) => {
    const { kind, reason } = classifyEngine(row.engine);
    return {
      database: row.database,
      name: row.name,
      engine: row.engine,
      kind,
      createTableQuery: row.create_table_query,
      inner: row.name.startsWith(INNER_TABLE_PREFIX),
      ...(reason ? { unsupportedReason: reason } : {}),
    };
  });
}

/** Stored columns of a table, in table order. */
export async function listColumns(conn: ClickHouseConnection, database: string, table: string): Promise<ColumnInfo[]> {
  const rows = await conn.rows<ColumnRow>(
    `SELECT name, type, default_kind FROM system.columns WHERE database = ${quoteString(database)} AND table = ${quoteString(table)}`,
  );
  return rows.filter(isStored).map(toColumnInfo);
}

interface ColumnRow {
  name: string;
  type: string;
  default_kind: string;
}

function isStored(row: ColumnRow): boolean {
  return row.default_kind !== 'ALIAS';
}

function toColumnInfo(row: ColumnRow): ColumnInfo {
  return { name: row.name, type: row.type, defaultKind: row.default_kind };
}


/** Active partitions of a MergeTree-family table with their sizes, from metadata only. */
export async function partitionSizes(conn: ClickHouseConnection, database: string, table: string): Promise<PartitionSize[]> {
  const byTable = await partitionsWhere(conn, `database = ${quoteString(database)} AND table = ${quoteString(table)}`);
  return byTable.get(tableKey(database, table)) ?? [];
}

/** Active partitions of every MergeTree-family table in `databases`, keyed by database NUL table: one query. */
export async function partitionSizesIn(conn: ClickHouseConnection, databases: readonly string[]): Promise<Map<string, PartitionSize[]>> {
  if (databases.length === 0) return new Map();
  return partitionsWhere(conn, `database IN (${quoteStringList(databases)})`);
}

/** Active partitions of each of `tables` (database NUL table as key): one query for all of them. */
export async function partitionSizesOf(conn: ClickHouseConnection, tables: readonly TableName[]): Promise<Map<string, PartitionSize[]>> {
  if (tables.length === 0) return new Map();
  return partitionsWhere(conn, tablesCondition(tables));
}

/** A database and a table in it. */
export interface TableName {
  database: string;
  table: string;
}

/**
 * Selects the rows of `tables` in a system table with `database` and `table` columns. The
 * `database IN` lets the server skip the other databases before it looks at their tables.
 */
function tablesCondition(tables: readonly TableName[]): string {
  const databases = [...new Set(tables.map((t) => t.database))];
  const pairs = [...new Set(tables.map((t) => `(${quoteString(t.database)}, ${quoteString(t.table)})`))];
  return `database IN (${quoteStringList(databases)}) AND (database, table) IN (${pairs.join(', ')})`;
}

/** Partition sizes of the active parts `where` selects, by database NUL table, in partition order. */
async function partitionsWhere(conn: ClickHouseConnection, where: string): Promise<Map<string, PartitionSize[]>> {
  const rows = await conn.rows<{ database: string; table: string; partition_id: string; rows: string; bytes_on_disk: string; bytes_uncompressed: string }>(
    `SELECT database, table, partition_id, sum(rows) AS rows, sum(bytes_on_disk) AS bytes_on_disk, sum(data_uncompressed_bytes) AS bytes_uncompressed
     FROM system.parts WHERE active AND ${where}
     GROUP BY database, table, partition_id ORDER BY database, table, partition_id`,
  );
  const byTable = new Map<string, PartitionSize[]>();
  for (const r of rows) {
    const key = tableKey(r.database, r.table);
    const list = byTable.get(key) ?? [];
    list.push({ partitionId: r.partition_id, rows: Number(r.rows), bytesOnDisk: Number(r.bytes_on_disk), bytesUncompressed: Number(r.bytes_uncompressed) });
    byTable.set(key, list);
  }
  return byTable;
}

/** An active part of a table, as `system.parts` names it. */
export interface ActivePart {
  name: string;
  partitionId: string;
  rows: number;
}

/**
 * The active parts of a table, in the order its merges and `FINAL` take them: by partition, then
 * by block number. With `partitionIds`, only theirs.
 */
export async function activeParts(conn: ClickHouseConnection, database: string, table: string, partitionIds?: readonly string[]): Promise<ActivePart[]> {
  if (partitionIds?.length === 0) return [];
  const rows = await conn.rows<{ name: string; partition_id: string; rows: string }>(
    `SELECT name, partition_id, rows FROM system.parts
     WHERE active AND database = ${quoteString(database)} AND table = ${quoteString(table)}${partitionIds ? ` AND partition_id IN (${quoteStringList(partitionIds)})` : ''}
     ORDER BY partition_id, min_block_number, max_block_number`,
  );
  return rows.map((r) => ({ name: r.name, partitionId: r.partition_id, rows: Number(r.rows) }));
}

/**
 * Tables of `databases` that a materialized view reads from (an insert into them fires it), keyed
 * by database NUL table; or null where the server does not say (`system.tables` without
 * `dependencies_table`), and then every table must be assumed to have one.
 */
export async function tablesWithViews(conn: ClickHouseConnection, databases: readonly string[]): Promise<Set<string> | null> {
  const [column] = await conn.rows<{ name: string }>("SELECT name FROM system.columns WHERE database = 'system' AND table = 'tables' AND name = 'dependencies_table'");
  if (!column) return null;
  if (databases.length === 0) return new Set();
  const rows = await conn.rows<{ database: string; name: string }>(
    `SELECT database, name FROM system.tables WHERE database IN (${quoteStringList(databases)}) AND notEmpty(dependencies_table)`,
  );
  return new Set(rows.map(objectKey));
}

/**
 * A condition that selects one partition through its partition key, per partition id: for
 * `PARTITION BY toYYYYMM(d)`, `(toYYYYMM(d)) = 202401`. Unlike `_partition_id = …`, which older
 * servers evaluate row by row over every part, the server prunes parts with it, so a copy of
 * one partition reads that partition only.
 *
 * Each literal is written here from the partition's value (see `partition-values.ts`), never
 * taken as the server's text, then proved: a partition gets a selector only if the selector finds
 * exactly as many rows as the partition holds. The values come first from
 * `system.parts.partition` (which costs no scan), read as literals where that text is one; the
 * partitions not proved that way are asked again for the key's value and its type, as JSON (one
 * scan more). Partitions without one (no partition key, a key the DDL does not state plainly, a
 * value that does not round-trip) are selected by `_partition_id`, which is slower and always right.
 */
export async function partitionSelectors(
  conn: ClickHouseConnection,
  database: string,
  table: string,
  createTableQuery: string,
): Promise<Map<string, string>> {
  const selectors = new Map<string, string>();
  const key = partitionKeyOf(createTableQuery);
  if (!key) return selectors;
  const name = qualifiedName(database, table);
  const fromParts = await conn.rows<{ id: string; rows: string; text: string }>(
    `SELECT partition_id AS id, toString(sum(rows)) AS rows, any(partition) AS text FROM system.parts
     WHERE active AND database = ${quoteString(database)} AND table = ${quoteString(table)} GROUP BY partition_id`,
  );
  const readable = fromParts.map((p) => ({ ...p, literal: literalOfPartitionText(p.text) })).filter(hasLiteral);
  await proveSelectors(conn, name, key, readable, selectors).catch(() => undefined);
  if (selectors.size === fromParts.length) return selectors;
  try {
    const typed = await conn.rows<{ id: string; rows: string; value: unknown; type: string }>(
      `SELECT _partition_id AS id, toString(count()) AS rows, any((${key})) AS value, toTypeName(any((${key}))) AS type FROM ${name} GROUP BY _partition_id`,
    );
    const partitions = typed.filter((p) => !selectors.has(p.id)).map((p) => ({ ...p, literal: literalOfTypedValue(p.value, p.type) })).filter(hasLiteral);
    await proveSelectors(conn, name, key, partitions, selectors);
  } catch {
    // A key the server will not evaluate this way: the partitions not proved yet are selected by their id.
  }
  return selectors;
}

function hasLiteral<T extends { literal: string | null }>(p: T): p is T & { literal: string } {
  return p.literal !== null;
}

/** Adds to `selectors` each of `partitions` whose `(key) = literal` finds exactly its rows (one scan of `name`). */
async function proveSelectors(
  conn: ClickHouseConnection,
  name: string,
  key: string,
  partitions: readonly { id: string; rows: string; literal: string }[],
  selectors: Map<string, string>,
): Promise<void> {
  if (partitions.length === 0) return;
  const set = partitions.length === 1 ? ` = ${partitions[0].literal}` : ` IN (${partitions.map((p) => p.literal).join(', ')})`;
  const found = await conn.rows<{ id: string; rows: string }>(`SELECT _partition_id AS id, count() AS rows FROM ${name} WHERE (${key})${set} GROUP BY id`);
  const foundRows = new Map(found.map((f) => [f.id, String(f.rows)]));
  for (const p of partitions) {
    if (foundRows.get(p.id) === p.rows) selectors.set(p.id, `(${key}) = ${p.literal}`);
  }
}

/** Row count of any readable table. */
export async function countRows(conn: ClickHouseConnection, database: string, table: string): Promise<number> {
  const [row] = await conn.rows<{ rows: string }>(`SELECT count() AS rows FROM ${qualifiedName(database, table)}`);
  return Number(row.rows);
}

/** Free bytes on the server's disks, or null where the server cannot tell (before 19.15). */
export async function freeDiskBytes(conn: ClickHouseConnection): Promise<number | null> {
  const { capabilities } = await conn.server();
  if (!capabilities.systemDisks) return null;
  const [row] = await conn.rows<{ free: string }>('SELECT sum(free_space) AS free FROM system.disks');
  return Number(row.free);
}

/** Stored columns of each of `tables` (database NUL table as key), in table order: one query for all of them. */
export async function columnsOf(conn: ClickHouseConnection, tables: readonly TableName[]): Promise<Map<string, ColumnInfo[]>> {
  if (tables.length === 0) return new Map();
  return columnsByTable(await conn.rows<ColumnRow & { database: string; table: string }>(
    `SELECT database, table, name, type, default_kind FROM system.columns WHERE ${tablesCondition(tables)}`,
  ));
}

/** Stored columns of every table in `databases`, keyed by `database` NUL `table`. */
export async function listAllColumns(conn: ClickHouseConnection, databases: readonly string[]): Promise<Map<string, ColumnInfo[]>> {
  const rows = await conn.rows<ColumnRow & { database: string; table: string }>(
    `SELECT database, table, name, type, default_kind FROM system.columns WHERE database IN (${quoteStringList(databases)})`,
  );
  return columnsByTable(rows);
}

function columnsByTable(rows: (ColumnRow & { database: string; table: string })[]): Map<string, ColumnInfo[]> {
  const byTable = new Map<string, ColumnInfo[]>();
  for (const row of rows.filter(isStored)) {
    const key = tableKey(row.database, row.table);
    const list = byTable.get(key) ?? [];
    list.push(toColumnInfo(row));
    byTable.set(key, list);
  }
  return byTable;
}
