import { WorkflowFailedError } from '@temporalio/client';
import type { ClickHouseConnection } from '../../src/clickhouse/connection';
import { qualifiedName, quoteIdentifier, quoteString } from '../../src/clickhouse/sql';
import type { MigrationReport, MigrationState, TransferPath } from '../../src/workflows/types';
import { createDemoLike, HOSTILE_TABLE } from './fixtures';
import { awaitingApproval, migrationInput, queryState, startMigration, tableDigest, uniqueName, useTestServers } from './harness';

const servers = useTestServers({ worker: true });

interface Column {
  table: string;
  name: string;
  type: string;
  default_kind: string;
  default_expression: string;
}

/** Every column of `db` as `system.columns` lists them (in table order), and every object's engine. */
async function catalogue(conn: ClickHouseConnection, db: string): Promise<{ columns: Column[]; engines: { name: string; engine: string }[] }> {
  const columns = await conn.rows<Column>(`SELECT table, name, type, default_kind, default_expression FROM system.columns WHERE database = ${quoteString(db)}`);
  const engines = await conn.rows<{ name: string; engine: string }>(`SELECT name, engine FROM system.tables WHERE database = ${quoteString(db)} ORDER BY name`);
  // A stable sort by table keeps each table's columns in the order the server listed them.
  return { columns: [...columns].sort((a, b) => a.table.localeCompare(b.table)), engines };
}

/** The source's tables that store rows (views and materialized views store theirs in `.inner` tables). */
async function dataTables(db: string): Promise<string[]> {
  const { engines } = await catalogue(servers.source, db);
  return engines.filter((t) => t.engine !== 'View' && t.engine !== 'MaterializedView').map((t) => t.name);
}

/** Creates on the target every object the source has in `db`, from the source's own DDL: tables first, then views. */
async function sameObjectsOnTarget(db: string): Promise<void> {
  const objects = await servers.source.rows<{ name: string; engine: string; create_table_query: string }>(
    `SELECT name, engine, create_table_query FROM system.tables WHERE database = ${quoteString(db)} AND NOT startsWith(name, '.inner')`,
  );
  const isView = (o: { engine: string }) => o.engine === 'View' || o.engine === 'MaterializedView';
  await servers.target.exec(`CREATE DATABASE ${quoteIdentifier(db)}`);
  for (const object of [...objects.filter((o) => !isView(o)), ...objects.filter(isView)]) await servers.target.exec(object.create_table_query);
}

/** Rows, and a checksum over `columns` (each read through `value`), as written here rather than by the migrator. */
async function digestOf(conn: ClickHouseConnection, db: string, table: string, columns: string[], value: (column: string) => string = quoteIdentifier) {
  const [row] = await conn.rows<{ rows: string; sum: string }>(
    `SELECT count() AS rows, toString(sum(cityHash64(${columns.map(value).join(', ')}))) AS sum FROM ${qualifiedName(db, table)}`,
  );
  return { rows: Number(row.rows), sum: row.sum };
}

async function configureError(db: string, prefix: string): Promise<string> {
  const handle = await startMigration(servers.client, migrationInput(uniqueName(prefix), [db], { approvals: { required: false }, mode: 'data' }));
  await expect(handle.result()).rejects.toBeInstanceOf(WorkflowFailedError);
  const configure = (await queryState(handle)).steps.find((s) => s.name === 'configure');
  expect(configure).toMatchObject({ status: 'failed', error: { type: 'TargetNotReady' } });
  return configure?.error?.message ?? '';
}

function migrationReport(state: MigrationState): MigrationReport {
  return state.steps.find((s) => s.name === 'migration')?.result as MigrationReport;
}

describe('transfer modes', () => {
  it('when the mode is "schema", the target gets every object with the source\'s columns, types and engine, and no row', async () => {
    const db = servers.database('schema');
    await createDemoLike(servers.source, db, 3000);
    const final = (await (await startMigration(servers.client, migrationInput(uniqueName('schema'), [db], { approvals: { required: false }, mode: 'schema' }))).result()) as MigrationState;

    expect(final.status).toBe('completed');
    const report = migrationReport(final);
    expect(report.copied).toEqual({ rows: 0, bytes: 0, units: 0 });
    expect(report.verification.length).toBeGreaterThan(0);
    expect(report.verification.every((t) => t.match && t.structure?.differences.length === 0)).toBe(true);
    expect(await catalogue(servers.target, db)).toEqual(await catalogue(servers.source, db));
    for (const table of await dataTables(db)) {
      expect({ table, rows: (await digestOf(servers.target, db, table, ['1'], (c) => c)).rows }).toEqual({ table, rows: 0 });
      expect((await digestOf(servers.source, db, table, ['1'], (c) => c)).rows).toBeGreaterThan(0);
    }
  });

  it('when a schema run fails its verification, the rollback drops what it created and nothing else', async () => {
    const db = servers.database('schema_rb');
    await createDemoLike(servers.source, db, 500);
    const handle = await startMigration(servers.client, migrationInput(uniqueName('schema-rb'), [db], { mode: 'schema' }));
    for (const step of ['configure', 'validation'] as const) {
      await awaitingApproval(handle, step);
      await handle.signal('approve', { step });
    }
    await awaitingApproval(handle, 'migration');
    // The source changes after the plan was made: the objects the run creates no longer match it.
    await servers.source.exec(`ALTER TABLE ${qualifiedName(db, 'users')} ADD COLUMN added UInt8`);
    await handle.signal('approve', { step: 'migration' });

    await expect(handle.result()).rejects.toBeInstanceOf(WorkflowFailedError);
    const final = await queryState(handle);
    expect(final.status).toBe('rolled_back');
    expect(final.steps.find((s) => s.name === 'migration')?.error).toMatchObject({ type: 'VerificationFailed', message: expect.stringContaining(`${db}.users (columns differ (source only: added UInt8`) });
    expect((await catalogue(servers.target, db)).engines).toEqual([]);
  });

  it('when a data run fails half-way, the rollback puts back the rows the target held and drops none of its tables', async () => {
    const db = servers.database('data_rb');
    await createDemoLike(servers.source, db, 5000);
    await sameObjectsOnTarget(db);
    await servers.target.exec(`INSERT INTO ${qualifiedName(db, 'events')} SELECT toDate('2025-03-01') + (number % 90), number, 'old', 1 FROM system.numbers LIMIT 700`);
    const tables = await dataTables(db);
    const before = await Promise.all(tables.map((table) => tableDigest(servers.target, db, table)));
    const objectsBefore = await catalogue(servers.target, db);
    const handle = await startMigration(servers.client, migrationInput(uniqueName('data-rb'), [db], { mode: 'data', options: { onConflict: 'replace', parallelism: 1 } }));
    for (const step of ['configure', 'validation'] as const) {
      await awaitingApproval(handle, step);
      await handle.signal('approve', { step });
    }
    await awaitingApproval(handle, 'migration');
    // The source drops a column after configure: the target's column of that name would have nothing to take.
    await servers.source.exec(`ALTER TABLE ${qualifiedName(db, 'users')} DROP COLUMN name`);
    await handle.signal('approve', { step: 'migration' });

    await expect(handle.result()).rejects.toBeInstanceOf(WorkflowFailedError);
    const final = await queryState(handle);
    expect(final.status).toBe('rolled_back');
    expect(final.steps.find((s) => s.name === 'migration')?.error?.message).toContain(`${db}.users: the target column name has no source column`);
    expect(await Promise.all(tables.map((table) => tableDigest(servers.target, db, table)))).toEqual(before);
    expect(await catalogue(servers.target, db)).toEqual(objectsBefore);
  });

  for (const path of ['server', 'worker'] as TransferPath[]) {
    it(`when the mode is "data" (${path} path), rows go into the existing tables by column name, converted to their types, and extra columns hold their defaults`, async () => {
      const db = servers.database(`data_${path}`);
      await createDemoLike(servers.source, db, 20_000);
      await sameObjectsOnTarget(db);
      const users = qualifiedName(db, 'users');
      await servers.target.exec(`ALTER TABLE ${users} ADD COLUMN tier UInt8 DEFAULT 7`);
      await servers.target.exec(`ALTER TABLE ${users} ADD COLUMN twice UInt64 DEFAULT id * 2`);
      await servers.target.exec(`ALTER TABLE ${qualifiedName(db, 'events')} ADD COLUMN note Nullable(String)`);
      await servers.target.exec(`ALTER TABLE ${qualifiedName(db, 'events')} MODIFY COLUMN amount Float32`);
      const before = await catalogue(servers.target, db);
      const input = migrationInput(uniqueName(`data-${path}`), [db], { approvals: { required: false }, mode: 'data' });
      if (path === 'worker') input.source.nativePort = 1;

      const final = (await (await startMigration(servers.client, input)).result()) as MigrationState;

      expect(final.status).toBe('completed');
      expect(final.transferPath).toBe(path);
      expect(migrationReport(final).created).toEqual([]);
      expect(await catalogue(servers.target, db)).toEqual(before);
      const targetColumns = new Map<string, Column[]>();
      for (const c of before.columns) targetColumns.set(c.table, [...(targetColumns.get(c.table) ?? []), c]);
      const { columns: sourceColumns } = await catalogue(servers.source, db);
      for (const table of await dataTables(db)) {
        const onTarget = targetColumns.get(table) ?? [];
        const common = sourceColumns.filter((c) => c.table === table && c.default_kind !== 'ALIAS' && onTarget.some((t) => t.name === c.name));
        const typeOf = new Map(onTarget.map((t) => [t.name, t.type]));
        const onSource = await digestOf(servers.source, db, table, common.map((c) => c.name), (name) => `CAST(${quoteIdentifier(name)} AS ${typeOf.get(name)})`);
        expect({ table, ...(await digestOf(servers.target, db, table, common.map((c) => c.name))) }).toEqual({ table, ...onSource });
        expect(onSource.rows).toBeGreaterThan(0);
      }
      const [defaults] = await servers.target.rows<{ tier: string; twice: string }>(`SELECT countIf(tier != 7) AS tier, countIf(twice != id * 2) AS twice FROM ${users}`);
      expect(defaults).toEqual({ tier: '0', twice: '0' });
      const [notes] = await servers.target.rows<{ n: string }>(`SELECT countIf(isNotNull(note)) AS n FROM ${qualifiedName(db, 'events')}`);
      expect(notes.n).toBe('0');
      const events = migrationReport(final).verification.find((t) => t.table === 'events');
      expect(events?.extraColumns).toEqual([{ column: 'note', differing: 0 }]);
    });
  }

  it('when a target table lacks a source column, has a type it cannot convert, or is missing, configure names each table and column', async () => {
    const db = servers.database('data_bad');
    await createDemoLike(servers.source, db, 500);
    await sameObjectsOnTarget(db);
    await servers.target.exec(`ALTER TABLE ${qualifiedName(db, 'users')} DROP COLUMN name`);
    await servers.target.exec(`ALTER TABLE ${qualifiedName(db, 'events')} DROP COLUMN amount`);
    await servers.target.exec(`ALTER TABLE ${qualifiedName(db, 'events')} ADD COLUMN amount Array(UInt8)`);
    // A String converts into most types (by parsing its values); a number into an array does not.
    await servers.target.exec(`ALTER TABLE ${qualifiedName(db, HOSTILE_TABLE)} DROP COLUMN v`);
    await servers.target.exec(`ALTER TABLE ${qualifiedName(db, HOSTILE_TABLE)} ADD COLUMN v Array(UInt8)`);
    await servers.target.exec(`DROP TABLE ${qualifiedName(db, 'event_types')}`);

    const message = await configureError(db, 'data-bad');

    expect(message).toContain(`${db}.users: the source column name is missing on the target`);
    expect(message).toContain(`${db}.events: the source does not convert column amount from Float64 to Array(UInt8)`);
    expect(message).toContain(`${db}.events: the target does not convert column amount from Float64 to Array(UInt8)`);
    expect(message).toContain(`${db}.event_types does not exist on the target`);
    expect(message).not.toMatch(/legacy|we`ird/);
    expect((await digestOf(servers.target, db, 'users', ['1'], (c) => c)).rows).toBe(0);
  });

  it('when a target table has a column the source lacks, with no default and not Nullable, configure names it', async () => {
    const db = servers.database('data_extra');
    await createDemoLike(servers.source, db, 500);
    await sameObjectsOnTarget(db);
    await servers.target.exec(`ALTER TABLE ${qualifiedName(db, 'users')} ADD COLUMN must UInt8`);
    await servers.target.exec(`ALTER TABLE ${qualifiedName(db, 'users')} ADD COLUMN may Nullable(UInt8)`);

    const message = await configureError(db, 'data-extra');

    expect(message).toContain(`${db}.users: the target column must has no source column, no default and is not Nullable`);
    expect(message).not.toContain('column may');
  });
});
