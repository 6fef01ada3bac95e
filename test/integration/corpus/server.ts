/** Small helpers for running corpus DDL on any server version. */
import type { ClickHouseConnection } from '../../../src/clickhouse/connection';

const LOW_CARDINALITY_SETTING = 'allow_experimental_low_cardinality_type';
const lowCardinalitySetting = new WeakMap<ClickHouseConnection, Promise<boolean>>();

/** True when the server knows the old switch that LowCardinality columns need on CREATE (18.x). */
function needsLowCardinalitySetting(conn: ClickHouseConnection): Promise<boolean> {
  let known = lowCardinalitySetting.get(conn);
  if (!known) {
    known = conn
      .rows<{ n: string }>(`SELECT count() AS n FROM system.settings WHERE name = '${LOW_CARDINALITY_SETTING}'`)
      .then(([row]) => Number(row.n) > 0);
    lowCardinalitySetting.set(conn, known);
  }
  return known;
}

/** Runs a statement, with LowCardinality allowed where the server needs that said. */
export async function ddl(conn: ClickHouseConnection, query: string): Promise<void> {
  if (!(await needsLowCardinalitySetting(conn))) return conn.exec(query);
  await conn.client.command({ query, clickhouse_settings: { [LOW_CARDINALITY_SETTING]: 1 } });
}

/** Runs a statement and returns the server's refusal message, or null when it succeeded. */
export async function refusal(conn: ClickHouseConnection, query: string): Promise<string | null> {
  try {
    await ddl(conn, query);
    return null;
  } catch (err) {
    return serverMessage(err);
  }
}

/** The first line of a server error, without the stack and the `e.what()` tail of old servers. */
export function serverMessage(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0].replace(/,\s*e\.what\(\) = DB::Exception\s*$/, '').trim();
}
