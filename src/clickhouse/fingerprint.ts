/**
 * The fingerprint that verification, backup and rollback compare: per partition, the row count
 * and the sum, modulo 2^64, of one 64-bit hash per row.
 *
 * Choices, briefly:
 * - Sum, not XOR: a duplicated row adds its hash twice instead of cancelling out, and the sum
 *   does not depend on row order, so the source and the target can be scanned independently.
 * - Every stored column takes part: ordinary, DEFAULT and MATERIALIZED (their stored values are
 *   what is copied); ALIAS columns store nothing.
 * - No row contributes nothing: `cityHash64(…, NULL)` is NULL and `sum()` skips it, so a
 *   Nullable column is hashed as two arguments, `isNull(c)` and its value with NULL replaced by
 *   the type's default. NULL, `''` and `'\N'` then hash differently.
 * - Each column is hashed in the first of {@link VALUE_FORMS} that the server accepts for its
 *   type, asked of the server itself rather than read from a type grammar: as stored where
 *   `cityHash64` takes the type, else a canonical form (the bytes of a Decimal, the text of a
 *   UUID or of a container holding NULLs).
 * - Aggregate function states (alone or in arrays) are hashed by their result
 *   (`finalizeAggregation`). Their bytes are not stable: measured on 18.16, every copy of a
 *   `uniq`, `uniqExact` or `groupUniqArray` state serializes its hash table in another order,
 *   and no function exposes the elements of such a set. The result is stable, and a change of
 *   a state that changes its result is detected. A change that keeps the result (one single-
 *   element `uniq` set for another) is not: it can show only after the state is merged with
 *   others.
 */
import type { ClickHouseConnection, ConnectionSettings } from './connection';
import { ClickHouseQueryError } from './errors';
import { qualifiedName, quoteIdentifier, quoteString, quoteStringList } from './sql';

/** A column whose values are stored, with its type as the server names it. */
export interface StoredColumn {
  name: string;
  type: string;
  /** What is hashed instead of the column itself, a value of `type` (a conversion of the column, say). */
  expression?: string;
}

/** Row count and order-independent checksum of one partition (or of a whole table, as `all`). */
export interface PartitionDigest {
  partitionId: string;
  rows: number;
  /** Sum, modulo 2^64, of one hash per row over every stored column (see the module comment). */
  checksum: string;
}

/**
 * How a non-NULL value of a column enters the row hash, in order of preference; the first form
 * the server accepts for the column's type is used.
 */
const VALUE_FORMS: readonly ((value: string) => string)[] = [
  // As stored: numbers, strings, dates, enums, and arrays and tuples of them.
  (v) => v,
  // Aggregate states by their result; an array result sorted, since states built from hash
  // tables (groupUniqArray) list their elements in another order after a copy.
  (v) => `arraySort(finalizeAggregation(${v}))`,
  (v) => `finalizeAggregation(${v})`,
  (v) => `toString(finalizeAggregation(${v}))`,
  (v) => `arrayMap(x -> finalizeAggregation(x), ${v})`,
  // Decimal by the bytes of its integer (ClickHouse 18.16's toString of Decimal128 reads
  // uninitialised memory and can crash the server).
  (v) => `reinterpretAsString(${v})`,
  (v) => `arrayMap(x -> reinterpretAsString(x), ${v})`,
  // The server's text form of anything else: UUID, and containers holding NULLs.
  (v) => `toString(${v})`,
];

/** Thrown when the server accepts none of the hash forms for a column's type. */
export class UnhashableColumnError extends Error {
  constructor(
    readonly table: string,
    readonly column: string,
    readonly type: string,
    readonly serverMessage: string,
  ) {
    super(`cannot fingerprint ${table}.${column} (${type}): ${serverMessage}`);
    this.name = 'UnhashableColumnError';
  }
}

/** Form index per server and column type: a type is probed once per server, however many tables use it. */
const formCache = new Map<string, number>();

function isNullable(type: string): boolean {
  return type.startsWith('Nullable(') || type.startsWith('LowCardinality(Nullable(');
}

/** The arguments a column adds to its row's `cityHash64`. */
function hashArguments(column: StoredColumn, form: number): string {
  const name = column.expression ?? quoteIdentifier(column.name);
  if (!isNullable(column.type)) return VALUE_FORMS[form](name);
  return `isNull(${name}), ${VALUE_FORMS[form](`assumeNotNull(${name})`)}`;
}

/**
 * Asks the server, per column type not seen before, which hash form it accepts, by planning
 * `SELECT cityHash64(<form>) … LIMIT 0` against the table itself (no rows are read). Most types
 * take the first form, so all new types are tried with it in one statement first.
 */
async function hashForms(conn: ClickHouseConnection, database: string, table: string, columns: readonly StoredColumn[]): Promise<number[]> {
  const server = `${conn.endpoint.url}\u0000${(await conn.server()).version}`;
  const keyOf = (column: StoredColumn) => `${server}\u0000${column.type}`;
  const unknown = columns.filter((c) => !formCache.has(keyOf(c)));
  if (unknown.length > 1 && (await accepts(conn, database, table, unknown.map((c) => hashArguments(c, 0))))) {
    for (const column of unknown) formCache.set(keyOf(column), 0);
  }
  for (const column of columns) {
    if (!formCache.has(keyOf(column))) formCache.set(keyOf(column), await probeForm(conn, database, table, column));
  }
  return columns.map((c) => formCache.get(keyOf(c)) as number);
}

async function accepts(conn: ClickHouseConnection, database: string, table: string, hashArgumentLists: string[]): Promise<boolean> {
  try {
    await conn.rows(`SELECT ${hashArgumentLists.map((args) => `cityHash64(${args})`).join(', ')} FROM ${qualifiedName(database, table)} LIMIT 0`);
    return true;
  } catch {
    return false;
  }
}

async function probeForm(conn: ClickHouseConnection, database: string, table: string, column: StoredColumn): Promise<number> {
  let lastMessage = '';
  for (let form = 0; form < VALUE_FORMS.length; form++) {
    try {
      await conn.rows(`SELECT cityHash64(${hashArguments(column, form)}) FROM ${qualifiedName(database, table)} LIMIT 0`);
      return form;
    } catch (err) {
      lastMessage = (err as Error).message;
    }
  }
  throw new UnhashableColumnError(`${database}.${table}`, column.name, column.type, lastMessage);
}

/** The expression that hashes one row of `table`: every stored column, NULL-safe. */
async function rowHashExpression(conn: ClickHouseConnection, database: string, table: string, columns: readonly StoredColumn[]): Promise<string> {
  const forms = await hashForms(conn, database, table, columns);
  return `cityHash64(${columns.map((c, i) => hashArguments(c, forms[i])).join(', ')})`;
}

/**
 * Count and checksum per partition, in one scan. Partitioned tables group by `_partition_id`;
 * other tables give a single `all` digest. `from` replaces the table as the scanned source
 * (a subquery over a few rows, say); the hash forms are still asked of `table`. With `final`, the
 * rows are those `SELECT … FINAL` reads: what users of a merging engine read once its rows of
 * equal key are merged (a sum over rows cannot see their order; this can).
 */
export async function partitionDigests(
  conn: ClickHouseConnection,
  database: string,
  table: string,
  columns: readonly StoredColumn[],
  options: { partitioned: boolean; from?: string; final?: boolean; settings?: ConnectionSettings; partitionIds?: readonly string[] },
): Promise<PartitionDigest[]> {
  if (options.partitioned && options.partitionIds?.length === 0) return [];
  const hash = await rowHashExpression(conn, database, table, columns);
  const key = options.partitioned ? '_partition_id' : quoteString('all');
  const rows = await conn.rows<{ __m_pid: string; __m_rows: string; __m_sum: string }>(
    `SELECT ${key} AS __m_pid, count() AS __m_rows, sum(${hash}) AS __m_sum
     FROM ${options.from ?? qualifiedName(database, table)}${options.final ? ' FINAL' : ''}${options.partitionIds && options.partitioned ? ` WHERE _partition_id IN (${quoteStringList(options.partitionIds)})` : ''} GROUP BY __m_pid ORDER BY __m_pid`,
    options.settings,
  );
  return rows.map((r) => ({ partitionId: r.__m_pid, rows: Number(r.__m_rows), checksum: String(r.__m_sum) }));
}

/** ClickHouse's error code for a table that cannot be read with FINAL. */
const ILLEGAL_FINAL = 181;
/** Whether a server reads tables of an engine with FINAL, per server and engine. */
const finalCache = new Map<string, boolean>();

/**
 * Whether the server reads `table` with `SELECT … FINAL`, asked of the server with a plan that
 * reads no rows (18.16 refuses FINAL on GraphiteMergeTree, for one). The answer holds for every
 * table of the engine on that server.
 */
export async function readsFinal(conn: ClickHouseConnection, database: string, table: string, engine: string): Promise<boolean> {
  const key = `${conn.endpoint.url}\u0000${(await conn.server()).version}\u0000${engine}`;
  let known = finalCache.get(key);
  if (known === undefined) {
    known = await conn.rows(`SELECT 1 FROM ${qualifiedName(database, table)} FINAL LIMIT 0`).then(
      () => true,
      (err: unknown) => {
        if (err instanceof ClickHouseQueryError && err.code === ILLEGAL_FINAL) return false;
        throw err;
      },
    );
    finalCache.set(key, known);
  }
  return known;
}

/** The sum of partition checksums, modulo 2^64: one checksum for a whole table. */
export function combinedChecksum(digests: readonly PartitionDigest[]): string {
  return (digests.reduce((sum, d) => sum + BigInt(d.checksum), 0n) % 2n ** 64n).toString();
}
