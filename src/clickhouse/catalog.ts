import type { ClickHouseConnection } from './connection';
import { partitionKeyOf } from './ddl';
import { qualifiedName, quoteIdentifier, quoteString, quoteStringList, splitTopLevel } from './sql';

/** Tables whose names start with this are the migrator's own (staging, dry runs); catalogue reads skip them. */
export const INTERNAL_PREFIX = '__migrator_';

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

/** A column that holds stored data (MATERIALIZED and ALIAS columns are recomputed, not copied). */
export interface ColumnInfo {
  name: string;
  type: string;
}

/** One partition's size from `system.parts` (active parts only). */
export interface PartitionSize {
  partitionId: string;
  rows: number;
  bytesOnDisk: number;
  bytesUncompressed: number;
}

/** Row count and order-independent checksum of one partition (or of a whole table, as `all`). */
export interface PartitionDigest {
  partitionId: string;
  rows: number;
  /** Sum, modulo 2^64, of `cityHash64` over each row's stored columns: duplicates never cancel out. */
  checksum: string;
}

const WHOLE_TABLE_ENGINES = new Set(['Log', 'TinyLog', 'StripeLog', 'Memory']);
const SCHEMA_ONLY_ENGINES = new Set(['Null', 'Merge', 'Buffer', 'Dictionary']);

/** Decides how an engine's data moves, and why when it cannot. */
export function classifyEngine(engine: string): { kind: ObjectKind; reason?: string } {
  if (engine === 'View') return { kind: 'view' };
  if (engine === 'MaterializedView') return { kind: 'materialized-view' };
  if (engine.endsWith('MergeTree')) return { kind: 'partitioned' };
  if (WHOLE_TABLE_ENGINES.has(engine)) return { kind: 'whole-table' };
  if (SCHEMA_ONLY_ENGINES.has(engine)) return { kind: 'schema-only' };
  if (engine === 'Distributed') return { kind: 'unsupported', reason: 'Distributed tables point at a cluster that is not migrated; recreate them for the target cluster' };
  if (engine === 'Set' || engine === 'Join') return { kind: 'unsupported', reason: `${engine} tables cannot be read back with SELECT` };
  return { kind: 'unsupported', reason: `the ${engine} engine reads from or writes to a system outside ClickHouse; recreate it by hand` };
}

/** Databases that exist, among `names`. */
export async function existingDatabases(conn: ClickHouseConnection, names: readonly string[]): Promise<string[]> {
  const rows = await conn.rows<{ name: string }>(`SELECT name FROM system.databases WHERE name IN (${quoteStringList(names)})`);
  return rows.map((r) => r.name);
}

/** The tables and views of `databases`, without the migrator's own tables. */
export async function listTables(conn: ClickHouseConnection, databases: readonly string[]): Promise<TableInfo[]> {
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
      inner: row.name.startsWith('.inner'),
      ...(reason ? { unsupportedReason: reason } : {}),
    };
  });
}

/** Stored columns of a table, in table order. */
export async function listColumns(conn: ClickHouseConnection, database: string, table: string): Promise<ColumnInfo[]> {
  const rows = await conn.rows<{ name: string; type: string; default_kind: string }>(
    `SELECT name, type, default_kind FROM system.columns WHERE database = ${quoteString(database)} AND table = ${quoteString(table)}`,
  );
  return rows.filter((c) => c.default_kind !== 'MATERIALIZED' && c.default_kind !== 'ALIAS').map(({ name, type }) => ({ name, type }));
}

/** Active partitions of a MergeTree-family table with their sizes, from metadata only. */
export async function partitionSizes(conn: ClickHouseConnection, database: string, table: string): Promise<PartitionSize[]> {
  const rows = await conn.rows<{ partition_id: string; rows: string; bytes_on_disk: string; bytes_uncompressed: string }>(
    `SELECT partition_id, sum(rows) AS rows, sum(bytes_on_disk) AS bytes_on_disk, sum(data_uncompressed_bytes) AS bytes_uncompressed
     FROM system.parts WHERE active AND database = ${quoteString(database)} AND table = ${quoteString(table)}
     GROUP BY partition_id ORDER BY partition_id`,
  );
  return rows.map((r) => ({
    partitionId: r.partition_id,
    rows: Number(r.rows),
    bytesOnDisk: Number(r.bytes_on_disk),
    bytesUncompressed: Number(r.bytes_uncompressed),
  }));
}

/**
 * A condition that selects one partition through its partition key, per partition id: for
 * `PARTITION BY toYYYYMM(d)`, `(toYYYYMM(d)) = 202401`. Unlike `_partition_id = …`, which older
 * servers evaluate row by row over every part, the server prunes parts with it, so a copy of
 * one partition reads that partition only.
 *
 * The literals are written by the server itself (`FORMAT Values`), then proved: a partition gets
 * a selector only if the selector finds exactly as many rows as the partition holds. Partitions
 * without one (no partition key, a key the DDL does not state plainly, a value that does not
 * round-trip) are selected by `_partition_id`, which is slower and always right.
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
  try {
    // Rows of `FORMAT Values`: ('<id>',<count>,<key value as a literal>)
    const values = await conn.text(`SELECT _partition_id, count(), any((${key})) FROM ${name} GROUP BY _partition_id FORMAT Values`);
    const partitions = splitTopLevel(values.trim(), ',')
      .filter((row) => row.startsWith('(') && row.endsWith(')'))
      .map((row) => splitTopLevel(row.slice(1, -1), ','))
      .filter((fields) => fields.length === 3 && /^'[\w-]+'$/.test(fields[0]) && fields[2] !== 'NULL')
      .map(([id, rows, literal]) => ({ id: id.slice(1, -1), rows, literal }));
    if (partitions.length === 0) return selectors;
    const set = partitions.length === 1 ? ` = ${partitions[0].literal}` : ` IN (${partitions.map((p) => p.literal).join(', ')})`;
    const found = await conn.rows<{ id: string; rows: string }>(
      `SELECT _partition_id AS id, count() AS rows FROM ${name} WHERE (${key})${set} GROUP BY id`,
    );
    const foundRows = new Map(found.map((f) => [f.id, String(f.rows)]));
    for (const p of partitions) {
      if (foundRows.get(p.id) === p.rows) selectors.set(p.id, `(${key}) = ${p.literal}`);
    }
  } catch {
    // A key the server will not evaluate this way: every partition is selected by its id.
    selectors.clear();
  }
  return selectors;
}

/** Row count of any readable table. */
export async function countRows(conn: ClickHouseConnection, database: string, table: string): Promise<number> {
  const [row] = await conn.rows<{ rows: string }>(`SELECT count() AS rows FROM ${qualifiedName(database, table)}`);
  return Number(row.rows);
}

/** The expression that hashes one row's stored columns. */
export function rowHashExpression(columns: readonly ColumnInfo[]): string {
  return `cityHash64(${columns.map((c) => quoteIdentifier(c.name)).join(', ')})`;
}

/**
 * Count and checksum per partition, in one scan. `partitioned` tables group by `_partition_id`;
 * other tables give a single `all` digest. `onlyPartition` restricts the scan to one partition.
 */
export async function partitionDigests(
  conn: ClickHouseConnection,
  database: string,
  table: string,
  columns: readonly ColumnInfo[],
  partitioned: boolean,
  onlyPartition?: string,
): Promise<PartitionDigest[]> {
  const key = partitioned ? '_partition_id' : quoteString('all');
  const where = onlyPartition !== undefined && partitioned ? ` WHERE _partition_id = ${quoteString(onlyPartition)}` : '';
  const rows = await conn.rows<{ __m_pid: string; __m_rows: string; __m_sum: string }>(
    `SELECT ${key} AS __m_pid, count() AS __m_rows, sum(${rowHashExpression(columns)}) AS __m_sum
     FROM ${qualifiedName(database, table)}${where} GROUP BY __m_pid ORDER BY __m_pid`,
  );
  return rows.map((r) => ({ partitionId: r.__m_pid, rows: Number(r.__m_rows), checksum: String(r.__m_sum) }));
}

/** Free bytes on the server's disks, or null where the server cannot tell (before 19.15). */
export async function freeDiskBytes(conn: ClickHouseConnection): Promise<number | null> {
  const { capabilities } = await conn.server();
  if (!capabilities.systemDisks) return null;
  const [row] = await conn.rows<{ free: string }>('SELECT sum(free_space) AS free FROM system.disks');
  return Number(row.free);
}

/** Stored columns of every table in `databases`, keyed by `database` NUL `table`. */
export async function listAllColumns(conn: ClickHouseConnection, databases: readonly string[]): Promise<Map<string, ColumnInfo[]>> {
  const rows = await conn.rows<{ database: string; table: string; name: string; type: string; default_kind: string }>(
    `SELECT database, table, name, type, default_kind FROM system.columns WHERE database IN (${quoteStringList(databases)})`,
  );
  const byTable = new Map<string, ColumnInfo[]>();
  for (const row of rows) {
    if (row.default_kind === 'MATERIALIZED' || row.default_kind === 'ALIAS') continue;
    const key = `${row.database}\u0000${row.table}`;
    byTable.set(key, [...(byTable.get(key) ?? []), { name: row.name, type: row.type }]);
  }
  return byTable;
}
