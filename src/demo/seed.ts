import { countRows } from '../clickhouse/catalog';
import type { ClickHouseConnection } from '../clickhouse/connection';
import { qualifiedName, quoteIdentifier } from '../clickhouse/sql';

/** The demo database `npm start` puts on the source. */
export const DEMO_DATABASE = 'demo';

/**
 * Creates the demo database on `conn` unless it is there already: `events` (MergeTree by month,
 * `rows` rows over the 12 months of 2025), `users` (unpartitioned MergeTree), `event_types`
 * (Log) and the view `daily_counts`. The SQL runs on ClickHouse 18.16 and on current versions.
 * With `cluster` (a replica set, `CLUSTER=1 npm start`) the database, the view and both MergeTree
 * tables are created `ON CLUSTER` it and replicated, and `events_all` (Distributed) reads `events`
 * through it; `event_types` stays on the first replica only. Returns false when the data was already there.
 */
export async function seedDemo(conn: ClickHouseConnection, { rows, cluster }: { rows: number; cluster?: string }): Promise<boolean> {
  const t = (name: string) => qualifiedName(DEMO_DATABASE, name);
  const [exists] = await conn.rows<{ name: string }>(`SELECT name FROM system.tables WHERE database = '${DEMO_DATABASE}' AND name = 'events'`);
  if (exists && (await countRows(conn, DEMO_DATABASE, 'events')) > 0) return false;
  const onCluster = cluster ? ` ON CLUSTER ${quoteIdentifier(cluster)}` : '';
  const mergeTree = (table: string) => (cluster ? `ReplicatedMergeTree('/clickhouse/tables/{shard}/${DEMO_DATABASE}/${table}', '{replica}')` : 'MergeTree');
  await conn.exec(`CREATE DATABASE IF NOT EXISTS ${quoteIdentifier(DEMO_DATABASE)}${onCluster}`);
  await conn.exec(
    `CREATE TABLE IF NOT EXISTS ${t('events')}${onCluster} (event_date Date, event_time DateTime, user_id UInt32, kind String, amount Float64)
     ENGINE = ${mergeTree('events')} PARTITION BY toYYYYMM(event_date) ORDER BY (event_date, user_id)`,
  );
  await conn.exec(
    `INSERT INTO ${t('events')}
     SELECT toDate('2025-01-01') + (number % 365) AS event_date,
            toDateTime(event_date) + (number % 86400) AS event_time,
            number % 20000 AS user_id,
            ['view', 'click', 'cart', 'buy'][number % 4 + 1] AS kind,
            (number % 10000) / 100 AS amount
     FROM system.numbers LIMIT ${Math.max(0, Math.floor(rows))}`,
  );
  await conn.exec(`CREATE TABLE IF NOT EXISTS ${t('users')}${onCluster} (id UInt32, name String, signed_up Date) ENGINE = ${mergeTree('users')} ORDER BY id`);
  await conn.exec(
    `INSERT INTO ${t('users')} SELECT number, concat('user-', toString(number)), toDate('2024-01-01') + (number % 700) FROM system.numbers LIMIT 20000`,
  );
  await conn.exec(`CREATE TABLE IF NOT EXISTS ${t('event_types')} (kind String, label String) ENGINE = Log`);
  await conn.exec(`INSERT INTO ${t('event_types')} VALUES ('view', 'Viewed a page'), ('click', 'Clicked'), ('cart', 'Added to cart'), ('buy', 'Bought')`);
  await conn.exec(
    `CREATE VIEW IF NOT EXISTS ${t('daily_counts')}${onCluster} AS SELECT event_date, kind, count() AS events FROM ${t('events')} GROUP BY event_date, kind`,
  );
  if (cluster) {
    await conn.exec(`CREATE TABLE IF NOT EXISTS ${t('events_all')}${onCluster} AS ${t('events')} ENGINE = Distributed(${quoteIdentifier(cluster)}, ${quoteIdentifier(DEMO_DATABASE)}, events)`);
  }
  return true;
}
