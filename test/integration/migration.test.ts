import { WorkflowFailedError } from '@temporalio/client';
import type { ClickHouseConnection } from '../../src/clickhouse/connection';
import { IDENTITY_DATABASE } from '../../src/clickhouse/scratch';
import { qualifiedName, quoteIdentifier } from '../../src/clickhouse/sql';
import { ownCluster } from '../../src/dev/clickhouse-server';
import { seal } from '../../src/secrets';
import { approveUpdate, rejectUpdate } from '../../src/workflows';
import { STEPS, type MigrationState, type TargetReport } from '../../src/workflows/types';
import { createDemoLike, DEMO_DATA_TABLES } from './fixtures';
import {
  awaitingApproval,
  lockIdOn,
  migrationInput,
  queryState,
  startMigration,
  tableDigest,
  TEST_KEY,
  uniqueName,
  useTestServers,
  waitFor,
} from './harness';
import { testStack } from './stack-env';

const servers = useTestServers({ worker: true });

async function demoDatabase(rows: number): Promise<string> {
  const db = servers.database('mig');
  await createDemoLike(servers.source, db, rows);
  return db;
}

/** `db.events` on the target, as the demo has it, holding `rows` rows of the target's own (kind 'old'). */
async function targetHoldsEvents(db: string, rows: number): Promise<void> {
  await servers.target.exec(`CREATE DATABASE ${quoteIdentifier(db)}`);
  await servers.target.exec(
    `CREATE TABLE ${qualifiedName(db, 'events')} (event_date Date, user_id UInt64, kind String, amount Float64)
     ENGINE = MergeTree PARTITION BY toYYYYMM(event_date) ORDER BY (event_date, user_id)`,
  );
  await servers.target.exec(`INSERT INTO ${qualifiedName(db, 'events')} SELECT toDate('2025-03-01') + (number % 90), number, 'old', 1 FROM system.numbers LIMIT ${rows}`);
}

async function targetDatabases(): Promise<string[]> {
  // The identity marker stays on purpose: it is the server's, not a run's.
  return (await servers.target.rows<{ name: string }>('SELECT name FROM system.databases')).map((r) => r.name).filter((name) => name !== IDENTITY_DATABASE);
}

async function tableNames(conn: ClickHouseConnection, db: string): Promise<string[]> {
  const rows = await conn.rows<{ name: string }>(`SELECT name FROM system.tables WHERE database = '${db}' ORDER BY name`);
  return rows.map((r) => r.name);
}

describe('the migration workflow on real servers', () => {
  it('when every step is approved by a Temporal signal, the target equals the source by count and checksum', async () => {
    const db = await demoDatabase(120_000);
    const handle = await startMigration(servers.client, migrationInput(uniqueName('happy'), [db]));

    for (const step of ['configure', 'validation', 'migration'] as const) {
      await awaitingApproval(handle, step);
      await handle.signal('approve', { step, by: 'jest', comment: `go ${step}` });
    }
    const final = (await handle.result()) as MigrationState;

    expect(final.status).toBe('completed');
    expect(final.steps.map((s) => [s.name, s.status])).toEqual(STEPS.map((name) => [name, 'completed']));
    expect(final.approvals.map((a) => [a.step, a.by, a.comment])).toEqual([
      ['configure', 'jest', 'go configure'],
      ['validation', 'jest', 'go validation'],
      ['migration', 'jest', 'go migration'],
    ]);
    expect(final.transferPath).toBe('server');
    const configure = final.steps.find((s) => s.name === 'configure')?.result as TargetReport;
    expect(configure.ddlFeatures.legacyMergeTree).toEqual({ usedBy: [`${db}.legacy`], supported: true });
    for (const table of DEMO_DATA_TABLES) {
      const [onSource, onTarget] = await Promise.all([tableDigest(servers.source, db, table), tableDigest(servers.target, db, table)]);
      expect({ table, ...onTarget }).toEqual({ table, ...onSource });
    }
    expect((await tableDigest(servers.target, db, 'events')).rows).toBe(120_000);
    expect(await tableNames(servers.target, db)).toEqual(await tableNames(servers.source, db));
    const [viaView] = await servers.target.rows<{ n: string }>(`SELECT sum(events) AS n FROM ${qualifiedName(db, 'daily')}`);
    expect(Number(viaView.n)).toBe(120_000);
    expect(final.progress).toMatchObject({ tablesDone: final.progress.tablesTotal, rowsCopied: final.progress.rowsTotal });
    expect(final.progress.tablesTotal).toBe(DEMO_DATA_TABLES.length);
    expect((await targetDatabases()).filter((d) => d.startsWith('__migrator_'))).toEqual([]);
    expect((await tableNames(servers.target, db)).filter((t) => t.startsWith('__migrator_'))).toEqual([]);
  });

  it.each(['configure', 'validation', 'migration'] as const)('when a person rejects %s, the run ends rejected and the target is untouched', async (rejected) => {
    const db = await demoDatabase(1_000);
    const handle = await startMigration(servers.client, migrationInput(uniqueName('reject'), [db]));
    for (const step of ['configure', 'validation', 'migration'] as const) {
      await awaitingApproval(handle, step);
      if (step === rejected) {
        await handle.signal('reject', { step, by: 'jest', reason: 'not today' });
        break;
      }
      await handle.signal('approve', { step });
    }
    const final = (await handle.result()) as MigrationState;

    expect(final.status).toBe('rejected');
    expect(final.rejection).toMatchObject({ step: rejected, by: 'jest', reason: 'not today' });
    expect(final.steps.find((s) => s.name === rejected)?.status).toBe('rejected');
    expect(final.steps.find((s) => s.name === 'migration')?.startedAt).toBeNull();
    expect((await targetDatabases()).filter((d) => d === db || d.startsWith('__migrator_'))).toEqual([]);
  });

  it('when a signal names the wrong step, it is recorded and ignored', async () => {
    const db = await demoDatabase(100);
    const handle = await startMigration(servers.client, migrationInput(uniqueName('wrong'), [db]));
    await awaitingApproval(handle, 'configure');

    await handle.signal('approve', { step: 'migration' });
    const state = await waitFor(() => queryState(handle), (s) => s.ignoredSignals.length > 0, 'the ignored signal');

    expect(state.ignoredSignals[0]).toMatchObject({ name: 'approve', step: 'migration', reason: expect.stringMatching(/waiting for approval of "configure"/) });
    expect(state.awaitingApproval).toEqual({ step: 'configure' });
    expect(state.approvals).toEqual([]);
    await handle.signal('reject', { step: 'configure', reason: 'done testing' });
    expect(((await handle.result()) as MigrationState).status).toBe('rejected');
  });

  it('when the migration step fails half-way, the target is rolled back to its exact pre-migration state', async () => {
    const db = await demoDatabase(60_000);
    // The target already holds this table, with rows of its own that the migration replaces.
    await targetHoldsEvents(db, 7000);
    const before = await tableDigest(servers.target, db, 'events');
    const handle = await startMigration(servers.client, migrationInput(uniqueName('rollback'), [db], { options: { onConflict: 'replace', parallelism: 1 } }));
    for (const step of ['configure', 'validation'] as const) {
      await awaitingApproval(handle, step);
      await handle.signal('approve', { step });
    }
    await awaitingApproval(handle, 'migration');
    // The source changes after validation: the last table's copy fails after `events` was replaced.
    await servers.source.exec(`ALTER TABLE ${qualifiedName(db, 'users')} DROP COLUMN name`);
    await handle.signal('approve', { step: 'migration' });

    const failure = await handle.result().then(
      () => null,
      (err: unknown) => err,
    );
    const final = await queryState(handle);

    expect(failure).toBeInstanceOf(WorkflowFailedError);
    expect(final.status).toBe('rolled_back');
    expect(final.steps.find((s) => s.name === 'migration')?.status).toBe('failed');
    expect(final.error?.message).toMatch(/name/);
    expect(final.progress.rowsCopied).toBeGreaterThan(0);
    expect(await tableDigest(servers.target, db, 'events')).toEqual(before);
    expect(await tableNames(servers.target, db)).toEqual(['events']);
    expect(final.rollback?.verified).toEqual([expect.objectContaining({ table: 'events', match: true })]);
    // The proof compares the target after the rollback with digests recorded before the migration.
    const recorded = final.restorePoint?.digests.find((d) => d.table === 'events')?.partitions;
    expect(recorded?.reduce((n, p) => n + p.rows, 0)).toBe(7000);
    expect(final.rollback?.verified[0].before).toEqual(recorded);
    expect(final.rollback?.verified[0].after).toEqual(recorded);
    expect((await targetDatabases()).filter((d) => d.startsWith('__migrator_'))).toEqual([]);
  });

  it('when the target changes while the run waits at its gates, a rollback keeps those changes: the restore point is taken after the last approval', async () => {
    const db = await demoDatabase(20_000);
    await targetHoldsEvents(db, 7000);
    const handle = await startMigration(servers.client, migrationInput(uniqueName('fresh'), [db], { options: { onConflict: 'replace' } }));
    for (const step of ['configure', 'validation'] as const) {
      await awaitingApproval(handle, step);
      await handle.signal('approve', { step });
    }
    await awaitingApproval(handle, 'migration');
    // Others write to the target while the run waits: 500 rows, and a table of their own.
    await servers.target.exec(`INSERT INTO ${qualifiedName(db, 'events')} SELECT toDate('2025-07-01'), number, 'late', 2 FROM system.numbers LIMIT 500`);
    await servers.target.exec(`CREATE TABLE ${qualifiedName(db, 'their_notes')} (note String) ENGINE = TinyLog`);
    await servers.target.exec(`INSERT INTO ${qualifiedName(db, 'their_notes')} VALUES ('keep me')`);
    const before = await tableDigest(servers.target, db, 'events');
    await servers.source.exec(`ALTER TABLE ${qualifiedName(db, 'users')} DROP COLUMN name`);
    await handle.signal('approve', { step: 'migration' });

    await expect(handle.result()).rejects.toBeInstanceOf(WorkflowFailedError);
    const final = await queryState(handle);
    const configure = final.steps.find((s) => s.name === 'configure')?.result as TargetReport;

    expect(final.status).toBe('rolled_back');
    expect(before.rows).toBe(7500);
    expect(await tableDigest(servers.target, db, 'events')).toEqual(before);
    expect(await servers.target.text(`SELECT note FROM ${qualifiedName(db, 'their_notes')} FORMAT TSV`)).toBe('keep me\n');
    expect(final.rollback?.dropped).not.toContain(`${db}.their_notes`);
    expect(configure.restorePoint).toMatchObject({ tables: 1, rows: 7000 });
    expect(final.restorePoint?.totalRows).toBe(7501);
  });

  it('when the target cannot reach the servers.source, the data streams through the worker and still matches', async () => {
    const db = await demoDatabase(30_000);
    const input = migrationInput(uniqueName('stream'), [db], { approvals: { required: false } });
    input.source.nativePort = 1;
    const final = (await (await startMigration(servers.client, input)).result()) as MigrationState;

    expect(final.status).toBe('completed');
    expect(final.transferPath).toBe('worker');
    for (const table of DEMO_DATA_TABLES) {
      expect({ table, ...(await tableDigest(servers.target, db, table)) }).toEqual({ table, ...(await tableDigest(servers.source, db, table)) });
    }
  });

  it('when five approvals of one step race as Updates, exactly one is accepted and recorded, and the refused ones leave no trace in the history', async () => {
    const db = await demoDatabase(100);
    const handle = await startMigration(servers.client, migrationInput(uniqueName('race'), [db], { requestedBy: 'olga' }));
    await awaitingApproval(handle, 'configure');

    const outcomes = await Promise.allSettled(
      ['p1', 'p2', 'p3', 'p4', 'p5'].map((by) => handle.executeUpdate(approveUpdate, { args: [{ step: 'configure', by }] })),
    );
    const accepted = outcomes.filter((o) => o.status === 'fulfilled');
    const refusals = outcomes.flatMap((o) => (o.status === 'rejected' ? [String((o.reason as { cause?: Error }).cause?.message)] : []));
    const state = await queryState(handle);
    const history = (await handle.fetchHistory()).events ?? [];

    expect(accepted).toHaveLength(1);
    expect(refusals).toEqual(Array(4).fill('"configure" is already approved'));
    expect(state.approvals.filter((a) => a.step === 'configure')).toEqual([expect.objectContaining({ via: 'update' })]);
    expect(history.filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes)).toHaveLength(1);

    await awaitingApproval(handle, 'validation');
    await expect(handle.executeUpdate(approveUpdate, { args: [{ step: 'validation', by: 'olga' }] })).rejects.toMatchObject({
      cause: { message: expect.stringMatching(/olga.*four eyes/) },
    });
    await expect(handle.executeUpdate(approveUpdate, { args: [{ step: 'migration', by: 'ana' }] })).rejects.toMatchObject({
      cause: { message: 'the run is waiting for approval of "validation", not "migration"' },
    });
    const final = await handle.executeUpdate(rejectUpdate, { args: [{ step: 'validation', by: 'ana', reason: 'enough' }] });

    expect(final.rejection).toMatchObject({ step: 'validation', by: 'ana', via: 'update' });
    expect(((await handle.result()) as MigrationState).status).toBe('rejected');
    expect(state.requestedBy).toBe('olga');
    expect(state.fourEyes).toBe(true);
  });

  it('when the lock of a run waiting for an approval is terminated, the run fails at its next step, naming the lock', async () => {
    const db = await demoDatabase(100);
    const handle = await startMigration(servers.client, migrationInput(uniqueName('lost'), [db]));
    const waiting = await awaitingApproval(handle, 'configure');

    await servers.client.workflow.getHandle(waiting.locks[0]).terminate('a person freed the lock by hand');
    await expect(handle.result()).rejects.toBeInstanceOf(WorkflowFailedError);
    const final = await queryState(handle);

    expect(final.status).toBe('failed');
    expect(final.error).toMatchObject({ type: 'LockLost', message: expect.stringContaining(`the lock ${waiting.locks[0]} of ${db} was terminated while this run held it`) });
    expect(final.steps.find((s) => s.name === 'configure')?.status).not.toBe('completed');
  });

  it('when a second run would migrate a database that an open run is migrating into the same target, it fails at once, naming the lock; once the first ends, the lock is free', async () => {
    const db = await demoDatabase(100);
    const other = await demoDatabase(100);
    const first = await startMigration(servers.client, migrationInput(uniqueName('holder'), [db]));
    await awaitingApproval(first, 'configure');

    const second = await startMigration(servers.client, migrationInput(uniqueName('overlap'), [other, db]));
    await expect(second.result()).rejects.toBeInstanceOf(WorkflowFailedError);
    const refused = await queryState(second);

    expect(refused.status).toBe('failed');
    const lock = await lockIdOn(servers.target, db);
    expect(refused.error).toMatchObject({ type: 'TargetLocked', message: expect.stringContaining(lock) });
    expect(refused.steps.every((s) => s.status === 'pending')).toBe(true);
    expect((await queryState(first)).locks).toEqual([lock]);

    await first.signal('reject', { step: 'configure', by: 'jest', reason: 'make room' });
    await first.result();
    const third = await waitFor(
      async () => {
        const handle = await startMigration(servers.client, migrationInput(uniqueName('after'), [db]));
        const state = await waitFor(() => queryState(handle), (st) => st.awaitingApproval !== null || st.status === 'failed', 'the run to take its lock or fail');
        return { handle, state };
      },
      ({ state }) => state.awaitingApproval?.step === 'configure',
      'the lock to be free again',
    );
    await third.handle.signal('reject', { step: 'configure', by: 'jest', reason: 'done' });
    expect(((await third.handle.result()) as MigrationState).status).toBe('rejected');
  });

  it('when the target refuses to create an object, configure names it with the server\'s own message and nothing is migrated', async () => {
    const db = await demoDatabase(100);
    await servers.source.exec(
      `CREATE TABLE ${qualifiedName(db, 'events_everywhere')} AS ${qualifiedName(db, 'events')} ENGINE = Distributed(${ownCluster('source')}, ${quoteIdentifier(db)}, events)`,
    );
    const handle = await startMigration(servers.client, migrationInput(uniqueName('refused'), [db], { approvals: { required: false } }));

    await expect(handle.result()).rejects.toBeInstanceOf(WorkflowFailedError);
    const final = await queryState(handle);
    const configure = final.steps.find((s) => s.name === 'configure');

    expect(configure).toMatchObject({ status: 'failed', error: { type: 'TargetNotReady' } });
    expect(configure?.error?.message).toMatch(new RegExp(`refuses to create ${db}\\.events_everywhere: .*${ownCluster('source')}`));
    expect(configure?.error?.message).not.toMatch(/refuses to create [^:]*\.(events|users|legacy):/);
    expect((await targetDatabases()).filter((d) => d === db || d.startsWith('__migrator_'))).toEqual([]);
  });

  it('when a table has MATERIALIZED and DEFAULT columns, both transfer paths carry the stored values, not recomputed ones', async () => {
    const db = servers.database('stored');
    await servers.source.exec(`CREATE DATABASE ${quoteIdentifier(db)}`);
    await servers.source.exec(
      `CREATE TABLE ${qualifiedName(db, 'facts')} (d Date, id UInt64, salt UInt64 MATERIALIZED rand64(), note String DEFAULT 'unset')
       ENGINE = MergeTree PARTITION BY toYYYYMM(d) ORDER BY id`,
    );
    await servers.source.exec(`INSERT INTO ${qualifiedName(db, 'facts')} (d, id, note) SELECT toDate('2025-01-01') + number % 60, number, 'set' FROM numbers(500)`);
    const stored = (conn: ClickHouseConnection) => conn.text(`SELECT id, salt, note FROM ${qualifiedName(db, 'facts')} ORDER BY id FORMAT TSV`);
    for (const path of ['server', 'worker'] as const) {
      const input = migrationInput(uniqueName(`stored-${path}`), [db], { approvals: { required: false }, options: { onConflict: 'replace' } });
      if (path === 'worker') input.source.nativePort = 1;
      const final = (await (await startMigration(servers.client, input)).result()) as MigrationState;

      expect({ path, status: final.status, transferPath: final.transferPath }).toEqual({ path, status: 'completed', transferPath: path });
      expect(await stored(servers.target)).toBe(await stored(servers.source));
    }
  });

  it('when the source password is wrong, the run fails without retrying and no secret reaches the history', async () => {
    const db = await demoDatabase(10);
    const wrong = 'wrong-password-4711';
    const input = migrationInput(uniqueName('badpass'), [db], { approvals: { required: false } });
    input.source.password = seal(wrong, TEST_KEY);
    const handle = await startMigration(servers.client, input);

    await expect(handle.result()).rejects.toBeInstanceOf(WorkflowFailedError);
    const final = await queryState(handle);
    const history = JSON.stringify(await handle.fetchHistory());

    expect(final.status).toBe('failed');
    expect(final.steps.find((s) => s.name === 'configure')).toMatchObject({ status: 'failed', error: { type: 'AuthenticationFailed' } });
    expect(history).not.toContain(wrong);
    expect(history).not.toContain(testStack().source.password);
    expect(history).not.toContain(testStack().target.password);
    expect(history.match(/"attempt":\s*2/)).toBeNull();
    expect((await targetDatabases()).filter((d) => d.startsWith('__migrator_'))).toEqual([]);
  });
});
