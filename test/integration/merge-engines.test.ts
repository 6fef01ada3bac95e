/**
 * Issue 25: the merge engines keep rows by the order in which they were inserted (the last row of
 * a ReplacingMergeTree key, the first value of a column SummingMergeTree does not sum, the pairing
 * of CollapsingMergeTree signs…), so a copy that changes that order changes what `SELECT … FINAL`
 * reads on the target. These tests insert on the source with its merges stopped, so that each
 * INSERT stays a part of its own, migrate, and compare both servers with their own SQL: sorted
 * FINAL rows, then the rows once each side merged every partition into one part.
 */
import { randomInt } from 'node:crypto';
import type { ClickHouseConnection } from '../../src/clickhouse/connection';
import { ClickHouseQueryError } from '../../src/clickhouse/errors';
import { qualifiedName, quoteIdentifier, quoteString } from '../../src/clickhouse/sql';
import type { MigrationState, TransferPath } from '../../src/workflows/types';
import { Draw, GENERATORS, type SourceTable } from './merge-engine-histories';
import { migrationInput, queryState, seeded, startMigration, uniqueName, useTestServers, waitFor } from './harness';

const servers = useTestServers({ worker: true });

/** Seed of the random histories; `MERGE_SEED=<n>` replays one. */
const SEED = Number(process.env.MERGE_SEED ?? randomInt(2 ** 31));

/** ClickHouse's error code for FINAL on an engine that has none (on 18.16: MergeTree, GraphiteMergeTree). */
const ILLEGAL_FINAL = 181;

/** Creates `db` on the source with `tables`, stops their merges, then runs their inserts in order. */
async function sourceDatabase(db: string, tables: SourceTable[]): Promise<void> {
  await servers.source.exec(`CREATE DATABASE ${quoteIdentifier(db)}`);
  for (const table of tables) {
    await servers.source.exec(`CREATE TABLE ${qualifiedName(db, table.name)} ${table.definition}`);
    await servers.source.exec(`SYSTEM STOP MERGES ${qualifiedName(db, table.name)}`);
    for (const insert of table.inserts) await servers.source.exec(`INSERT INTO ${qualifiedName(db, table.name)} ${insert}`);
  }
}

/** Active parts of each partition of a table. */
async function partsPerPartition(conn: ClickHouseConnection, db: string, table: string): Promise<number[]> {
  const rows = await conn.rows<{ parts: string }>(
    `SELECT count() AS parts FROM system.parts WHERE database = ${quoteString(db)} AND table = ${quoteString(table)} AND active GROUP BY partition_id ORDER BY partition_id`,
  );
  return rows.map((r) => Number(r.parts));
}

/** Migrates `db` without approval gates on `path`; returns the run's last state, failed or not. */
async function migrate(db: string, path: TransferPath): Promise<MigrationState> {
  const input = migrationInput(uniqueName('engines'), [db], { approvals: { required: false } });
  // Nothing listens on port 1: the target's remote() cannot reach the source, so validation picks the worker path.
  if (path === 'worker') input.source.nativePort = 1;
  const handle = await startMigration(servers.client, input);
  await handle.result().catch(() => undefined);
  return queryState(handle);
}

function expectCompleted(state: MigrationState, path: TransferPath): void {
  expect({ status: state.status, error: state.error?.message ?? null, path: state.transferPath }).toEqual({ status: 'completed', error: null, path });
}

/**
 * Whether the server reads the table with FINAL. The test asks on its own rather than through the
 * product's `readsFinal`: what it compares must not hang on the code under test.
 */
async function readsFinal(conn: ClickHouseConnection, db: string, table: string): Promise<boolean> {
  try {
    await conn.rows(`SELECT count() FROM ${qualifiedName(db, table)} FINAL`);
    return true;
  } catch (err) {
    if (err instanceof ClickHouseQueryError && err.code === ILLEGAL_FINAL) return false;
    throw err;
  }
}

/** The table's rows as TSV lines sorted by every column, aggregate states read through finalizeAggregation. */
async function sortedRows(conn: ClickHouseConnection, db: string, table: string, final: boolean): Promise<string[]> {
  const columns = await conn.rows<{ name: string; type: string }>(
    `SELECT name, type FROM system.columns WHERE database = ${quoteString(db)} AND table = ${quoteString(table)}`,
  );
  const aliases = columns.map((_, i) => quoteIdentifier(`__c${i}`));
  const read = columns.map((c, i) => {
    const column = quoteIdentifier(c.name);
    return `${c.type.startsWith('AggregateFunction(') ? `finalizeAggregation(${column})` : column} AS ${aliases[i]}`;
  });
  const tsv = await conn.text(`SELECT ${read.join(', ')} FROM ${qualifiedName(db, table)}${final ? ' FINAL' : ''} ORDER BY ${aliases.join(', ')} FORMAT TSV`);
  return tsv === '' ? [] : tsv.replace(/\n$/, '').split('\n');
}

/** How one table reads on both servers: row counts, and the first lines that only one side has. */
interface Comparison {
  table: string;
  read: 'FINAL' | 'plain' | 'merged';
  sourceRows: number;
  targetRows: number;
  onlyOnSource: { lines: number; first: string[] };
  onlyOnTarget: { lines: number; first: string[] };
}

/** Lines of `a` that `b` lacks, counted with repeats. */
function missingFrom(a: string[], b: string[]): { lines: number; first: string[] } {
  const left = new Map<string, number>();
  for (const line of b) left.set(line, (left.get(line) ?? 0) + 1);
  const missing = a.filter((line) => {
    const n = left.get(line) ?? 0;
    left.set(line, n - 1);
    return n <= 0;
  });
  return { lines: missing.length, first: missing.slice(0, 5) };
}

/** Reads the table on both servers, with FINAL or plainly ('plain', or 'merged' once both sides merged it fully). */
async function compare(db: string, table: string, read: Comparison['read']): Promise<Comparison> {
  const [onSource, onTarget] = await Promise.all([servers.source, servers.target].map((conn) => sortedRows(conn, db, table, read === 'FINAL')));
  return {
    table,
    read,
    sourceRows: onSource.length,
    targetRows: onTarget.length,
    onlyOnSource: missingFrom(onSource, onTarget),
    onlyOnTarget: missingFrom(onTarget, onSource),
  };
}

function same(c: Comparison): boolean {
  return c.sourceRows === c.targetRows && c.onlyOnSource.lines === 0 && c.onlyOnTarget.lines === 0;
}

function summary(c: Comparison): string {
  return `${c.table} ${c.read}: ${c.sourceRows} rows on the source, ${c.targetRows} on the target, ${same(c) ? 'equal' : `${c.onlyOnSource.lines} lines only on the source, ${c.onlyOnTarget.lines} only on the target`}`;
}

/** OPTIMIZE … FINAL on one server until every partition of the table is one part (a merge running already makes OPTIMIZE do nothing). */
async function mergeFully(conn: ClickHouseConnection, db: string, table: string): Promise<void> {
  await waitFor(
    async () => {
      await conn.exec(`OPTIMIZE TABLE ${qualifiedName(db, table)} FINAL`);
      return partsPerPartition(conn, db, table);
    },
    (parts) => parts.every((n) => n === 1),
    `${db}.${table} merged into one part per partition`,
    60_000,
  );
}

/** One row of `sql` (with `{t}` for the table) on each server. */
async function onBoth<T>(db: string, table: string, sql: string): Promise<[T, T]> {
  const read = async (conn: ClickHouseConnection) => (await conn.rows<T>(sql.replace('{t}', qualifiedName(db, table))))[0];
  return [await read(servers.source), await read(servers.target)];
}

describe('issue 25: after a migration, FINAL reads on the target what it reads on the source', () => {
  it("ReplacingMergeTree without a version: 200,000 keys inserted as 'old', then as 'new', read 'new' on the target", async () => {
    const db = servers.database('eng_replacing');
    await sourceDatabase(db, [
      {
        name: 'kv',
        definition: '(k UInt64, v String) ENGINE = ReplacingMergeTree ORDER BY k',
        inserts: [`SELECT number, 'old' FROM system.numbers LIMIT 200000`, `SELECT number, 'new' FROM system.numbers LIMIT 200000`],
      },
    ]);
    expect(await partsPerPartition(servers.source, db, 'kv')).toEqual([2]);

    const state = await migrate(db, 'server');
    const [source, target] = await onBoth<{ new: string; old: string }>(db, 'kv', `SELECT countIf(v = 'new') AS new, countIf(v = 'old') AS old FROM {t} FINAL`);
    const finalRows = await compare(db, 'kv', 'FINAL');
    console.log(`replacing: FINAL reads 'new' for ${source.new} keys ('old' ${source.old}) on the source, 'new' for ${target.new} ('old' ${target.old}) on the target; ${summary(finalRows)}`);

    expectCompleted(state, 'server');
    expect(Number(target.new)).toBe(200_000);
    expect(finalRows).toMatchObject({ targetRows: finalRows.sourceRows, onlyOnSource: { lines: 0 }, onlyOnTarget: { lines: 0 } });
  });

  it("ReplacingMergeTree(ver): of rows with equal versions, the target keeps the last inserted ('b' after 'a'), and a lower version loses", async () => {
    const db = servers.database('eng_replacing_ver');
    await sourceDatabase(db, [
      {
        name: 'kv',
        definition: '(k UInt64, ver UInt32, v String) ENGINE = ReplacingMergeTree(ver) ORDER BY k',
        inserts: [7, 7, 6].map((ver, i) => `SELECT number, ${ver}, '${'abc'[i]}' FROM system.numbers LIMIT 100000`),
      },
    ]);

    const state = await migrate(db, 'server');
    const [source, target] = await onBoth<{ b: string; rows: string }>(db, 'kv', `SELECT countIf(v = 'b') AS b, count() AS rows FROM {t} FINAL`);
    const finalRows = await compare(db, 'kv', 'FINAL');
    console.log(`replacing(ver): FINAL reads 'b' for ${source.b} of ${source.rows} keys on the source, ${target.b} of ${target.rows} on the target; ${summary(finalRows)}`);

    expectCompleted(state, 'server');
    expect(Number(target.b)).toBe(100_000);
    expect(finalRows).toMatchObject({ targetRows: finalRows.sourceRows, onlyOnSource: { lines: 0 }, onlyOnTarget: { lines: 0 } });
  });

  it('SummingMergeTree((y)): x, which it does not sum, keeps on the target the first value inserted (1, not 4)', async () => {
    const db = servers.database('eng_summing');
    await sourceDatabase(db, [
      {
        name: 'sums',
        definition: '(k UInt64, x UInt32, y UInt64) ENGINE = SummingMergeTree((y)) ORDER BY k',
        inserts: [`SELECT number, 1, 2 FROM system.numbers LIMIT 100000`, `SELECT number, 4, 5 FROM system.numbers LIMIT 100000`],
      },
    ]);

    const state = await migrate(db, 'server');
    const [source, target] = await onBoth<{ x1: string; x4: string; y: string }>(db, 'sums', 'SELECT countIf(x = 1) AS x1, countIf(x = 4) AS x4, min(y) AS y FROM {t} FINAL');
    const finalRows = await compare(db, 'sums', 'FINAL');
    console.log(`summing: FINAL reads x = 1 for ${source.x1} keys (x = 4: ${source.x4}, y = ${source.y}) on the source, x = 1 for ${target.x1} (x = 4: ${target.x4}, y = ${target.y}) on the target; ${summary(finalRows)}`);

    expectCompleted(state, 'server');
    expect(Number(target.x1)).toBe(100_000);
    expect(finalRows).toMatchObject({ targetRows: finalRows.sourceRows, onlyOnSource: { lines: 0 }, onlyOnTarget: { lines: 0 } });
  });

  it('CollapsingMergeTree: a state, its cancel with the next state, then cancels of every third key read the same rows on the target', async () => {
    const db = servers.database('eng_collapsing');
    const keys = 100_000;
    await sourceDatabase(db, [
      {
        name: 'states',
        definition: '(k UInt64, sign Int8, v String) ENGINE = CollapsingMergeTree(sign) ORDER BY k',
        inserts: [
          `SELECT number, 1, 'v1' FROM system.numbers LIMIT ${keys}`,
          // Per key: the cancel of v1, then the state v2 (one part keeps the order of rows with equal keys).
          `SELECT intDiv(number, 2), if(number % 2 = 0, -1, 1), if(number % 2 = 0, 'v1', 'v2') FROM system.numbers LIMIT ${2 * keys}`,
          `SELECT number, -1, 'v2' FROM system.numbers WHERE number % 3 = 0 LIMIT ${Math.ceil(keys / 3)}`,
        ],
      },
    ]);

    const state = await migrate(db, 'server');
    const [source, target] = await onBoth<{ rows: string; v2: string }>(db, 'states', `SELECT count() AS rows, countIf(v = 'v2' AND sign = 1) AS v2 FROM {t} FINAL`);
    const finalRows = await compare(db, 'states', 'FINAL');
    console.log(`collapsing: FINAL reads ${source.rows} rows (${source.v2} of state v2) on the source, ${target.rows} (${target.v2}) on the target; ${summary(finalRows)}`);

    expectCompleted(state, 'server');
    expect(Number(target.rows)).toBe(keys - Math.ceil(keys / 3));
    expect(finalRows).toMatchObject({ targetRows: finalRows.sourceRows, onlyOnSource: { lines: 0 }, onlyOnTarget: { lines: 0 } });
  });

  it("ClickHouse's functional test 00084 (summing merge tree): the target reads FINAL as the source does, and merges into the test's expected rows", async () => {
    const db = servers.database('eng_00084');
    const hello = [`VALUES ('2000-01-01', 'Hello', 1, 2, 3)`, `VALUES ('2000-01-01', 'Hello', 4, 5, 6)`, `VALUES ('2000-01-01', 'Goodbye', 1, 2, 3)`];
    const columns = '(d Date, a String, x UInt32, y UInt64, z Float64)';
    await sourceDatabase(db, [
      // The 18.16 syntax of the test: date column, primary key, index granularity (and the summed columns).
      { name: 'sum_all', definition: `${columns} ENGINE = SummingMergeTree(d, a, 8192)`, inserts: hello },
      { name: 'sum_yz', definition: `${columns} ENGINE = SummingMergeTree(d, a, 8192, (y, z))`, inserts: hello },
      { name: 'sum_zero', definition: '(p Date, k UInt64, s UInt64) ENGINE = SummingMergeTree(p, k, 1)', inserts: ['(k, s) VALUES (0, 1)', '(k, s) VALUES (0, 1), (666, 1), (666, 0)'] },
    ]);

    const state = await migrate(db, 'server');
    const finals = [await compare(db, 'sum_all', 'FINAL'), await compare(db, 'sum_yz', 'FINAL'), await compare(db, 'sum_zero', 'FINAL')];
    const targetFinal = await Promise.all(['sum_all', 'sum_yz', 'sum_zero'].map((t) => sortedRows(servers.target, db, t, true)));
    console.log(`00084: ${finals.map(summary).join('; ')}; target FINAL: ${JSON.stringify(targetFinal)}`);
    expectCompleted(state, 'server');
    expect(finals.filter((c) => !same(c))).toEqual([]);

    for (const table of ['sum_all', 'sum_yz', 'sum_zero']) {
      await servers.source.exec(`SYSTEM START MERGES ${qualifiedName(db, table)}`);
      await Promise.all([servers.source, servers.target].map((conn) => mergeFully(conn, db, table)));
    }
    const merged = await Promise.all(['sum_all', 'sum_yz', 'sum_zero'].map((t) => sortedRows(servers.target, db, t, false)));
    expect(merged).toEqual([
      ['2000-01-01\tGoodbye\t1\t2\t3', '2000-01-01\tHello\t5\t7\t9'],
      ['2000-01-01\tGoodbye\t1\t2\t3', '2000-01-01\tHello\t1\t7\t9'],
      ['0000-00-00\t0\t2', '0000-00-00\t666\t1'],
    ]);
    expect((await Promise.all(['sum_all', 'sum_yz', 'sum_zero'].map((t) => compare(db, t, 'merged')))).filter((c) => !same(c))).toEqual([]);
  });
});

describe('every MergeTree engine the source lists, with random histories', () => {
  it.each(['server', 'worker'] as const)('on the %s path, each table reads the same on the target with FINAL, and once both sides merged it fully', async (path) => {
    const listed = await servers.source.rows<{ name: string }>(
      "SELECT name FROM system.table_engines WHERE name LIKE '%MergeTree' AND name NOT LIKE 'Replicated%' ORDER BY name",
    );
    const engines = listed.map((e) => e.name);
    const missing = engines.filter((e) => !(e in GENERATORS));
    if (missing.length > 0) {
      throw new Error(`the source lists ${missing.join(', ')} without a generator: add one to GENERATORS in test/integration/merge-engine-histories.ts`);
    }
    console.log(`merge engines (${path}): seed ${SEED} (MERGE_SEED=${SEED} replays it), engines ${engines.join(', ')}`);
    const draw = new Draw(seeded(SEED));
    const tables = engines.flatMap((engine) => GENERATORS[engine](draw).map((table) => ({ engine, ...table })));
    const db = servers.database(`eng_random_${path}`);
    await sourceDatabase(db, tables);
    for (const table of tables) expect({ table: table.name, parts: await partsPerPartition(servers.source, db, table.name) }).toEqual({ table: table.name, parts: [table.inserts.length, table.inserts.length] });

    const state = await migrate(db, path);
    expectCompleted(state, path);

    const finals: Comparison[] = [];
    const merged: Comparison[] = [];
    for (const table of tables) {
      // Stored rows of a merging engine change whenever a side merges: without FINAL (GraphiteMergeTree
      // on 18.16), only the plain engine compares before both sides merged fully.
      const final = await readsFinal(servers.source, db, table.name);
      const before = final || table.engine === 'MergeTree' ? await compare(db, table.name, final ? 'FINAL' : 'plain') : null;
      if (before) finals.push(before);
      await servers.source.exec(`SYSTEM START MERGES ${qualifiedName(db, table.name)}`);
      await Promise.all([servers.source, servers.target].map((conn) => mergeFully(conn, db, table.name)));
      merged.push(await compare(db, table.name, 'merged'));
      const first = before ? summary(before) : `${table.name}: no FINAL on this server`;
      console.log(`merge engines (${path}), ${table.engine} with ${table.inserts.length} inserts: ${first}; ${summary(merged[merged.length - 1])}`);
    }
    expect(finals.filter((c) => !same(c))).toEqual([]);
    expect(merged.filter((c) => !same(c))).toEqual([]);
  });
});
