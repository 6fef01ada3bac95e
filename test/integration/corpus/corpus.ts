/** The whole corpus in one database: the types table, a table per engine, the wide and the issue tables. */
import type { ClickHouseConnection } from '../../../src/clickhouse/connection';
import { quoteIdentifier, quoteString } from '../../../src/clickhouse/sql';
import { createTypesTable, planTypeColumns, type TypeCoverage } from './columns';
import { createEngineTables, type EngineCoverage } from './engines';
import { createIssueTables, createWideTable } from './tables';

export const TYPES_TABLE = 'types';
/** Rows of the types table: edge values first, then server-generated pseudo-random ones. */
export const TYPES_ROWS = 36;

export interface Corpus {
  database: string;
  types: TypeCoverage;
  engines: EngineCoverage;
}

/** Creates `database` on `conn` and the corpus in it. */
export async function createCorpus(conn: ClickHouseConnection, database: string): Promise<Corpus> {
  const probeDb = `${database}_probe`;
  await conn.exec(`CREATE DATABASE ${quoteIdentifier(database)}`);
  await conn.exec(`CREATE DATABASE ${quoteIdentifier(probeDb)}`);
  try {
    const types = await planTypeColumns(conn, probeDb);
    await createTypesTable(conn, database, TYPES_TABLE, types.columns, TYPES_ROWS);
    const engines = await createEngineTables(conn, database, probeDb);
    await createWideTable(conn, database);
    await createIssueTables(conn, database);
    return { database, types, engines };
  } finally {
    await dropProbeDatabase(conn, probeDb);
  }
}

/**
 * Drops the probe database. A refused CREATE may have left a directory behind, so that DROP
 * fails with "Directory not empty" after it has removed the database: that counts as dropped.
 */
export async function dropProbeDatabase(conn: ClickHouseConnection, probeDb: string): Promise<void> {
  try {
    await conn.exec(`DROP DATABASE IF EXISTS ${quoteIdentifier(probeDb)}`);
  } catch (err) {
    const [row] = await conn.rows<{ n: string }>(`SELECT count() AS n FROM system.databases WHERE name = ${quoteString(probeDb)}`);
    if (Number(row.n) > 0) throw err;
  }
}

/** Families that became a column, and families the server refused (bare, or every recipe instance). */
export function familyAccounting(types: TypeCoverage): { covered: string[]; refused: Map<string, string>; missing: string[] } {
  const covered = [...new Set(types.columns.map((c) => c.family))];
  const refused = new Map<string, string>();
  for (const [key, message] of types.refused) {
    const family = key.split(':')[0];
    if (!covered.includes(family)) refused.set(family, message);
  }
  const missing = types.families.filter((f) => !covered.includes(f) && !refused.has(f));
  return { covered, refused, missing };
}
