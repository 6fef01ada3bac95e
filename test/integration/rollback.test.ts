import { createHash } from 'node:crypto';
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { WorkflowHandle } from '@temporalio/client';
import type { MigrationActivities } from '../../src/activities';
import { manifestDatabase, restorePointDatabase } from '../../src/clickhouse/scratch';
import { qualifiedName, quoteIdentifier, quoteString } from '../../src/clickhouse/sql';
import { runKeyOf } from '../../src/workflows/state';
import type { MigrationOptions, MigrationState } from '../../src/workflows/types';
import { checkTable } from './fault-harness';
import { createDemoLike } from './fixtures';
import { awaitingApproval, migrationInput, queryState, startMigration, startWorker, uniqueName, useTestServers, waitFor } from './harness';

const servers = useTestServers({ worker: false });

/** The objects of `createDemoLike` that the target lacks before the run: the run creates them. */
const CREATED_BY_RUN = ['daily', 'event_types', 'kinds_per_month', 'legacy', 'users', "we`ird 'name; x"];

/** count() and the sha256 of the sorted TSV of `db.events` rows that `where` selects: the test's own comparison. */
async function eventsDigest(db: string, where: string): Promise<{ count: number; sha256: string }> {
  const tsv = await servers.target.text(
    `SELECT * FROM ${qualifiedName(db, 'events')} WHERE ${where} ORDER BY event_date, user_id, kind, amount FORMAT TabSeparated`,
  );
  return { count: tsv === '' ? 0 : tsv.split('\n').length - 1, sha256: createHash('sha256').update(tsv).digest('hex') };
}

async function tablesOf(db: string): Promise<string[]> {
  const rows = await servers.target.rows<{ name: string }>(`SELECT name FROM system.tables WHERE database = ${quoteString(db)} ORDER BY name`);
  return rows.map((r) => r.name);
}

/** Databases and tables on the target whose names hold the run's key (restore point, manifest, staging, scratch). */
async function scratchOf(state: MigrationState): Promise<string[]> {
  const key = quoteString(runKeyOf(state.runId));
  const rows = await servers.target.rows<{ name: string }>(
    `SELECT name FROM system.databases WHERE position(name, ${key}) > 0 UNION ALL SELECT name FROM system.tables WHERE position(name, ${key}) > 0`,
  );
  return rows.map((r) => r.name);
}

/** A database of demo data (`events` rows over 2025) on the source, and on the target the same database with an empty `events`. */
async function sourceAndTargetEvents(events: number): Promise<string> {
  const db = servers.database('rb');
  await createDemoLike(servers.source, db, events);
  await servers.target.exec(`CREATE DATABASE ${quoteIdentifier(db)}`);
  await servers.target.exec(
    `CREATE TABLE ${qualifiedName(db, 'events')} (event_date Date, user_id UInt64, kind String, amount Float64)
     ENGINE = MergeTree PARTITION BY toYYYYMM(event_date) ORDER BY (event_date, user_id)`,
  );
  return db;
}

/**
 * The source: demo data (60,000 events over 2025). The target: the same database already there,
 * with `events` holding rows of its own in March to May 2025 and a table of another application.
 */
async function sharedTarget(): Promise<string> {
  const db = await sourceAndTargetEvents(60_000);
  await servers.target.exec(`INSERT INTO ${qualifiedName(db, 'events')} SELECT toDate('2025-03-01') + (number % 90), number, 'old', 1 FROM system.numbers LIMIT 7000`);
  await servers.target.exec(`CREATE TABLE ${qualifiedName(db, 'app_notes')} (note String) ENGINE = TinyLog`);
  await servers.target.exec(`INSERT INTO ${qualifiedName(db, 'app_notes')} VALUES ('theirs'), ('also theirs')`);
  return db;
}

/** Runs a migration of `db` through its gates; the source's `users` loses a column before the migration step, so its copy fails after `events` was copied. */
async function failingRun(db: string, options: Partial<MigrationOptions> = {}): Promise<{ handle: WorkflowHandle; final: MigrationState }> {
  const handle = await startMigration(servers.client, migrationInput(uniqueName('rb'), [db], { options: { onConflict: 'replace', parallelism: 1, ...options } }));
  for (const step of ['configure', 'validation'] as const) {
    await awaitingApproval(handle, step);
    await handle.signal('approve', { step });
  }
  await awaitingApproval(handle, 'migration');
  await servers.source.exec(`ALTER TABLE ${qualifiedName(db, 'users')} DROP COLUMN name`);
  await handle.signal('approve', { step: 'migration' });
  await handle.result().catch(() => undefined);
  return { handle, final: await queryState(handle) };
}

/** Runs `body` with a worker of this process whose activities `wrap` changes. */
async function withWorker<T>(wrap: (activities: MigrationActivities) => MigrationActivities, body: () => Promise<T>): Promise<T> {
  const worker = await startWorker(wrap);
  try {
    return await body();
  } finally {
    await worker.stop();
  }
}

describe('a rollback undoes exactly what the run did', () => {
  it("when others write to the target during the run, the rollback keeps their objects, their rows in partitions the run never wrote and in those it replaced after them, and names the rows it discards", async () => {
    const db = await sharedTarget();
    const notes = await checkTable(servers.target, db, 'app_notes');
    let early: { count: number; sha256: string } | undefined;
    const wrap = (activities: MigrationActivities): MigrationActivities => ({
      ...activities,
      // Another client, after the restore point and before the run's first copy: into a partition the
      // restore point holds (March 2025) and into one it lacks (February 2025), both of which the run replaces.
      async copyUnitRange(req) {
        if (!early) {
          await servers.target.exec(`INSERT INTO ${qualifiedName(db, 'events')} SELECT toDate('2025-03-09'), 800000 + number, 'early', 5 FROM system.numbers LIMIT 5`);
          await servers.target.exec(`INSERT INTO ${qualifiedName(db, 'events')} SELECT toDate('2025-02-09'), 810000 + number, 'early', 5 FROM system.numbers LIMIT 6`);
          early = await eventsDigest(db, '1');
        }
        return activities.copyUnitRange(req);
      },
      // Another client, while the run is under way (its copies are over, its rollback about to start).
      async rollbackToRestorePoint(req) {
        await servers.target.exec(`CREATE TABLE ${qualifiedName(db, 'their_new')} (x UInt8) ENGINE = TinyLog`);
        await servers.target.exec(`INSERT INTO ${qualifiedName(db, 'their_new')} VALUES (1), (2), (3)`);
        await servers.target.exec(`INSERT INTO ${qualifiedName(db, 'events')} SELECT toDate('2032-06-01'), number, 'theirs', 9 FROM system.numbers LIMIT 40`);
        await servers.target.exec(`INSERT INTO ${qualifiedName(db, 'events')} SELECT toDate('2025-01-02'), 900000 + number, 'theirs', 9 FROM system.numbers LIMIT 10`);
        return activities.rollbackToRestorePoint(req);
      },
    });

    const { final } = await withWorker(wrap, () => failingRun(db));

    expect(final.status).toBe('rolled_back');
    expect(await tablesOf(db)).toEqual(['app_notes', 'events', 'their_new']);
    expect(await checkTable(servers.target, db, 'app_notes')).toEqual(notes);
    expect(await servers.target.text(`SELECT x FROM ${qualifiedName(db, 'their_new')} FORMAT TSV`)).toBe('1\n2\n3\n');
    // A partition the run never wrote keeps what others wrote into it.
    expect(await eventsDigest(db, "toYYYYMM(event_date) = 203206 AND kind = 'theirs'")).toMatchObject({ count: 40 });
    // Every other partition is as it was just before the run's first copy, the early rows included, by the test's own count and sha256.
    expect(early?.count).toBe(7011);
    expect(await eventsDigest(db, 'toYYYYMM(event_date) != 203206')).toEqual(early);
    // January 2025 was the run's (the restore point had none of it), and others wrote 10 rows into it after the run: discarded, and named.
    const monthOnSource = async (month: number) =>
      Number((await servers.source.rows<{ n: string }>(`SELECT count() AS n FROM ${qualifiedName(db, 'events')} WHERE toYYYYMM(event_date) = ${month}`))[0].n);
    expect(final.rollback?.discarded).toEqual(
      expect.arrayContaining([
        { database: db, table: 'events', partitionId: '202501', rowsRestored: 0, rowsDiscarded: (await monthOnSource(202501)) + 10 },
        { database: db, table: 'events', partitionId: '202502', rowsRestored: 6, rowsDiscarded: await monthOnSource(202502) },
      ]),
    );
    expect(final.rollback?.dropped).not.toContain(`${db}.their_new`);
    expect(final.rollback?.leftovers).toEqual([]);
    expect(await scratchOf(final)).toEqual([]);
  });

  it('when someone puts a table into a database the run created, the rollback drops the run\'s objects, keeps the database and names what is in it', async () => {
    const db = servers.database('rb');
    await createDemoLike(servers.source, db, 20_000);
    const wrap = (activities: MigrationActivities): MigrationActivities => ({
      ...activities,
      async rollbackToRestorePoint(req) {
        await servers.target.exec(`CREATE TABLE ${qualifiedName(db, 'squatter')} (x UInt8) ENGINE = TinyLog`);
        return activities.rollbackToRestorePoint(req);
      },
    });

    const { final } = await withWorker(wrap, () => failingRun(db));

    expect(final.status).toBe('rolled_back');
    expect(await tablesOf(db)).toEqual(['squatter']);
    expect(final.rollback?.kept).toEqual([{ database: db, objects: [`${db}.squatter`] }]);
    expect(final.rollback?.dropped).toEqual(expect.arrayContaining([...CREATED_BY_RUN, 'events'].map((t) => `${db}.${t}`)));
    expect(final.rollback?.dropped).not.toContain(db);
  });

  it('when the schema activity fails after creating its tables and its retry succeeds, a later failure still drops every table the run created', async () => {
    const db = await sharedTarget();
    const wrap = (activities: MigrationActivities): MigrationActivities => ({
      ...activities,
      async createSchemaPaged(req) {
        const created = await activities.createSchemaPaged(req);
        if (Context.current().info.attempt === 1) throw ApplicationFailure.retryable('injected: the schema activity lost its connection after creating the tables', 'ECONNRESET');
        return created;
      },
    });

    const { final } = await withWorker(wrap, () => failingRun(db));

    expect(final.status).toBe('rolled_back');
    expect(await tablesOf(db)).toEqual(['app_notes', 'events']);
    expect(final.rollback?.dropped).toEqual(expect.arrayContaining(CREATED_BY_RUN.map((t) => `${db}.${t}`)));
    expect(await scratchOf(final)).toEqual([]);
  });

  it('when the target gains rows after configure, the migration step refuses them as a conflict under onConflict "fail" and changes nothing', async () => {
    const db = await sourceAndTargetEvents(20_000);
    const final = await withWorker(
      (a) => a,
      async () => {
        const handle = await startMigration(servers.client, migrationInput(uniqueName('rb'), [db], { options: { onConflict: 'fail' } }));
        for (const step of ['configure', 'validation'] as const) {
          await awaitingApproval(handle, step);
          await handle.signal('approve', { step });
        }
        await awaitingApproval(handle, 'migration');
        await servers.target.exec(`INSERT INTO ${qualifiedName(db, 'events')} SELECT toDate('2025-02-01'), number, 'late', 1 FROM system.numbers LIMIT 5`);
        const late = await checkTable(servers.target, db, 'events');
        await handle.signal('approve', { step: 'migration' });
        await handle.result().catch(() => undefined);
        return { state: await queryState(handle), late };
      },
    );

    expect(final.state.error?.message).toMatch(/events holds 5 rows on the target since configure checked it/);
    expect(final.state.steps.find((s) => s.name === 'migration')?.error?.type).toBe('TargetConflict');
    expect(final.state.status).toBe('rolled_back');
    expect(await checkTable(servers.target, db, 'events')).toEqual(final.late);
    expect(await tablesOf(db)).toEqual(['events']);
    expect(final.state.rollback?.counts).toMatchObject({ dropped: 0, restored: 0 });
  });

  it('while a cancelled run rolls back, it still holds its target lock: another run for the same database is refused', async () => {
    const db = await sharedTarget();
    let second: MigrationState | undefined;
    const wrap = (activities: MigrationActivities): MigrationActivities => ({
      ...activities,
      async rollbackToRestorePoint(req) {
        const handle = await startMigration(servers.client, migrationInput(uniqueName('rb-second'), [db], { approvals: { required: false }, options: { onConflict: 'replace' } }));
        await handle.result().catch(() => undefined);
        second = await queryState(handle);
        return activities.rollbackToRestorePoint(req);
      },
    });

    const final = await withWorker(wrap, async () => {
      const handle = await startMigration(servers.client, migrationInput(uniqueName('rb'), [db], { approvals: { required: false }, options: { onConflict: 'replace', parallelism: 1, unitBytes: 1 } }));
      await waitFor(() => queryState(handle), (s) => s.progress.unitsDone >= 1, 'a unit copied');
      await handle.cancel();
      await handle.result().catch(() => undefined);
      return queryState(handle);
    });

    expect(second?.error?.type).toBe('TargetLocked');
    expect(second?.lockConflict).toBe(final.locks[0]);
    expect(final.status).toBe('cancelled');
    expect(await tablesOf(db)).toEqual(['app_notes', 'events']);
  });

  it('when a cancel arrives while the last verification finishes anyway, the run is still rolled back, not completed', async () => {
    const db = await sharedTarget();
    const before = await eventsDigest(db, '1');
    const wrap = (activities: MigrationActivities): MigrationActivities => ({
      ...activities,
      async verifyPage(req) {
        const verdicts = await activities.verifyPage(req);
        // The cancel is recorded while this attempt still runs; it then returns before a heartbeat could tell it.
        await servers.client.workflow.getHandle(Context.current().info.workflowExecution?.workflowId ?? '').cancel();
        return verdicts;
      },
    });

    const final = await withWorker(wrap, async () => {
      const handle = await startMigration(servers.client, migrationInput(uniqueName('rb'), [db], { approvals: { required: false }, options: { onConflict: 'replace' } }));
      await handle.result().catch(() => undefined);
      return queryState(handle);
    });

    expect(final.status).toBe('cancelled');
    expect(final.steps.find((s) => s.name === 'migration')?.status).toBe('skipped');
    expect(final.rollback?.counts).toMatchObject({ leftovers: 0 });
    expect(await tablesOf(db)).toEqual(['app_notes', 'events']);
    expect(await eventsDigest(db, '1')).toEqual(before);
  });

  describe("the rollback's proof", () => {
    it('when a restored partition is changed before the proof runs, the run ends rollback_incomplete, names the table and keeps its restore point', async () => {
      const db = await sharedTarget();
      const wrap = (activities: MigrationActivities): MigrationActivities => ({
        ...activities,
        async proveRollback(req) {
          await servers.target.exec(`INSERT INTO ${qualifiedName(db, 'events')} VALUES ('2025-03-07', 424242, 'mutant', 0)`);
          return activities.proveRollback(req);
        },
      });

      const { final } = await withWorker(wrap, () => failingRun(db));

      expect(final.status).toBe('rollback_incomplete');
      expect(final.error).toMatchObject({ type: 'RollbackIncomplete', message: expect.stringContaining(`${db}.events differs from the restore point`) });
      expect(final.rollback?.verified).toEqual(expect.arrayContaining([expect.objectContaining({ table: 'events', match: false })]));
      expect(await scratchOf(final)).toEqual(expect.arrayContaining([restorePointDatabase(runKeyOf(final.runId))]));
      await servers.target.exec(`DROP DATABASE IF EXISTS ${quoteIdentifier(restorePointDatabase(runKeyOf(final.runId)))}`);
      await servers.target.exec(`DROP DATABASE IF EXISTS ${quoteIdentifier(manifestDatabase(runKeyOf(final.runId)))}`);
    });

    it('when an object of the run is back on the target before the proof runs, the run ends rollback_incomplete and names it as left over', async () => {
      const db = await sharedTarget();
      const wrap = (activities: MigrationActivities): MigrationActivities => ({
        ...activities,
        async proveRollback(req) {
          await servers.target.exec(`CREATE TABLE ${qualifiedName(db, 'legacy')} (d Date, x UInt64) ENGINE = MergeTree(d, x, 8192)`);
          return activities.proveRollback(req);
        },
      });

      const { final } = await withWorker(wrap, () => failingRun(db));

      expect(final.status).toBe('rollback_incomplete');
      expect(final.rollback?.leftovers).toEqual([`${db}.legacy`]);
      expect(final.error?.message).toContain(`${db}.legacy of the run is still there`);
      expect(await scratchOf(final)).toEqual(expect.arrayContaining([restorePointDatabase(runKeyOf(final.runId))]));
      await servers.target.exec(`DROP DATABASE IF EXISTS ${quoteIdentifier(restorePointDatabase(runKeyOf(final.runId)))}`);
      await servers.target.exec(`DROP DATABASE IF EXISTS ${quoteIdentifier(manifestDatabase(runKeyOf(final.runId)))}`);
    });
  });
});
