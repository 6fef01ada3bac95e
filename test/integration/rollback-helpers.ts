/**
 * Pieces of the cancel-matrix test (rollback-cancel.test.ts): the data set of a case (a source of
 * about 300 tables built from the server's type catalogue, and a target database that another
 * application already uses), the other client's writes, a tracker of the worker's activities,
 * and the test's own checks of what a rollback left (count and sha256 of the sorted TSV rows).
 */
import { createHash } from 'node:crypto';
import { Context } from '@temporalio/activity';
import type { WorkflowHandle } from '@temporalio/client';
import type { ClickHouseConnection } from '../../src/clickhouse/connection';
import { qualifiedName, quoteIdentifier, quoteString, quoteStringList } from '../../src/clickhouse/sql';
import { planTypeColumns, storedColumns, type CorpusColumn } from './corpus/columns';
import { ddl } from './corpus/server';

/** Tiny tables of a case built from the catalogue's column types (the plan's other 7 tables are named below). */
const CATALOGUE_TABLES = 293;
/** Of those, how many live in the case's second database, which the target does not have. */
const SECOND_DATABASE_TABLES = 20;
/** Rows of each catalogue table. */
const TINY_ROWS = 3;

/** The source's bigger tables: partitions by month (or key), rows, and the rows each holds per partition. */
const BIG_TABLES = {
  big_events: {
    columns: '(day Date, id UInt64, kind String, amount Float64)',
    engine: 'MergeTree PARTITION BY toYYYYMM(day) ORDER BY (day, id)',
    rows: `SELECT toDate('2024-01-01') + (number % 360) AS day, number AS id, ['view', 'click', 'buy'][number % 3 + 1] AS kind, (number % 1000) / 10 AS amount FROM system.numbers LIMIT 360000`,
  },
  big_metrics: {
    columns: '(host UInt16, ts DateTime, value Float64, note String)',
    engine: 'MergeTree PARTITION BY intDiv(host, 8) ORDER BY (host, ts)',
    rows: `SELECT toUInt16(number % 80) AS host, toDateTime('2025-06-01 00:00:00') + number AS ts, number / 7 AS value, concat('note-', toString(number)) AS note FROM system.numbers LIMIT 300000`,
  },
  big_logs: {
    columns: "(day Date, id UInt64, level Enum8('debug' = 1, 'info' = 2, 'warn' = 3, 'error' = 4), msg String)",
    engine: 'MergeTree PARTITION BY toYYYYMM(day) ORDER BY (day, id)',
    rows: `SELECT toDate('2023-01-01') + (number % 360) AS day, number AS id, toInt8(number % 4 + 1) AS level, concat('message ', toString(cityHash64(number) % 100000)) AS msg FROM system.numbers LIMIT 240000`,
  },
  big_hits: {
    columns: '(d Date, user UInt32, url String, dur Nullable(UInt32))',
    engine: 'MergeTree PARTITION BY toYYYYMM(d) ORDER BY (d, user)',
    rows: `SELECT toDate('2022-03-01') + (number % 300) AS d, toUInt32(number % 5000) AS user, concat('/page/', toString(number % 777)) AS url, if(number % 5 = 0, NULL, toUInt32(number % 9000)) AS dur FROM system.numbers LIMIT 200000`,
  },
} as const;

/** Small tables that the target already has with rows of its own (same schema as the source). */
const SMALL_COPIED = {
  s_part: {
    create: '(d Date, id UInt32, name String) ENGINE = MergeTree PARTITION BY toYYYYMM(d) ORDER BY id',
    source: `SELECT toDate('2024-01-10') + toUInt32(number * 31) AS d, toUInt32(number) AS id, concat('src-', toString(number)) AS name FROM system.numbers LIMIT 6`,
    target: `SELECT [toDate('2020-01-05'), toDate('2020-01-06'), toDate('2024-01-20'), toDate('2024-01-21')][number + 1] AS d, toUInt32(100 + number) AS id, concat('own-', toString(number)) AS name FROM system.numbers LIMIT 4`,
  },
  s_flat: {
    create: '(id UInt32, name String) ENGINE = MergeTree ORDER BY id',
    source: `SELECT toUInt32(number) AS id, concat('src-', toString(number)) AS name FROM system.numbers LIMIT 5`,
    target: `SELECT toUInt32(100 + number) AS id, concat('own-', toString(number)) AS name FROM system.numbers LIMIT 3`,
  },
  s_log: {
    create: '(id UInt32, name String) ENGINE = Log',
    source: `SELECT toUInt32(number) AS id, concat('src-', toString(number)) AS name FROM system.numbers LIMIT 4`,
    target: `SELECT toUInt32(100 + number) AS id, concat('own-', toString(number)) AS name FROM system.numbers LIMIT 2`,
  },
} as const;

/** What the target's copy of each big table the run copies into holds before the run (its own rows, in several partitions). */
const BIG_TARGET_ROWS: Record<'big_events' | 'big_metrics', string> = {
  // 202401 and 202402 are on the source too; 202305 and 202306 only on the target.
  big_events: `SELECT [toDate('2024-01-03'), toDate('2024-02-03'), toDate('2023-05-03'), toDate('2023-06-03')][number % 4 + 1] AS day, 5000000 + number AS id, 'own' AS kind, number / 3 AS amount FROM system.numbers LIMIT 20000`,
  // Partition 0 is on the source too; 10 and 11 only on the target.
  big_metrics: `SELECT toUInt16([3, 80, 95][number % 3 + 1]) AS host, toDateTime('2020-01-01 00:00:00') + number AS ts, number / 11 AS value, 'own' AS note FROM system.numbers LIMIT 9000`,
};

/** The tables the run copies into: the target has each of them, with rows of its own, before the run. */
export const COPIED_INTO = ['big_events', 'big_metrics', ...Object.keys(SMALL_COPIED)];
/** The other application's table in the target database: not in the plan. */
export const OTHER_APP = 'other_app';
const OTHER_APP_CREATE = '(id UInt64, src String, v Float64, d Date) ENGINE = MergeTree PARTITION BY toYYYYMM(d) ORDER BY id';
const otherAppRows = (src: string, from: number, count: number) =>
  `SELECT toUInt64(${from} + number) AS id, ${quoteString(src)} AS src, number / 13 AS v, toDate('2021-01-01') + toUInt32(number % 90) AS d FROM system.numbers LIMIT ${count}`;
/** The table the other client creates in the target database during the run. */
export const CLIENT_TABLE = 'client_new';
const CLIENT_TABLE_CREATE = '(id UInt64, note String) ENGINE = MergeTree ORDER BY id';
const CLIENT_TABLE_ROWS = `SELECT toUInt64(number) AS id, concat('client-', toString(number)) AS note FROM system.numbers LIMIT 50`;
/**
 * The partitions of a copied table (big_events) that the other client writes during the run;
 * neither the source nor the restore point has them. The first is written as the migration step
 * starts (the copy plan sees it, and the bulk copy empties it, as a mirror does); the second once
 * the first bulk copy has landed (verification sees it, and a sync pass empties it). Their ids sort
 * before the table's others, so that they come first in the rollback's bounded list of discards.
 */
export const CLIENT_PARTITIONS = [
  { table: 'big_events', partitionId: '197101', rows: 77, day: '1971-01-15', id: 9000000, when: 'as the step starts' },
  { table: 'big_events', partitionId: '197102', rows: 55, day: '1971-02-15', id: 9100000, when: 'during the copy' },
].map((p) => ({
  ...p,
  where: `toYYYYMM(day) = ${p.partitionId}`,
  select: `SELECT toDate('${p.day}') AS day, toUInt64(${p.id} + number) AS id, 'client' AS kind, number / 2 AS amount FROM system.numbers LIMIT ${p.rows}`,
}));
/** Rows of big_events outside the other client's partitions. */
export const OUTSIDE_CLIENT_PARTITIONS = `toYYYYMM(day) NOT IN (${CLIENT_PARTITIONS.map((p) => p.partitionId).join(', ')})`;
/** Rows the writer adds on the source during the copy, one a month into big_events, so that verification finds a copied partition changed. */
const SOURCE_WRITER_ROWS = `SELECT toDate('2024-01-20') + toUInt32(number * 30) AS day, 8000000 + number AS id, 'late' AS kind, 0.5 AS amount FROM system.numbers LIMIT 12`;

/** Engines of the catalogue tables, in turn: MergeTree family (with and without partitions) and whole-table engines. */
const TINY_ENGINES = [
  'MergeTree PARTITION BY id % 3 ORDER BY id',
  'MergeTree ORDER BY id',
  'ReplacingMergeTree PARTITION BY id % 2 ORDER BY id',
  'SummingMergeTree ORDER BY id',
  'Log',
  'TinyLog',
  'StripeLog',
  'Memory',
];
/** Catalogue columns a tiny table carries. */
const COLUMNS_PER_TABLE = 6;

/** The columns and engine of a catalogue table. */
export interface TableShape {
  columns: CorpusColumn[];
  engine: string;
}

/** The statements that create a catalogue table of `shape` as `name` and fill it. */
function shapeStatements(shape: TableShape, name: string): { create: string; fill: string } {
  const filled = storedColumns(shape.columns).filter((c) => c.fill);
  const values = filled.map((c, k) => `${c.fill?.('id', `cityHash64(id, ${k})`)} AS ${quoteIdentifier(c.name)}`);
  return {
    create: `CREATE TABLE ${name} (id UInt32, ${shape.columns.map((c) => `${quoteIdentifier(c.name)} ${c.declaration}`).join(', ')}) ENGINE = ${shape.engine}`,
    fill: `INSERT INTO ${name} (id, ${filled.map((c) => quoteIdentifier(c.name)).join(', ')})
       SELECT id, ${values.join(', ')} FROM (SELECT toUInt32(number) AS id FROM system.numbers LIMIT ${TINY_ROWS})`,
  };
}

/**
 * The shapes of the catalogue tables: the column types of the source's
 * `system.data_type_families` that the server puts in a table (probed in a scratch database), in
 * groups of six, each group with three engines of TINY_ENGINES in turn. A shape whose rows the server itself
 * cannot read back is left out, with its message (18.16 cannot read a timezone DateTime from a
 * StripeLog table). Nested, LowCardinality and AggregateFunction columns are left to the corpus
 * test: they need settings or states that have nothing to do with a rollback.
 */
export async function catalogueShapes(source: ClickHouseConnection, scratch: string): Promise<{ shapes: TableShape[]; refused: string[] }> {
  await source.exec(`CREATE DATABASE ${quoteIdentifier(scratch)}`);
  try {
    const { columns: all } = await planTypeColumns(source, scratch);
    const columns = all.filter((c) => !['Nested', 'LowCardinality', 'AggregateFunction', 'SimpleAggregateFunction'].includes(c.family) && !/LowCardinality|AggregateFunction/.test(c.declaration));
    const shapes: TableShape[] = [];
    const refused: string[] = [];
    for (let from = 0, group = 0; from < columns.length; from += COLUMNS_PER_TABLE, group++) {
      // Each group of columns with three engines, in turn: every engine and every column type appears.
      for (const engine of [0, 1, 2].map((k) => TINY_ENGINES[(group * 3 + k) % TINY_ENGINES.length])) {
        const shape = { columns: columns.slice(from, from + COLUMNS_PER_TABLE), engine };
        const name = qualifiedName(scratch, `shape_${shapes.length + refused.length}`);
        const { create, fill } = shapeStatements(shape, name);
        try {
          await ddl(source, create);
          await source.exec(fill);
          await source.rows(`SELECT * FROM ${name}`);
          shapes.push(shape);
        } catch (err) {
          refused.push(`${engine} with ${shape.columns.map((c) => c.declaration).join(', ')}: ${(err as Error).message.split('\n')[0].slice(0, 160)}`);
        }
      }
    }
    return { shapes, refused };
  } finally {
    await source.exec(`DROP DATABASE IF EXISTS ${quoteIdentifier(scratch)}`).catch(() => undefined);
  }
}

/** Templates of the big tables, filled once; each case attaches their parts (hard links). */
export async function createTemplates(source: ClickHouseConnection, target: ClickHouseConnection, database: string): Promise<void> {
  await Promise.all([source, target].map((c) => c.exec(`CREATE DATABASE ${quoteIdentifier(database)}`)));
  for (const [name, t] of Object.entries(BIG_TABLES)) {
    await source.exec(`CREATE TABLE ${qualifiedName(database, name)} ${t.columns} ENGINE = ${t.engine}`);
    await source.exec(`INSERT INTO ${qualifiedName(database, name)} ${t.rows}`);
  }
  for (const [name, rows] of Object.entries(BIG_TARGET_ROWS)) {
    const t = BIG_TABLES[name as keyof typeof BIG_TABLES];
    await target.exec(`CREATE TABLE ${qualifiedName(database, name)} ${t.columns} ENGINE = ${t.engine}`);
    await target.exec(`INSERT INTO ${qualifiedName(database, name)} ${rows}`);
  }
}

/** `db.name` created as `template.name`, holding its rows by hard links. */
async function cloneTable(conn: ClickHouseConnection, template: string, db: string, name: string): Promise<void> {
  await conn.exec(`CREATE TABLE ${qualifiedName(db, name)} AS ${qualifiedName(template, name)}`);
  const parts = await conn.rows<{ partition_id: string }>(
    `SELECT DISTINCT partition_id FROM system.parts WHERE active AND database = ${quoteString(template)} AND table = ${quoteString(name)}`,
  );
  if (parts.length === 0) return;
  await conn.exec(`ALTER TABLE ${qualifiedName(db, name)} ${parts.map((p) => `ATTACH PARTITION ID ${quoteString(p.partition_id)} FROM ${qualifiedName(template, name)}`).join(', ')}`);
}

/** Runs `work` for every item, `limit` at a time. */
async function inPool<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) await work(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}

/** The objects of a case's plan on the source: every table and view by database. */
export interface CasePlan {
  db: string;
  db2: string;
  /** `database.name` of every object the source has in the case's two databases. */
  objects: string[];
}

/**
 * The source of a case: in `db` the four big tables, the three small tables the target also has,
 * 273 catalogue tables, two views and a materialized view; in `db2` 20 catalogue tables.
 */
export async function createSource(source: ClickHouseConnection, template: string, db: string, db2: string, shapes: TableShape[]): Promise<CasePlan> {
  await source.exec(`CREATE DATABASE ${quoteIdentifier(db)}`);
  await source.exec(`CREATE DATABASE ${quoteIdentifier(db2)}`);
  for (const name of Object.keys(BIG_TABLES)) await cloneTable(source, template, db, name);
  for (const [name, t] of Object.entries(SMALL_COPIED)) {
    await source.exec(`CREATE TABLE ${qualifiedName(db, name)} ${t.create}`);
    await source.exec(`INSERT INTO ${qualifiedName(db, name)} ${t.source}`);
  }
  const tiny = Array.from({ length: CATALOGUE_TABLES }, (_, i) => ({
    database: i < CATALOGUE_TABLES - SECOND_DATABASE_TABLES ? db : db2,
    name: `t${String(i).padStart(3, '0')}`,
    shape: shapes[i % shapes.length],
  }));
  await inPool(tiny, 6, async (t) => {
    const { create, fill } = shapeStatements(t.shape, qualifiedName(t.database, t.name));
    await ddl(source, create);
    await source.exec(fill);
  });
  await source.exec(`CREATE VIEW ${qualifiedName(db, 'v_events_by_kind')} AS SELECT kind, count() AS n FROM ${qualifiedName(db, 'big_events')} GROUP BY kind`);
  await source.exec(`CREATE VIEW ${qualifiedName(db, 'v_flat')} AS SELECT id, name FROM ${qualifiedName(db, 's_flat')}`);
  await source.exec(
    `CREATE MATERIALIZED VIEW ${qualifiedName(db, 'mv_logs_by_level')} ENGINE = SummingMergeTree ORDER BY level POPULATE
     AS SELECT level, count() AS n FROM ${qualifiedName(db, 'big_logs')} GROUP BY level`,
  );
  const listed = await source.rows<{ database: string; name: string }>(
    `SELECT database, name FROM system.tables WHERE database IN (${quoteStringList([db, db2])}) ORDER BY database, name`,
  );
  return { db, db2, objects: listed.map((t) => `${t.database}.${t.name}`) };
}

/** The target of a case: `db` exists, with the other application's table and the tables the run copies into, each with rows of its own. */
export async function createTarget(target: ClickHouseConnection, template: string, db: string): Promise<void> {
  await target.exec(`CREATE DATABASE ${quoteIdentifier(db)}`);
  await target.exec(`CREATE TABLE ${qualifiedName(db, OTHER_APP)} ${OTHER_APP_CREATE}`);
  await target.exec(`INSERT INTO ${qualifiedName(db, OTHER_APP)} ${otherAppRows('before', 0, 1000)}`);
  for (const name of Object.keys(BIG_TARGET_ROWS)) await cloneTable(target, template, db, name);
  for (const [name, t] of Object.entries(SMALL_COPIED)) {
    await target.exec(`CREATE TABLE ${qualifiedName(db, name)} ${t.create}`);
    await target.exec(`INSERT INTO ${qualifiedName(db, name)} ${t.target}`);
  }
}

/** The other client's writes as the migration step starts: a new table with rows, rows into its own table, and rows into a new partition of a copied table. */
export async function clientWrites(target: ClickHouseConnection, db: string): Promise<void> {
  await target.exec(`CREATE TABLE ${qualifiedName(db, CLIENT_TABLE)} ${CLIENT_TABLE_CREATE}`);
  await Promise.all([
    target.exec(`INSERT INTO ${qualifiedName(db, CLIENT_TABLE)} ${CLIENT_TABLE_ROWS}`),
    target.exec(`INSERT INTO ${qualifiedName(db, OTHER_APP)} ${otherAppRows('during', 100000, 100)}`),
    clientPartitionWrite(target, db, 0),
  ]);
}

/** The other client's rows into its partition `index` of CLIENT_PARTITIONS. */
export function clientPartitionWrite(target: ClickHouseConnection, db: string, index: number): Promise<void> {
  const p = CLIENT_PARTITIONS[index];
  return target.exec(`INSERT INTO ${qualifiedName(db, p.table)} ${p.select}`);
}

/** The writer on the source: rows into every month of big_events (some already copied). */
export function sourceWrites(source: ClickHouseConnection, db: string): Promise<void> {
  return source.exec(`INSERT INTO ${qualifiedName(db, 'big_events')} ${SOURCE_WRITER_ROWS}`);
}

/** A table (or query) as this test sees it: `count()` and the sha256 of its rows as TSV, sorted by every column. */
export interface RowsCheck {
  count: number;
  sha256: string;
}

async function sortedSha(conn: ClickHouseConnection, select: string, order: string): Promise<RowsCheck> {
  const hash = createHash('sha256');
  let count = 0;
  const stream = await conn.stream(`SELECT * FROM (${select}) ORDER BY ${order} FORMAT TabSeparated`);
  for await (const chunk of stream) {
    const buffer = chunk as Buffer;
    hash.update(buffer);
    for (const byte of buffer) if (byte === 10) count++;
  }
  return { count, sha256: hash.digest('hex') };
}

async function columnOrder(conn: ClickHouseConnection, db: string, table: string): Promise<string> {
  const columns = await conn.rows<{ name: string }>(`SELECT name FROM system.columns WHERE database = ${quoteString(db)} AND table = ${quoteString(table)}`);
  if (columns.length === 0) throw new Error(`${db}.${table} is not on the server`);
  return columns.map((c) => quoteIdentifier(c.name)).join(', ');
}

/**
 * The independent check of a table (optionally of the rows `where` selects): `count()` from the
 * server, and the sha256 of every row as TSV in the order of all its columns (whose lines are
 * counted too). Never the product's fingerprint.
 */
export async function checkRows(conn: ClickHouseConnection, db: string, table: string, where?: string): Promise<RowsCheck> {
  const order = await columnOrder(conn, db, table);
  const filter = where ? ` WHERE ${where}` : '';
  const [{ n }] = await conn.rows<{ n: string }>(`SELECT count() AS n FROM ${qualifiedName(db, table)}${filter}`);
  const sorted = await sortedSha(conn, `SELECT * FROM ${qualifiedName(db, table)}${filter}`, order);
  if (sorted.count !== Number(n)) throw new Error(`${db}.${table}: count() says ${n} rows, the TSV has ${sorted.count} lines`);
  return sorted;
}

/** What the other client's rows should look like, computed by the server from the same generators (not stored anywhere). */
export async function expectedClientChecks(target: ClickHouseConnection): Promise<{ otherApp: RowsCheck; clientTable: RowsCheck; clientPartitions: RowsCheck[] }> {
  return {
    otherApp: await sortedSha(target, `${otherAppRows('before', 0, 1000)} UNION ALL ${otherAppRows('during', 100000, 100)}`, 'id, src, v, d'),
    clientTable: await sortedSha(target, CLIENT_TABLE_ROWS, 'id, note'),
    clientPartitions: await Promise.all(CLIENT_PARTITIONS.map((p) => sortedSha(target, p.select, 'day, id, kind, amount'))),
  };
}

/** The tables of `databases` on `conn`, as `database.name`. */
export async function tablesIn(conn: ClickHouseConnection, databases: string[]): Promise<string[]> {
  const rows = await conn.rows<{ name: string }>(`SELECT concat(database, '.', name) AS name FROM system.tables WHERE database IN (${quoteStringList(databases)}) ORDER BY name`);
  return rows.map((r) => r.name);
}

/** Databases and tables anywhere on the target whose names hold the run key (restore point, manifest, probe, trial, staging). */
export async function scratchOfRun(target: ClickHouseConnection, runKey: string): Promise<string[]> {
  const rows = await target.rows<{ name: string }>(
    `SELECT name FROM system.databases WHERE position(name, ${quoteString(runKey)}) > 0
     UNION ALL SELECT concat(database, '.', name) AS name FROM system.tables WHERE position(name, ${quoteString(runKey)}) > 0 OR position(database, ${quoteString(runKey)}) > 0`,
  );
  return rows.map((r) => r.name).sort();
}

export async function databaseExists(conn: ClickHouseConnection, db: string): Promise<boolean> {
  const [{ n }] = await conn.rows<{ n: string }>(`SELECT count() AS n FROM system.databases WHERE name = ${quoteString(db)}`);
  return Number(n) > 0;
}

/** One activity attempt the worker ran, as the tracker saw it. */
export interface ActivityRecord {
  workflowId: string;
  type: string;
  /** The range list and bounds of a copy, the pass and page of a verification. */
  detail: string;
  attempt: number;
  startedAt: number;
  endedAt: number | null;
  outcome: 'running' | 'completed' | 'failed';
  result?: unknown;
}

/**
 * Wraps the worker's activities to record, in this process, when each attempt starts and ends:
 * the clock of a cancel, and the activities in flight at the moment it was sent.
 */
export class ActivityTracker {
  readonly records: ActivityRecord[] = [];
  private waiters: { done: () => boolean; resolve: () => void }[] = [];
  private hooks: ((record: ActivityRecord) => void)[] = [];

  wrap<T extends object>(activities: T): T {
    const wrapped: Record<string, unknown> = {};
    for (const [type, fn] of Object.entries(activities)) {
      wrapped[type] = typeof fn !== 'function' ? fn : (...args: unknown[]) => this.run(type, fn as (...a: unknown[]) => Promise<unknown>, args);
    }
    return wrapped as T;
  }

  private async run(type: string, fn: (...a: unknown[]) => Promise<unknown>, args: unknown[]): Promise<unknown> {
    const { info } = Context.current();
    const record: ActivityRecord = { workflowId: info.workflowExecution?.workflowId ?? '?', type, detail: detailOf(args[0]), attempt: info.attempt, startedAt: Date.now(), endedAt: null, outcome: 'running' };
    this.records.push(record);
    this.changed(record);
    try {
      record.result = await fn(...args);
      record.outcome = 'completed';
      return record.result;
    } catch (err) {
      record.outcome = 'failed';
      throw err;
    } finally {
      record.endedAt = Date.now();
      this.changed(record);
    }
  }

  private changed(record: ActivityRecord): void {
    for (const hook of this.hooks) hook(record);
    const waiting = this.waiters;
    this.waiters = [];
    for (const w of waiting) {
      if (w.done()) w.resolve();
      else this.waiters.push(w);
    }
  }

  /** Calls `hook` at every start and end of an attempt; returns the function that removes it. */
  onChange(hook: (record: ActivityRecord) => void): () => void {
    this.hooks.push(hook);
    return () => {
      this.hooks = this.hooks.filter((h) => h !== hook);
    };
  }

  of(workflowId: string): ActivityRecord[] {
    return this.records.filter((r) => r.workflowId === workflowId);
  }

  /** The first record of the run that `match` accepts, once there is one (fails after `timeoutMs`). */
  async first(workflowId: string, match: (r: ActivityRecord) => boolean, what: string, timeoutMs = 120_000): Promise<ActivityRecord> {
    const find = () => this.of(workflowId).find(match);
    const found = find();
    if (found) return found;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        new Promise<void>((resolve) => this.waiters.push({ done: () => find() !== undefined, resolve })),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
    return find() as ActivityRecord;
  }
}

function detailOf(req: unknown): string {
  const r = req as { range?: { list: string; from: number; to: number }; pass?: number; page?: number } | undefined;
  if (r?.range) return `${r.range.list}[${r.range.from}..${r.range.to})`;
  if (typeof r?.pass === 'number') return `pass ${r.pass} page ${r.page}`;
  return '';
}

/**
 * The phase of a migration step that an activity stands for; `bulkRangesDone` is how many ranges
 * of the bulk copy had landed when it started (or at the cancel): none, and it is one of the first copies.
 */
export function phaseOf(record: ActivityRecord, bulkRangesDone: number): string {
  switch (record.type) {
    case 'takeRestorePoint':
    case 'fingerprintRestorePoint':
      return 'restore point';
    case 'createSchemaPaged':
      return 'schema';
    case 'planCopyPaged':
      return 'plan';
    case 'copyUnitRange':
      if (record.detail.startsWith('resync_')) return 'sync pass';
      return bulkRangesDone === 0 ? 'first copies' : 'mid-copy';
    case 'verifyPage':
      return record.detail.startsWith('pass 0') ? 'verification' : 'verification after sync';
    default:
      return record.type;
  }
}

/** Renders rows as a fixed-width table. */
export function renderTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (c ?? '').padEnd(widths[i])).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

/** What the run's history says happened after the cancel request: activities that completed anyway, and how the run closed. */
export async function historyAfterCancel(handle: WorkflowHandle): Promise<{ requested: boolean; completedAfter: string[]; closedAs: string }> {
  const history = await handle.fetchHistory();
  const typeOf = new Map<string, string>();
  let requested = false;
  const completedAfter: string[] = [];
  let closedAs = 'open';
  for (const event of history.events ?? []) {
    const scheduled = event.activityTaskScheduledEventAttributes;
    if (scheduled) typeOf.set(String(event.eventId), scheduled.activityType?.name ?? '?');
    if (event.workflowExecutionCancelRequestedEventAttributes) requested = true;
    const completed = event.activityTaskCompletedEventAttributes;
    if (completed && requested) completedAfter.push(typeOf.get(String(completed.scheduledEventId)) ?? '?');
    if (event.workflowExecutionCompletedEventAttributes) closedAs = 'completed';
    if (event.workflowExecutionCanceledEventAttributes) closedAs = 'cancelled';
    if (event.workflowExecutionFailedEventAttributes) closedAs = 'failed';
  }
  return { requested, completedAfter, closedAs };
}
