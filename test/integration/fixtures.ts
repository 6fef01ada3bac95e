/** Demo-like source data for integration tests, in a database of the test's own. */
import type { ClickHouseConnection } from '../../src/clickhouse/connection';
import { qualifiedName, quoteIdentifier } from '../../src/clickhouse/sql';

/** A table name with a quote, a backtick, a space and a semicolon. */
export const HOSTILE_TABLE = "we`ird 'name; x";

/**
 * Creates `database` with: `events` (MergeTree by month, `rows` rows over 12 months), `users`
 * (unpartitioned MergeTree), `event_types` (TinyLog), a view, a materialized view with its own
 * stored data, a table in the old MergeTree syntax, and a table with a hostile name.
 */
export async function createDemoLike(conn: ClickHouseConnection, database: string, rows: number): Promise<void> {
  const db = quoteIdentifier(database);
  const t = (name: string) => qualifiedName(database, name);
  await conn.exec(`CREATE DATABASE ${db}`);
  await conn.exec(
    `CREATE TABLE ${t('events')} (event_date Date, user_id UInt64, kind String, amount Float64)
     ENGINE = MergeTree PARTITION BY toYYYYMM(event_date) ORDER BY (event_date, user_id)`,
  );
  await conn.exec(
    `CREATE MATERIALIZED VIEW ${t('kinds_per_month')}
     ENGINE = SummingMergeTree PARTITION BY month ORDER BY (month, kind)
     AS SELECT toYYYYMM(event_date) AS month, kind, count() AS events FROM ${t('events')} GROUP BY month, kind`,
  );
  await conn.exec(
    `INSERT INTO ${t('events')} SELECT toDate('2025-01-01') + (number % 365) AS event_date, number % 5000 AS user_id,
       ['view', 'click', 'buy'][number % 3 + 1] AS kind, (number % 1000) / 10 AS amount
     FROM system.numbers LIMIT ${rows}`,
  );
  await conn.exec(`CREATE TABLE ${t('users')} (id UInt64, name String) ENGINE = MergeTree ORDER BY id`);
  await conn.exec(`INSERT INTO ${t('users')} SELECT number, concat('user-', toString(number)) FROM system.numbers LIMIT 5000`);
  await conn.exec(`CREATE TABLE ${t('event_types')} (kind String, label String) ENGINE = TinyLog`);
  await conn.exec(`INSERT INTO ${t('event_types')} VALUES ('view', 'Viewed'), ('click', 'Clicked'), ('buy', 'Bought')`);
  await conn.exec(`CREATE VIEW ${t('daily')} AS SELECT event_date, count() AS events FROM ${t('events')} GROUP BY event_date`);
  await conn.exec(`CREATE TABLE ${t('legacy')} (d Date, x UInt64) ENGINE = MergeTree(d, x, 8192)`);
  await conn.exec(`INSERT INTO ${t('legacy')} SELECT toDate('2024-11-01') + number % 60, number FROM system.numbers LIMIT 1000`);
  await conn.exec(`CREATE TABLE ${t(HOSTILE_TABLE)} (k UInt32, v String) ENGINE = MergeTree PARTITION BY k % 3 ORDER BY k`);
  await conn.exec(`INSERT INTO ${t(HOSTILE_TABLE)} SELECT number, concat('it\\'s ', toString(number)) FROM system.numbers LIMIT 300`);
}

/** Tables of `createDemoLike` that hold data, including the materialized view's storage. */
export const DEMO_DATA_TABLES = ['events', 'users', 'event_types', 'legacy', HOSTILE_TABLE, '.inner.kinds_per_month'];
