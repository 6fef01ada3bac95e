/**
 * Include and exclude filters on a transfer (issue 21): the scope is listed before the first gate
 * and in configure's report, only tables in scope reach the target, a view over a table left out
 * is a problem, and a pattern that matches nothing is a 400 naming its field.
 */
import request from 'supertest';
import type { Express } from 'express';
import { createApp } from '../../src/api/app';
import type { ClickHouseConnection } from '../../src/clickhouse/connection';
import { qualifiedName, quoteIdentifier, quoteString } from '../../src/clickhouse/sql';
import type { ScopeReport } from '../../src/workflows/scope';
import type { MigrationState, TablesPage, TargetReport } from '../../src/workflows/types';
import { createDemoLike } from './fixtures';
import { apiEndpoint, tableDigest, TEST_KEY, useTestServers, waitFor } from './harness';
import { testStack } from './stack-env';

const started: string[] = [];
// Declared before the servers' own clean-up, so that it runs while their client is still open.
afterAll(async () => {
  // Cancel, not terminate: a cancelled run drops what it left on the shared target.
  for (const id of started) {
    const handle = servers.client.workflow.getHandle(id);
    if ((await handle.describe()).status.name !== 'RUNNING') continue;
    await handle.cancel();
    await handle.result().catch(() => undefined);
  }
});
const servers = useTestServers({ worker: true });
let app: Express;

beforeAll(() => {
  app = createApp({ client: servers.client, namespace: 'default', temporalUiUrl: testStack().temporalUiUrl, keyring: TEST_KEY, logger: { error: () => undefined }, auth: { mode: 'off', fourEyes: false } });
});


async function start(body: Record<string, unknown>) {
  const { source, target } = testStack();
  const res = await request(app).post('/migrations').send({ source: apiEndpoint(source), target: apiEndpoint(target), ...body });
  if (res.status === 201) started.push(res.body.id);
  return res;
}

const getState = async (id: string): Promise<MigrationState> => (await request(app).get(`/migrations/${id}`).expect(200)).body;
const awaiting = (id: string, step: string) => waitFor(() => getState(id), (s) => s.awaitingApproval?.step === step, `approval of ${step}`);
const approve = (id: string, step: string) => request(app).post(`/migrations/${id}/approve`).send({ step }).expect(202);
const ended = (id: string) => waitFor(() => getState(id), (s) => s.status !== 'running' && s.status !== 'awaiting_approval', 'the end of the run');

/** Every page of `GET /migrations/:id/tables`, a few tables a page. */
async function allTables(id: string): Promise<TablesPage['tables']> {
  const tables: TablesPage['tables'] = [];
  let cursor: string | null = null;
  do {
    const page: TablesPage = (await request(app).get(`/migrations/${id}/tables`).query({ limit: 3, ...(cursor ? { cursor } : {}) }).expect(200)).body;
    tables.push(...page.tables);
    cursor = page.nextCursor;
  } while (cursor);
  return tables;
}

/** The source's tables and views of `databases` (storage tables of views apart), from its catalogue. */
async function catalogue(conn: ClickHouseConnection, databases: string[]): Promise<{ database: string; name: string; engine: string }[]> {
  return conn.rows(`SELECT database, name, engine FROM system.tables WHERE database IN (${databases.map(quoteString).join(', ')}) AND NOT startsWith(name, '.inner') ORDER BY database, name`);
}

/** Rows and bytes on disk of one object as the test reads them: a materialized view's are its storage table's; a view has none. */
async function sizeOf(conn: ClickHouseConnection, database: string, name: string, engine: string): Promise<{ rows: number; bytes: number }> {
  if (engine === 'View') return { rows: 0, bytes: 0 };
  const stored = engine === 'MaterializedView' ? `.inner.${name}` : name;
  const [count] = await conn.rows<{ n: string }>(`SELECT count() AS n FROM ${qualifiedName(database, stored)}`);
  const [disk] = await conn.rows<{ b: string }>(`SELECT toString(sum(bytes_on_disk)) AS b FROM system.parts WHERE active AND database = ${quoteString(database)} AND table = ${quoteString(stored)}`);
  return { rows: Number(count.n), bytes: Number(disk?.b ?? 0) };
}

/** Whether the target has `database.name`. */
async function existsOn(conn: ClickHouseConnection, database: string, name: string): Promise<boolean> {
  const rows = await conn.rows(`SELECT 1 FROM system.tables WHERE database = ${quoteString(database)} AND name = ${quoteString(name)}`);
  return rows.length > 0;
}

describe('include and exclude filters on a transfer', () => {
  it('when tables are left out by exclude and by include, only those in scope are listed at the first gate and in configure, and copied exactly; the target keeps its own copy of one left out', async () => {
    const { source, target } = servers;
    const main = servers.database('filters');
    const other = servers.database('filters_other');
    await createDemoLike(source, main, 20_000);
    for (const name of ['tmp_a', 'tmp_b']) {
      await source.exec(`CREATE TABLE ${qualifiedName(main, name)} (k UInt64) ENGINE = MergeTree ORDER BY k`);
      await source.exec(`INSERT INTO ${qualifiedName(main, name)} SELECT number FROM system.numbers LIMIT 100`);
    }
    await source.exec(`CREATE DATABASE ${quoteIdentifier(other)}`);
    for (const [name, rows] of [['keep_1', 70], ['keep_2', 0], ['drop_1', 30]] as const) {
      await source.exec(`CREATE TABLE ${qualifiedName(other, name)} (k UInt64, s String) ENGINE = MergeTree ORDER BY k`);
      if (rows > 0) await source.exec(`INSERT INTO ${qualifiedName(other, name)} SELECT number, toString(number) FROM system.numbers LIMIT ${rows}`);
    }
    // The target already holds a table the run leaves out, with rows of its own: the run must not see or touch it.
    await target.exec(`CREATE DATABASE ${quoteIdentifier(main)}`);
    await target.exec(`CREATE TABLE ${qualifiedName(main, 'tmp_a')} (k UInt64) ENGINE = MergeTree ORDER BY k`);
    await target.exec(`INSERT INTO ${qualifiedName(main, 'tmp_a')} SELECT number + 1000 FROM system.numbers LIMIT 7`);
    const targetOwn = await tableDigest(target, main, 'tmp_a');

    // Merged to the end, so that no background merge changes rows or bytes while the test reads them.
    const merging = await source.rows<{ database: string; name: string }>(`SELECT database, name FROM system.tables WHERE database IN (${quoteString(main)}, ${quoteString(other)}) AND engine LIKE '%MergeTree'`);
    for (const t of merging) await source.exec(`OPTIMIZE TABLE ${qualifiedName(t.database, t.name)} FINAL`);
    // The test's own reading of the filters, over the source's catalogue.
    const inScope = (database: string, name: string) => (database === main ? !name.startsWith('tmp_') : name.startsWith('keep'));
    const objects = await catalogue(source, [main, other]);
    const expected = await Promise.all(objects.filter((o) => inScope(o.database, o.name)).map(async (o) => ({ database: o.database, table: o.name, ...(await sizeOf(source, o.database, o.name, o.engine)) })));
    const leftOut = objects.filter((o) => !inScope(o.database, o.name));
    expect(leftOut.length).toBe(3);
    expect(expected.length).toBeGreaterThan(5);

    const res = await start({ databases: [main, other], include: [`${main}.*`, `${other}.keep*`], exclude: [`${main}.tmp_*`] });
    expect(res.status).toBe(201);
    const id = res.body.id as string;

    const atGate = await awaiting(id, 'configure');
    const listed = await allTables(id);
    expect(listed.map((t) => ({ database: t.database, table: t.table, rows: t.rows, bytes: t.bytes }))).toEqual(expected);
    // Before the first approval: what is in scope, and each table left out with the pattern that left it out.
    const expectedLeftOut = leftOut.map((o) =>
      o.database === main ? { database: o.database, name: o.name, field: 'exclude', pattern: `${main}.tmp_*` } : { database: o.database, name: o.name, field: 'include', pattern: `${main}.*, ${other}.keep*` },
    );
    expect(atGate.scope).toEqual({
      tables: expected.length,
      rows: expected.reduce((n, t) => n + t.rows, 0),
      bytes: expected.reduce((n, t) => n + t.bytes, 0),
      excluded: leftOut.length,
      leftOut: expectedLeftOut,
      problems: [],
    });

    await approve(id, 'configure');
    await awaiting(id, 'validation');
    const configure = (await getState(id)).steps.find((s) => s.name === 'configure')?.result as TargetReport & { scope: ScopeReport };
    expect(configure.scope.inScope).toEqual(expected);
    expect(configure.scope.leftOut).toEqual(expectedLeftOut);
    expect(configure.problems).toEqual([]);

    await approve(id, 'validation');
    await awaiting(id, 'migration');
    await approve(id, 'migration');
    const final = await ended(id);
    expect(final.error).toBeNull();
    expect(final.status).toBe('completed');

    for (const o of objects) {
      if (!inScope(o.database, o.name)) continue;
      expect(await existsOn(target, o.database, o.name)).toBe(true);
      if (o.engine !== 'View') {
        const stored = o.engine === 'MaterializedView' ? `.inner.${o.name}` : o.name;
        expect(await tableDigest(target, o.database, stored)).toEqual(await tableDigest(source, o.database, stored));
      }
    }
    // What users read through the views, on both sides.
    for (const view of objects.filter((o) => o.engine.endsWith('View') && inScope(o.database, o.name))) {
      const read = (conn: ClickHouseConnection) => conn.rows(`SELECT * FROM ${qualifiedName(view.database, view.name)} ORDER BY tuple(*)`);
      expect(await read(target)).toEqual(await read(source));
    }
    expect(await existsOn(target, main, 'tmp_b')).toBe(false);
    expect(await existsOn(target, other, 'drop_1')).toBe(false);
    expect(await tableDigest(target, main, 'tmp_a')).toEqual(targetOwn);
  });

  it('when a filtered run fails in its migration step, the rollback puts back what it wrote and never touches the table left out', async () => {
    const { source, target } = servers;
    const db = servers.database('filters_rb');
    await createDemoLike(source, db, 20_000);
    await source.exec(`CREATE TABLE ${qualifiedName(db, 'tmp_x')} (k UInt64) ENGINE = MergeTree ORDER BY k`);
    await source.exec(`INSERT INTO ${qualifiedName(db, 'tmp_x')} SELECT number FROM system.numbers LIMIT 50`);
    await target.exec(`CREATE DATABASE ${quoteIdentifier(db)}`);
    await target.exec(`CREATE TABLE ${qualifiedName(db, 'tmp_x')} (k UInt64) ENGINE = MergeTree ORDER BY k`);
    await target.exec(`INSERT INTO ${qualifiedName(db, 'tmp_x')} SELECT number * 3 FROM system.numbers LIMIT 9`);
    await target.exec(`CREATE TABLE ${qualifiedName(db, 'events')} (event_date Date, user_id UInt64, kind String, amount Float64) ENGINE = MergeTree PARTITION BY toYYYYMM(event_date) ORDER BY (event_date, user_id)`);
    await target.exec(`INSERT INTO ${qualifiedName(db, 'events')} SELECT toDate('2025-03-01') + number % 40, number, 'old', 1 FROM system.numbers LIMIT 400`);
    const before = { tmp: await tableDigest(target, db, 'tmp_x'), events: await tableDigest(target, db, 'events') };

    const res = await start({ databases: [db], exclude: [`${db}.tmp_*`], options: { onConflict: 'replace', parallelism: 1, syncPasses: 3 } });
    expect(res.status).toBe(201);
    const id = res.body.id as string;
    for (const step of ['configure', 'validation']) {
      await awaiting(id, step);
      await approve(id, step);
    }
    await awaiting(id, 'migration');
    // The copy of `users` fails once `events` is copied: the run rolls back.
    await source.exec(`ALTER TABLE ${qualifiedName(db, 'users')} DROP COLUMN name`);
    await approve(id, 'migration');
    const final = await ended(id);
    expect(final.status).toBe('rolled_back');
    expect(final.rollback?.leftovers ?? []).toEqual([]);
    expect(await tableDigest(target, db, 'tmp_x')).toEqual(before.tmp);
    expect(await tableDigest(target, db, 'events')).toEqual(before.events);
    const left = await target.rows<{ name: string }>(`SELECT name FROM system.tables WHERE database = ${quoteString(db)} ORDER BY name`);
    expect(left.map((t) => t.name)).toEqual(['events', 'tmp_x']);
  });

  it('when a materialized view in scope reads a table left out, configure fails naming both', async () => {
    const { source } = servers;
    const db = servers.database('filters_mv');
    await source.exec(`CREATE DATABASE ${quoteIdentifier(db)}`);
    await source.exec(`CREATE TABLE ${qualifiedName(db, 'raw')} (d Date, n UInt64) ENGINE = MergeTree PARTITION BY toYYYYMM(d) ORDER BY d`);
    await source.exec(`CREATE MATERIALIZED VIEW ${qualifiedName(db, 'totals')} ENGINE = SummingMergeTree ORDER BY d AS SELECT d, sum(n) AS n FROM ${qualifiedName(db, 'raw')} GROUP BY d`);
    await source.exec(`INSERT INTO ${qualifiedName(db, 'raw')} SELECT toDate('2025-01-01') + number % 30, number FROM system.numbers LIMIT 500`);

    const res = await start({ databases: [db], exclude: [`${db}.raw`] });
    expect(res.status).toBe(201);
    const id = res.body.id as string;
    const problem = `the materialized view ${db}.totals reads ${db}.raw, which exclude pattern "${db}.raw" leaves out`;
    const atGate = await awaiting(id, 'configure');
    expect((await allTables(id)).map((t) => t.table)).toEqual(['totals']);
    // Named before the first approval, and configure fails on it.
    expect(atGate.scope?.problems).toEqual([expect.stringContaining(problem)]);
    expect(atGate.scope?.leftOut).toEqual([{ database: db, name: 'raw', field: 'exclude', pattern: `${db}.raw` }]);
    await approve(id, 'configure');
    const final = await ended(id);
    expect(final.status).toBe('failed');
    expect(final.error?.message).toContain(problem);
  });

  it('when a pattern matches no table of the source, the start is a 400 naming the field, and nothing is locked', async () => {
    const { source } = servers;
    const db = servers.database('filters_none');
    await source.exec(`CREATE DATABASE ${quoteIdentifier(db)}`);
    await source.exec(`CREATE TABLE ${qualifiedName(db, 'only')} (k UInt8) ENGINE = TinyLog`);

    const excluded = await start({ databases: [db], exclude: [`${db}.only`, `${db}.nothing_*`] });
    expect(excluded.status).toBe(400);
    expect(excluded.body.issues).toEqual([{ path: 'exclude.1', message: expect.stringContaining('exclude[1]') }]);
    expect(excluded.body.issues[0].message).toContain(`"${db}.nothing_*"`);

    const included = await start({ databases: [db], include: [`${db}.no?e`] });
    expect(included.status).toBe(400);
    expect(included.body.issues).toEqual([{ path: 'include.0', message: expect.stringContaining('include[0]') }]);
    // The refused runs took no lock: a run of the same database starts, and waits at its first gate.
    const fine = await start({ databases: [db], include: [`${db}.on?y`] });
    expect(fine.status).toBe(201);
    await awaiting(fine.body.id, 'configure');
    expect((await allTables(fine.body.id)).map((t) => [t.table, t.rows])).toEqual([['only', 0]]);
  });
});
