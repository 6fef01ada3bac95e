/**
 * Hand-written tables of the corpus: a wide analytics table, and the cases of issue 8 (money
 * in Decimal, aggregate states, NULL-heavy columns).
 */
import type { ClickHouseConnection } from '../../../src/clickhouse/connection';
import { qualifiedName, quoteIdentifier, quoteString } from '../../../src/clickhouse/sql';
import { EDGE_STRINGS } from './types';

export const WIDE_TABLE = 'wide_events';
/** The wide table's MATERIALIZED column: `rand64()`, so a copy that recomputes it differs. */
export const WIDE_MATERIALIZED = 'salt';
export const ISSUE_TABLES = { money: 'issue_money', aggregates: 'issue_aggregates', someNull: 'issue_notes_some_null', allNull: 'issue_notes_all_null' };

const WIDE_ROWS = 60;
const count = <T>(n: number, make: (i: number) => T): T[] => Array.from({ length: n }, (_, i) => make(i));

/** Dimension, metric, float and nullable columns of the wide table, with the values they get. */
function wideColumns(): { declaration: string; value: string }[] {
  const strings = `[${EDGE_STRINGS.map(quoteString).join(', ')}]`;
  return [
    ...count(30, (i) => ({ declaration: `dim_${i} String`, value: `if(id % 4 = 0, arrayElement(${strings}, (id + ${i}) % ${EDGE_STRINGS.length} + 1), hex(cityHash64(id, ${i})))` })),
    ...count(30, (i) => ({ declaration: `metric_${i} UInt64`, value: `cityHash64(id, 'metric', ${i}) % ${10 ** ((i % 6) + 1)}` })),
    ...count(20, (i) => ({ declaration: `ratio_${i} Float64`, value: `if(id = ${i}, nan, (cityHash64(id, 'ratio', ${i}) % 100000) / 7)` })),
    ...count(12, (i) => ({ declaration: `maybe_${i} Nullable(Int32)`, value: `if((id + ${i}) % 3 = 0, NULL, toInt32(cityHash64(id, ${i}) % 2000) - 1000)` })),
  ];
}

/**
 * A CollapsingMergeTree table of more than 100 columns, sampled by user, with a Nested structure,
 * a MATERIALIZED column of `rand64()`, a DEFAULT column holding other values than its default,
 * and an ALIAS column.
 */
export async function createWideTable(conn: ClickHouseConnection, db: string): Promise<void> {
  const t = qualifiedName(db, WIDE_TABLE);
  const columns = wideColumns();
  await conn.exec(
    `CREATE TABLE ${t} (
       id UInt32, event_date Date, event_time DateTime, user_id UInt64, sign Int8, revenue Decimal(18, 4),
       ${columns.map((c) => c.declaration).join(', ')},
       goals Nested(goal_id UInt32, price Decimal(18, 4), name String),
       ${quoteIdentifier(WIDE_MATERIALIZED)} UInt64 MATERIALIZED rand64(),
       channel String DEFAULT 'web',
       revenue_x2 Decimal(18, 4) ALIAS revenue * 2
     ) ENGINE = CollapsingMergeTree(sign) PARTITION BY toYYYYMM(event_date)
     ORDER BY (event_date, intHash32(user_id), id) SAMPLE BY intHash32(user_id)`,
  );
  const goals = `range(toUInt64(id % 3))`;
  await conn.exec(
    `INSERT INTO ${t} (id, event_date, event_time, user_id, sign, revenue, ${columns.map((c) => c.declaration.split(' ')[0]).join(', ')},
       goals.goal_id, goals.price, goals.name, channel)
     SELECT id, toDate('2024-01-15') + (id % 3) * 31, toDateTime('2024-01-15 00:00:00') + id * 3671, cityHash64(id) % 1000,
       if(id % 10 = 9, -1, 1), toDecimal64(id * 12345, 4) / 100,
       ${columns.map((c) => c.value).join(', ')},
       arrayMap(g -> toUInt32(g + id), ${goals}), arrayMap(g -> toDecimal64(g, 4) / 3, ${goals}), arrayMap(g -> concat('goal ', toString(g)), ${goals}),
       arrayElement(['app', 'api', '', 'web\\tmobile'], id % 4 + 1)
     FROM (SELECT toUInt32(number) AS id FROM system.numbers LIMIT ${WIDE_ROWS})`,
  );
}

/** The three cases of issue 8, each a MergeTree-family table in three partitions. */
export async function createIssueTables(conn: ClickHouseConnection, db: string): Promise<void> {
  const t = (name: string) => qualifiedName(db, name);
  const rows = (n: number) => `(SELECT toUInt32(number) AS id FROM system.numbers LIMIT ${n})`;
  await conn.exec(`CREATE TABLE ${t(ISSUE_TABLES.money)} (id UInt32, account String, amount Decimal(18, 4)) ENGINE = MergeTree PARTITION BY id % 3 ORDER BY id`);
  await conn.exec(
    `INSERT INTO ${t(ISSUE_TABLES.money)} SELECT id, concat('acct-', toString(id % 5)),
       multiIf(id = 0, toDecimal64('99999999999999.9999', 4), id = 1, toDecimal64('-99999999999999.9999', 4), id = 2, toDecimal64('0.0001', 4),
               id = 3, toDecimal64('-0.0001', 4), toDecimal64(toString(cityHash64(id) % 100000000), 4) / 10000)
     FROM ${rows(45)}`,
  );
  await conn.exec(
    `CREATE TABLE ${t(ISSUE_TABLES.aggregates)} (id UInt32, users AggregateFunction(uniq, UInt64), latency AggregateFunction(quantiles(0.5, 0.9), UInt64),
       visitors AggregateFunction(uniqExact, String), members AggregateFunction(groupUniqArray, UInt64))
     ENGINE = AggregatingMergeTree PARTITION BY id % 3 ORDER BY id`,
  );
  await conn.exec(
    `INSERT INTO ${t(ISSUE_TABLES.aggregates)} SELECT id, uniqState(n), quantilesState(0.5, 0.9)(toUInt64(cityHash64(n) % 5000)), uniqExactState(toString(n)), groupUniqArrayState(n)
     FROM (SELECT toUInt32(number % 30) AS id, number AS n FROM system.numbers LIMIT 3000) GROUP BY id`,
  );
  for (const [name, isNull] of [[ISSUE_TABLES.someNull, 'id % 3 = 1'], [ISSUE_TABLES.allNull, '1']]) {
    await conn.exec(`CREATE TABLE ${t(name)} (id UInt32, note Nullable(String)) ENGINE = MergeTree PARTITION BY intDiv(id, 10) ORDER BY id`);
    await conn.exec(`INSERT INTO ${t(name)} SELECT id, if(${isNull}, NULL, concat('note ', toString(id))) FROM ${rows(30)}`);
  }
}
