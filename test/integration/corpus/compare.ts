/**
 * Reads tables the same way on either server, independently of the product's own checksums:
 * rows as TabSeparated text, sorted, hashed with SHA-256 in Node.
 */
import { createHash } from 'node:crypto';
import type { ClickHouseConnection } from '../../../src/clickhouse/connection';
import { qualifiedName, quoteIdentifier, quoteString } from '../../../src/clickhouse/sql';

/** Engines whose tables hold rows of their own that SELECT reads back (Join does on 18.16; Set does not). */
export function holdsRows(engine: string): boolean {
  return engine.endsWith('MergeTree') || ['Log', 'TinyLog', 'StripeLog', 'Memory', 'Join'].includes(engine);
}

export interface CatalogColumn {
  table: string;
  name: string;
  type: string;
  default_kind: string;
  default_expression: string;
}

/** Every column of every table of `db`, in table order. */
export async function catalogColumns(conn: ClickHouseConnection, db: string): Promise<CatalogColumn[]> {
  const rows = await conn.rows<CatalogColumn>(
    `SELECT table, name, type, default_kind, default_expression FROM system.columns WHERE database = ${quoteString(db)}`,
  );
  return rows.sort((a, b) => (a.table < b.table ? -1 : a.table > b.table ? 1 : 0));
}

export async function tablesOf(conn: ClickHouseConnection, db: string): Promise<{ name: string; engine: string }[]> {
  return conn.rows(`SELECT name, engine FROM system.tables WHERE database = ${quoteString(db)} ORDER BY name`);
}

/**
 * Stored columns (MATERIALIZED included, ALIAS not) as select expressions. States are finalized
 * (their bytes change in any copy); a groupUniqArray result is a set, so its elements are sorted.
 */
export async function storedSelect(conn: ClickHouseConnection, db: string, table: string): Promise<string> {
  const columns = (await catalogColumns(conn, db)).filter((c) => c.table === table && c.default_kind !== 'ALIAS');
  return columns
    .map((c) => {
      const name = quoteIdentifier(c.name);
      if (c.type.startsWith('AggregateFunction(groupUniqArray')) return `arraySort(finalizeAggregation(${name}))`;
      return c.type.startsWith('AggregateFunction(') ? `finalizeAggregation(${name})` : name;
    })
    .join(', ');
}

export interface TextDigest {
  rows: number;
  sha256: string;
}

/** Rows of `query` as TabSeparated lines, sorted and hashed. */
export async function textDigest(conn: ClickHouseConnection, query: string): Promise<TextDigest> {
  const text = await conn.text(`${query} FORMAT TabSeparated`);
  const lines = text.split('\n').filter((line, i, all) => i < all.length - 1 || line !== '');
  lines.sort();
  return { rows: lines.length, sha256: createHash('sha256').update(lines.join('\n')).digest('hex') };
}

/** Digest of a table's stored columns on `conn`, with the column list read from `columnsFrom`. */
export async function tableDigest(conn: ClickHouseConnection, columnsFrom: ClickHouseConnection, db: string, table: string): Promise<TextDigest> {
  return textDigest(conn, `SELECT ${await storedSelect(columnsFrom, db, table)} FROM ${qualifiedName(db, table)}`);
}

/** `count()` of any table, or the server's message when it cannot be read. */
export async function countOrError(conn: ClickHouseConnection, db: string, table: string): Promise<number | string> {
  try {
    const [row] = await conn.rows<{ n: string }>(`SELECT count() AS n FROM ${qualifiedName(db, table)}`);
    return Number(row.n);
  } catch (err) {
    return (err as Error).message.split('\n')[0];
  }
}
