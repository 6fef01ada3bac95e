import request from 'supertest';
import { createApp } from '../../src/api/app';
import type { ClickHouseConnection } from '../../src/clickhouse/connection';
import { INTERNAL_PREFIX } from '../../src/clickhouse/scratch';
import { qualifiedName, quoteIdentifier, quoteString } from '../../src/clickhouse/sql';
import { LOCAL_CLUSTER, ownCluster } from '../../src/dev/clickhouse-server';
import { runKeyOf } from '../../src/workflows/state';
import type { MigrationInput, MigrationState } from '../../src/workflows/types';
import { apiEndpoint, awaitingApproval, migrationInput, queryState, startMigration, TEST_KEY, uniqueName, useTestServers, waitFor } from './harness';
import { testStack } from './stack-env';

const servers = useTestServers({ worker: true });

/** Every object the source database gets, tables and views: the test reads each on both sides. */
const OBJECTS = ['orders', 'totals', 'mv', 'mv_inner', '.inner.mv_inner', 'v', 'merged', 'buffered', 'spread'];

/**
 * A source database with a MergeTree table, a materialized view writing TO a table, one with its
 * own inner table, a plain view,
 * and Merge, Buffer and Distributed tables (over the servers' one-node cluster of themselves), all
 * naming their database.
 */
async function sourceDatabase(db: string): Promise<void> {
  const q = (name: string) => qualifiedName(db, name);
  const exec = (sql: string) => servers.source.exec(sql);
  await exec(`CREATE DATABASE ${quoteIdentifier(db)}`);
  await exec(`CREATE TABLE ${q('orders')} (d Date, id UInt64, kind String, amount Float64) ENGINE = MergeTree PARTITION BY toYYYYMM(d) ORDER BY id`);
  await exec(`CREATE TABLE ${q('totals')} (kind String, n UInt64) ENGINE = MergeTree ORDER BY kind`);
  await exec(`CREATE MATERIALIZED VIEW ${q('mv')} TO ${q('totals')} AS SELECT kind, count() AS n FROM ${q('orders')} GROUP BY kind`);
  await exec(`CREATE MATERIALIZED VIEW ${q('mv_inner')} ENGINE = SummingMergeTree ORDER BY kind AS SELECT kind, count() AS n FROM ${q('orders')} GROUP BY kind`);
  await exec(`CREATE VIEW ${q('v')} AS SELECT kind, sum(amount) AS total, count() AS n FROM ${q('orders')} GROUP BY kind`);
  await exec(`CREATE TABLE ${q('merged')} (d Date, id UInt64, kind String, amount Float64) ENGINE = Merge(${quoteIdentifier(db)}, '^orders$')`);
  await exec(`CREATE TABLE ${q('buffered')} (d Date, id UInt64, kind String, amount Float64) ENGINE = Buffer(${quoteIdentifier(db)}, orders, 1, 10, 100, 10000, 1000000, 10000000, 100000000)`);
  await exec(`CREATE TABLE ${q('spread')} (d Date, id UInt64, kind String, amount Float64) ENGINE = Distributed(${LOCAL_CLUSTER}, ${quoteIdentifier(db)}, orders)`);
  for (const batch of [0, 1, 2]) {
    await exec(`INSERT INTO ${q('orders')} SELECT toDate('2025-01-01') + (number % 200), ${batch * 10_000} + number, concat('k', toString(number % 7)), toFloat64(number % 100) FROM system.numbers LIMIT 10000`);
  }
}

/** count() and a sum of row hashes of what `db.name` reads (views included), written here, not taken from the product. */
async function reads(conn: ClickHouseConnection, db: string, name: string): Promise<{ rows: number; checksum: string }> {
  const columns = await conn.rows<{ name: string }>(`SELECT name FROM system.columns WHERE database = ${quoteString(db)} AND table = ${quoteString(name)}`);
  const [row] = await conn.rows<{ rows: string; checksum: string }>(
    `SELECT count() AS rows, toString(sum(cityHash64(${columns.map((c) => quoteIdentifier(c.name)).join(', ')}))) AS checksum FROM ${qualifiedName(db, name)}`,
  );
  return { rows: Number(row.rows), checksum: row.checksum };
}

async function createStatements(conn: ClickHouseConnection, db: string): Promise<Record<string, string>> {
  const rows = await conn.rows<{ name: string; create_table_query: string }>(`SELECT name, create_table_query FROM system.tables WHERE database = ${quoteString(db)} ORDER BY name`);
  return Object.fromEntries(rows.map((r) => [r.name, r.create_table_query]));
}

async function databaseExists(conn: ClickHouseConnection, db: string): Promise<boolean> {
  return (await conn.rows(`SELECT name FROM system.databases WHERE name = ${quoteString(db)}`)).length > 0;
}

/** Databases and tables on the target whose names hold the run's key (restore point, manifest, staging, scratch). */
async function scratchOf(state: MigrationState): Promise<string[]> {
  const key = quoteString(runKeyOf(state.runId));
  const rows = await servers.target.rows<{ name: string }>(
    `SELECT name FROM system.databases WHERE position(name, ${key}) > 0 UNION ALL SELECT name FROM system.tables WHERE position(name, ${key}) > 0`,
  );
  return rows.map((r) => r.name);
}

/** Runs `input` through its three approvals; `beforeMigration` runs just before the last one. */
async function approvedRun(input: MigrationInput, beforeMigration?: () => Promise<void>): Promise<MigrationState> {
  const handle = await startMigration(servers.client, input);
  for (const step of ['configure', 'validation', 'migration'] as const) {
    await awaitingApproval(handle, step);
    if (step === 'migration') await beforeMigration?.();
    await handle.signal('approve', { step, by: 'jest' });
  }
  await handle.result().catch(() => undefined);
  return queryState(handle);
}

describe('a database copied under another name', () => {
  it.each(['server', 'worker'] as const)('on the %s path, the target holds every object under the new name only, reading what the source reads', async (path) => {
    const db = servers.database('rn');
    const renamed = servers.database('rn_new');
    await sourceDatabase(db);
    const input = migrationInput(uniqueName(`rename-${path}`), [db], { renames: { [db]: renamed } });
    if (path === 'worker') input.source.nativePort = 1;

    const final = await approvedRun(input);

    expect({ status: final.status, error: final.error, transferPath: final.transferPath }).toEqual({ status: 'completed', error: null, transferPath: path });
    expect(await databaseExists(servers.target, db)).toBe(false);
    const ddl = await createStatements(servers.target, renamed);
    expect(Object.keys(ddl).sort()).toEqual([...OBJECTS].sort());
    for (const [name, statement] of Object.entries(ddl)) {
      // The new name does not hold the old one (their random parts differ), so any mention of it is the old database.
      expect({ name, namesOld: statement.includes(db) }).toEqual({ name, namesOld: false });
      expect({ name, namesNew: statement.includes(renamed) }).toEqual({ name, namesNew: true });
    }
    for (const name of OBJECTS) {
      const [onSource, onTarget] = await Promise.all([reads(servers.source, db, name), reads(servers.target, renamed, name)]);
      expect({ name, ...onTarget }).toEqual({ name, ...onSource });
      expect({ name, empty: onTarget.rows === 0 }).toEqual({ name, empty: false });
    }
    expect(await scratchOf(final)).toEqual([]);
  });

  it('when the copy of a renamed database fails, the rollback leaves the target as it was and the old name never appears', async () => {
    const db = servers.database('rn');
    const renamed = servers.database('rn_new');
    await sourceDatabase(db);
    // The target already has the new name, with a table of another application.
    await servers.target.exec(`CREATE DATABASE ${quoteIdentifier(renamed)}`);
    await servers.target.exec(`CREATE TABLE ${qualifiedName(renamed, 'theirs')} (x UInt8) ENGINE = TinyLog`);
    await servers.target.exec(`INSERT INTO ${qualifiedName(renamed, 'theirs')} VALUES (1), (2), (3)`);
    const before = await createStatements(servers.target, renamed);
    const input = migrationInput(uniqueName('rename-rb'), [db], { renames: { [db]: renamed }, options: { parallelism: 1 } });

    // The source's table loses a column after validation: its copy fails, and the run rolls back.
    const final = await approvedRun(input, () => servers.source.exec(`ALTER TABLE ${qualifiedName(db, 'orders')} DROP COLUMN amount`));

    expect(final.status).toBe('rolled_back');
    // The run had created its objects under the new name, and the rollback dropped them there.
    expect(final.rollback?.dropped).toEqual(expect.arrayContaining([`${renamed}.orders`, `${renamed}.v`, `${renamed}.spread`]));
    expect(final.rollback?.leftovers).toEqual([]);
    expect(await createStatements(servers.target, renamed)).toEqual(before);
    expect(await reads(servers.target, renamed, 'theirs')).toEqual({ rows: 3, checksum: expect.any(String) });
    expect(await databaseExists(servers.target, db)).toBe(false);
    expect(await scratchOf(final)).toEqual([]);
  });

  it('when a renamed database is named where the rewrite cannot place it, configure names it before any approval of a write', async () => {
    const db = servers.database('rn');
    const renamed = servers.database('rn_new');
    const outside = servers.database('rn_out');
    await servers.source.exec(`CREATE DATABASE ${quoteIdentifier(db)}`);
    await servers.source.exec(`CREATE TABLE ${qualifiedName(db, 'notes')} (id UInt64, origin String DEFAULT ${quoteString(`${db}.dict`)}) ENGINE = MergeTree ORDER BY id`);
    // A cluster only the source has: its servers would keep the old name.
    await servers.source.exec(`CREATE TABLE ${qualifiedName(db, 'spread')} AS ${qualifiedName(db, 'notes')} ENGINE = Distributed(${ownCluster('source')}, ${quoteIdentifier(db)}, notes)`);
    await servers.source.exec(`CREATE DATABASE ${quoteIdentifier(outside)}`);
    await servers.source.exec(`CREATE VIEW ${qualifiedName(outside, 'reader')} AS SELECT id FROM ${qualifiedName(db, 'notes')}`);
    const handle = await startMigration(servers.client, migrationInput(uniqueName('rename-unsafe'), [db], { renames: { [db]: renamed } }));
    await awaitingApproval(handle, 'configure');
    await handle.signal('approve', { step: 'configure', by: 'jest' });
    await handle.result().catch(() => undefined);
    const final = await queryState(handle);

    expect(final.status).toBe('failed');
    const text = final.steps.find((s) => s.name === 'configure')?.error?.message ?? '';
    expect(text).toContain(`${db}.notes: the string '${db}.dict' may name the renamed database ${db}`);
    expect(text).toContain(`${outside}.reader on the source reads a renamed database but is not part of the run`);
    expect(text).toContain(`the target has no cluster ${ownCluster('source')}, which the Distributed table ${db}.spread reads`);
    expect(await databaseExists(servers.target, renamed)).toBe(false);
    expect(await databaseExists(servers.target, db)).toBe(false);
    expect((await servers.target.rows(`SELECT name FROM system.tables WHERE startsWith(name, ${quoteString(INTERNAL_PREFIX)}) AND position(name, ${quoteString(runKeyOf(final.runId))}) > 0`)).length).toBe(0);
  });

  it('when POST /migrations names a database { source, target }, the run copies it under the target name', async () => {
    const db = servers.database('rn');
    const renamed = servers.database('rn_new');
    await sourceDatabase(db);
    const app = createApp({ client: servers.client, namespace: 'default', temporalUiUrl: testStack().temporalUiUrl, keyring: TEST_KEY, logger: { error: () => undefined }, auth: { mode: 'off', fourEyes: false } });
    const { source, target } = testStack();

    const res = await request(app)
      .post('/migrations')
      .send({ source: apiEndpoint(source), target: apiEndpoint(target), databases: [{ source: db, target: renamed }], approvals: { required: false } });

    expect(res.status).toBe(201);
    const handle = servers.client.workflow.getHandle(res.body.id);
    await handle.result().catch(() => undefined);
    const final = await waitFor(() => queryState(handle), (s) => s.status !== 'running', 'the run to end');
    expect({ status: final.status, error: final.error }).toEqual({ status: 'completed', error: null });
    expect(await databaseExists(servers.target, db)).toBe(false);
    expect(await reads(servers.target, renamed, 'v')).toEqual(await reads(servers.source, db, 'v'));
  });
});
