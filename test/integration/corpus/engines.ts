/**
 * One table per engine of `system.table_engines`, holding data or referring to data of the
 * corpus. Engines the server will not create here are recorded with its message.
 */
import type { ClickHouseConnection } from '../../../src/clickhouse/connection';
import { qualifiedName, quoteIdentifier, quoteString } from '../../../src/clickhouse/sql';
import { GRAPHITE_ROLLUP, LOCAL_CLUSTER } from '../../../src/dev/clickhouse-server';
import { refusal } from './server';

/** The MergeTree table that Merge, Buffer, Distributed and the views read. */
export const BASE_TABLE = 'e_MergeTree';
/** Rows of each engine table that holds data. */
export const ENGINE_ROWS = 30;

/** Statements of one engine's tables: `create` for all engines first, then `fill`. */
interface EngineTables {
  create: string[];
  fill: string[];
}

type Recipe = (db: string, name: string) => EngineTables;

const part = 'PARTITION BY id % 3';
const rows = `SELECT toUInt32(number) AS id FROM system.numbers LIMIT ${ENGINE_ROWS}`;
const keyOf = `concat('key-', toString(id % 7))`;

/** A MergeTree-family table of (id, key, value, sign, ver), or the Replicated form of one. */
function mergeTree(engine: string, args: string[], orderBy = 'id'): Recipe {
  return (db, name) => {
    const replicated = engine.startsWith('Replicated');
    const allArgs = replicated ? [quoteString(`/clickhouse/tables/${db}/${name}`), quoteString('r1'), ...args] : args;
    const t = qualifiedName(db, name);
    return {
      create: [`CREATE TABLE ${t} (id UInt32, key String, value Int64, sign Int8, ver UInt32) ENGINE = ${engine}(${allArgs.join(', ')}) ${part} ORDER BY ${orderBy}`],
      fill: [`INSERT INTO ${t} SELECT id, ${keyOf}, toInt64(id) * 1000 - 7, if(id % 5 = 4, -1, 1), id % 4 FROM (${rows})`],
    };
  };
}

function aggregating(db: string, name: string): EngineTables {
  const t = qualifiedName(db, name);
  return {
    create: [
      `CREATE TABLE ${t} (id UInt32, key String, users AggregateFunction(uniq, UInt64), latency AggregateFunction(quantiles(0.5, 0.9), UInt64))
       ENGINE = AggregatingMergeTree ${part} ORDER BY (id, key)`,
    ],
    fill: [
      `INSERT INTO ${t} SELECT id, ${keyOf} AS key, uniqState(toUInt64(n)), quantilesState(0.5, 0.9)(toUInt64(cityHash64(n) % 1000))
       FROM (SELECT toUInt32(number % ${ENGINE_ROWS}) AS id, number AS n FROM system.numbers LIMIT ${ENGINE_ROWS * 10}) GROUP BY id, key`,
    ],
  };
}

function graphite(db: string, name: string): EngineTables {
  const t = qualifiedName(db, name);
  return {
    create: [`CREATE TABLE ${t} (Path String, Time DateTime, Value Float64, Timestamp UInt32, id UInt32) ENGINE = GraphiteMergeTree(${quoteString(GRAPHITE_ROLLUP)}) ${part} ORDER BY (Path, Time)`],
    fill: [`INSERT INTO ${t} SELECT concat('servers.s', toString(id % 4), '.cpu'), toDateTime(1700000000 + id * 61), id / 3, id, id FROM (${rows})`],
  };
}

/** A table of (id, key, value) with any engine clause; `data` fills it. */
function plain(engine: string, data = true): Recipe {
  return (db, name) => {
    const t = qualifiedName(db, name);
    return {
      create: [`CREATE TABLE ${t} (id UInt32, key String, value Int64) ENGINE = ${engine}`],
      fill: data ? [`INSERT INTO ${t} SELECT id, ${keyOf}, toInt64(id) - 15 FROM (${rows})`] : [],
    };
  };
}

/** A table with the base table's columns, reading it through `engine`. */
function overBase(engine: (db: string) => string): Recipe {
  return (db, name) => ({ create: [`CREATE TABLE ${qualifiedName(db, name)} AS ${qualifiedName(db, BASE_TABLE)} ENGINE = ${engine(db)}`], fill: [] });
}

function views(db: string, name: string): EngineTables {
  return {
    create: [`CREATE VIEW ${qualifiedName(db, name)} AS SELECT key, count() AS n, sum(value) AS total FROM ${qualifiedName(db, BASE_TABLE)} GROUP BY key`],
    fill: [],
  };
}

/** A materialized view with its own storage, and one writing TO a table of its own. */
function materializedViews(db: string, name: string): EngineTables {
  const select = `SELECT toUInt32(id % 3) AS part, key, sum(value) AS total FROM ${qualifiedName(db, BASE_TABLE)} GROUP BY part, key`;
  const destination = qualifiedName(db, `${name}_destination`);
  return {
    create: [
      `CREATE MATERIALIZED VIEW ${qualifiedName(db, name)} ENGINE = SummingMergeTree PARTITION BY part ORDER BY (part, key) AS ${select}`,
      `CREATE TABLE ${destination} (part UInt32, key String, total Int64) ENGINE = SummingMergeTree PARTITION BY part ORDER BY (part, key)`,
      `CREATE MATERIALIZED VIEW ${qualifiedName(db, `${name}_to`)} TO ${destination} AS ${select}`,
    ],
    fill: [],
  };
}

const external = (engine: string): Recipe => plain(engine, false);

/** Engine recipes; Replicated engines reuse their base engine's. */
const RECIPES: Record<string, Recipe> = {
  MergeTree: mergeTree('MergeTree', []),
  ReplacingMergeTree: mergeTree('ReplacingMergeTree', ['ver'], 'key'),
  SummingMergeTree: mergeTree('SummingMergeTree', ['value'], 'key'),
  CollapsingMergeTree: mergeTree('CollapsingMergeTree', ['sign'], 'key'),
  VersionedCollapsingMergeTree: mergeTree('VersionedCollapsingMergeTree', ['sign', 'ver'], 'key'),
  AggregatingMergeTree: aggregating,
  GraphiteMergeTree: graphite,
  Log: plain('Log'),
  TinyLog: plain('TinyLog'),
  StripeLog: plain('StripeLog'),
  Memory: plain('Memory'),
  Set: (db, name) => ({ create: [`CREATE TABLE ${qualifiedName(db, name)} (id UInt32) ENGINE = Set`], fill: [`INSERT INTO ${qualifiedName(db, name)} ${rows}`] }),
  Join: (db, name) => ({
    create: [`CREATE TABLE ${qualifiedName(db, name)} (id UInt32, key String) ENGINE = Join(ANY, LEFT, id)`],
    fill: [`INSERT INTO ${qualifiedName(db, name)} SELECT id, ${keyOf} FROM (${rows})`],
  }),
  Merge: overBase((db) => `Merge(${quoteString(db)}, ${quoteString(`^${BASE_TABLE}$`)})`),
  Buffer: overBase((db) => `Buffer(${quoteIdentifier(db)}, ${quoteIdentifier(BASE_TABLE)}, 1, 10, 100, 10000, 1000000, 10000000, 100000000)`),
  Distributed: overBase((db) => `Distributed(${quoteIdentifier(LOCAL_CLUSTER)}, ${quoteIdentifier(db)}, ${quoteIdentifier(BASE_TABLE)})`),
  Null: plain('Null'),
  View: views,
  MaterializedView: materializedViews,
  File: plain('File(TabSeparated)'),
  Kafka: external(`Kafka('127.0.0.1:1', 'corpus', 'corpus', 'JSONEachRow')`),
  URL: external(`URL('http://127.0.0.1:1/', CSV)`),
  MySQL: external(`MySQL('127.0.0.1:1', 'db', 'tbl', 'user', 'password')`),
  ODBC: external(`ODBC('DSN=corpus', 'db', 'tbl')`),
  JDBC: external(`JDBC('jdbc:mysql://127.0.0.1:1/db', 'db', 'tbl')`),
  Dictionary: (db, name) => ({ create: [`CREATE TABLE ${qualifiedName(db, name)} (id UInt64, value String) ENGINE = Dictionary(corpus_no_such_dictionary)`], fill: [] }),
};

function recipeOf(engine: string): Recipe {
  if (RECIPES[engine]) return RECIPES[engine];
  const base = engine.replace(/^Replicated/, '');
  if (base !== engine && RECIPES[base]) return mergeTree(engine, base === 'MergeTree' ? [] : mergeTreeArgs(base));
  return (db, name) => ({ create: [`CREATE TABLE ${qualifiedName(db, name)} (id UInt32) ENGINE = ${engine}`], fill: [] });
}

function mergeTreeArgs(base: string): string[] {
  const args: Record<string, string[]> = {
    ReplacingMergeTree: ['ver'],
    SummingMergeTree: ['value'],
    CollapsingMergeTree: ['sign'],
    VersionedCollapsingMergeTree: ['sign', 'ver'],
    GraphiteMergeTree: [quoteString(GRAPHITE_ROLLUP)],
    AggregatingMergeTree: [],
  };
  return args[base] ?? [];
}

export interface EngineCoverage {
  engines: string[];
  /** Engine → the tables created for it. */
  created: Map<string, string[]>;
  /** Engine → the server's message when it refused to create the engine's table. */
  refused: Map<string, string>;
}

/**
 * Creates a table (or a few) for every engine of the catalogue in `db`, then fills them. Each
 * engine is tried first in `probeDb`, because a refused CREATE can leave a directory behind
 * (ReplicatedMergeTree without ZooKeeper on 18.16), and then DROP DATABASE fails.
 */
export async function createEngineTables(conn: ClickHouseConnection, db: string, probeDb: string): Promise<EngineCoverage> {
  const engines = (await conn.rows<{ name: string }>('SELECT name FROM system.table_engines ORDER BY name')).map((r) => r.name);
  // The base table first: the tables and views over it need it.
  const ordered = [...engines].sort((a, b) => Number(b === 'MergeTree') - Number(a === 'MergeTree'));
  const coverage: EngineCoverage = { engines, created: new Map(), refused: new Map() };
  const fills: string[] = [];
  for (const engine of ordered) {
    const name = `e_${engine}`;
    const refused = await createAll(conn, recipeOf(engine)(probeDb, name).create);
    if (refused) {
      coverage.refused.set(engine, refused);
      continue;
    }
    const { create, fill } = recipeOf(engine)(db, name);
    const before = await tablesOf(conn, db);
    const failed = await createAll(conn, create);
    if (failed) throw new Error(`${engine}: created in ${probeDb}, refused in ${db}: ${failed}`);
    coverage.created.set(engine, (await tablesOf(conn, db)).filter((t) => !before.includes(t)));
    fills.push(...fill);
  }
  for (const statement of fills) await conn.exec(statement);
  return coverage;
}

async function createAll(conn: ClickHouseConnection, statements: string[]): Promise<string | null> {
  for (const statement of statements) {
    const refused = await refusal(conn, statement);
    if (refused) return refused;
  }
  return null;
}

async function tablesOf(conn: ClickHouseConnection, db: string): Promise<string[]> {
  return (await conn.rows<{ name: string }>(`SELECT name FROM system.tables WHERE database = ${quoteString(db)}`)).map((r) => r.name);
}
