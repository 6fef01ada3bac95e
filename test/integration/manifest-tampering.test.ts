import { Readable } from 'node:stream';
import type { MigrationActivities } from '../../src/activities';
import { Manifest } from '../../src/activities/manifest';
import { manifestDatabase, restorePointDatabase } from '../../src/clickhouse/scratch';
import { qualifiedName, quoteIdentifier } from '../../src/clickhouse/sql';
import { runKeyOf } from '../../src/workflows/state';
import type { MigrationState, RestorePointTable } from '../../src/workflows/types';
import { awaitingApproval, migrationInput, queryState, startMigration, startWorker, tableDigest, TEST_KEY, uniqueName, useTestServers } from './harness';

const servers = useTestServers({ worker: false });

/** The run's database: `events` and `users` on the source; on the target, `events` with rows of its own. */
async function runDatabase(): Promise<string> {
  const db = servers.database('tamper');
  for (const conn of [servers.source, servers.target]) {
    await conn.exec(`CREATE DATABASE ${quoteIdentifier(db)}`);
    await conn.exec(`CREATE TABLE ${qualifiedName(db, 'events')} (day Date, id UInt64) ENGINE = MergeTree PARTITION BY toYYYYMM(day) ORDER BY id`);
  }
  await servers.source.exec(`INSERT INTO ${qualifiedName(db, 'events')} SELECT toDate('2025-01-01') + number % 90, number FROM system.numbers LIMIT 3000`);
  await servers.target.exec(`INSERT INTO ${qualifiedName(db, 'events')} SELECT toDate('2025-02-01'), number FROM system.numbers LIMIT 200`);
  await servers.source.exec(`CREATE TABLE ${qualifiedName(db, 'users')} (id UInt64, name String) ENGINE = MergeTree ORDER BY id`);
  await servers.source.exec(`INSERT INTO ${qualifiedName(db, 'users')} SELECT number, toString(number) FROM system.numbers LIMIT 500`);
  return db;
}

/** A database outside the run: `events` on the source (what a forged plan would copy), `keep` on the target. */
async function bystander(): Promise<string> {
  const db = servers.database('bystander');
  await servers.source.exec(`CREATE DATABASE ${quoteIdentifier(db)}`);
  await servers.source.exec(`CREATE TABLE ${qualifiedName(db, 'events')} (day Date, id UInt64) ENGINE = MergeTree PARTITION BY toYYYYMM(day) ORDER BY id`);
  await servers.source.exec(`INSERT INTO ${qualifiedName(db, 'events')} SELECT toDate('2025-01-01'), number FROM system.numbers LIMIT 100`);
  await servers.target.exec(`CREATE DATABASE ${quoteIdentifier(db)}`);
  await servers.target.exec(`CREATE TABLE ${qualifiedName(db, 'keep')} (day Date, id UInt64) ENGINE = MergeTree PARTITION BY toYYYYMM(day) ORDER BY id`);
  await servers.target.exec(`INSERT INTO ${qualifiedName(db, 'keep')} SELECT toDate('2025-02-01') + number % 40, number FROM system.numbers LIMIT 700`);
  return db;
}

async function bystanderNow(db: string): Promise<{ tables: string[]; keep: { rows: number; checksum: string } }> {
  const tables = await servers.target.rows<{ name: string }>(`SELECT name FROM system.tables WHERE database = '${db}' ORDER BY name`);
  return { tables: tables.map((t) => t.name), keep: await tableDigest(servers.target, db, 'keep') };
}

async function withWorker<T>(wrap: ((a: MigrationActivities) => MigrationActivities) | undefined, body: () => Promise<T>): Promise<T> {
  const worker = await startWorker(wrap);
  try {
    return await body();
  } finally {
    await worker.stop();
  }
}

/** Starts a run of `db`, approves configure and validation, and waits at the approval of the migration step. */
async function runAtMigrationGate(db: string) {
  const handle = await startMigration(servers.client, migrationInput(uniqueName('tamper'), [db], { options: { onConflict: 'replace', parallelism: 1 } }));
  for (const step of ['configure', 'validation'] as const) {
    await awaitingApproval(handle, step);
    await handle.signal('approve', { step });
  }
  const state = await awaitingApproval(handle, 'migration');
  return { handle, runKey: runKeyOf(state.runId) };
}

async function finalState(handle: Awaited<ReturnType<typeof runAtMigrationGate>>['handle']): Promise<MigrationState> {
  await handle.result().catch(() => undefined);
  return queryState(handle);
}

/**
 * Appends to the run's `objects` list, with plain SQL, the plan of the bystander's `events` built
 * from the genuine row of the run's `events`: as a second row with that row's seq and signature,
 * or as a new row whose signature is made up. Whatever columns the table has are kept.
 */
async function forgeObjectsRow(runKey: string, db: string, other: string, how: 'duplicate seq' | 'bad MAC'): Promise<string> {
  const table = qualifiedName(manifestDatabase(runKey), 'objects');
  const rows = await servers.target.rows<Record<string, unknown> & { seq: string; body: string }>(`SELECT * FROM ${table} ORDER BY seq`);
  const genuine = rows.find((r) => r.body !== '' && (JSON.parse(r.body) as { name: string }).name === 'events');
  if (!genuine) throw new Error('the plan has no events');
  const body = JSON.stringify({ ...JSON.parse(genuine.body), database: other, createTableQuery: (JSON.parse(genuine.body).createTableQuery as string).split(db).join(other) });
  const last = Math.max(...rows.map((r) => Number(r.seq)));
  const forged = how === 'duplicate seq' ? { ...genuine, body } : { ...genuine, body, seq: last + 1, ...('mac' in genuine ? { mac: 'ab'.repeat(32) } : {}) };
  await servers.target.insertStream(`INSERT INTO ${table} FORMAT JSONEachRow`, Readable.from([JSON.stringify(forged)]));
  return `${manifestDatabase(runKey)}.objects`;
}

describe('a run refuses a manifest that someone else wrote to', () => {
  it.each(['duplicate seq', 'bad MAC'] as const)(
    'when the plan in the manifest gains a forged row (%s) naming another database, the migration step stops as ManifestTampered and that database is untouched',
    async (how) => {
      const [db, other] = [await runDatabase(), await bystander()];
      const [before, eventsBefore] = [await bystanderNow(other), await tableDigest(servers.target, db, 'events')];

      const final = await withWorker(undefined, async () => {
        const { handle, runKey } = await runAtMigrationGate(db);
        const table = await forgeObjectsRow(runKey, db, other, how);
        await handle.signal('approve', { step: 'migration' });
        const state = await finalState(handle);
        expect(state.error).toMatchObject({ type: 'ManifestTampered', message: expect.stringContaining(`the run's manifest table ${table} at seq`) });
        return state;
      });

      expect(final.status).toBe('rolled_back');
      expect(final.steps.find((s) => s.name === 'migration')?.status).toBe('failed');
      expect(await bystanderNow(other)).toEqual(before);
      expect(await tableDigest(servers.target, db, 'events')).toEqual(eventsBefore);
    },
  );

  const forgeries = {
    // A worker's key signs it: only the check against the run's databases can refuse it.
    'the restore point list, signed again, names a table of another database': async (runKey: string, other: string) => {
      const manifest = new Manifest(servers.target, runKey, TEST_KEY);
      const restore = await manifest.read<RestorePointTable>('restore');
      await manifest.write('restore', [...restore, { ...restore[0], database: other, name: 'keep' }]);
      return `names database ${other}, which is not one of the run's`;
    },
    'the journal gains an entry written with plain SQL': async (runKey: string, other: string) => {
      const journal = qualifiedName(manifestDatabase(runKey), 'journal');
      await servers.target.exec(`INSERT INTO ${journal} (database, table, partition_id, rows_before, retaken) VALUES ('${other}', 'keep', '202502', 0, 1)`);
      return `${manifestDatabase(runKey)}.journal: the entry of ${other}.keep partition 202502 is not signed`;
    },
  };

  it.each(Object.keys(forgeries) as (keyof typeof forgeries)[])('when %s, the rollback refuses it and that table is untouched', async (how) => {
    const [db, other] = [await runDatabase(), await bystander()];
    const before = await bystanderNow(other);
    let refusal: string | undefined;
    const wrap = (activities: MigrationActivities): MigrationActivities => ({
      ...activities,
      async rollbackToRestorePoint(req) {
        if (req.runKey && refusal === undefined) refusal = await forgeries[how](req.runKey, other);
        return activities.rollbackToRestorePoint(req);
      },
    });

    const final = await withWorker(wrap, async () => {
      const { handle } = await runAtMigrationGate(db);
      // The source changes after validation: the copy of `users` fails, and the run rolls back.
      await servers.source.exec(`ALTER TABLE ${qualifiedName(db, 'users')} DROP COLUMN name`);
      await handle.signal('approve', { step: 'migration' });
      return finalState(handle);
    });

    expect(final.status).toBe('rollback_incomplete');
    expect(final.error?.message).toContain(refusal);
    expect(await bystanderNow(other)).toEqual(before);
    await servers.target.exec(`DROP DATABASE IF EXISTS ${quoteIdentifier(restorePointDatabase(runKeyOf(final.runId)))}`);
    await servers.target.exec(`DROP DATABASE IF EXISTS ${quoteIdentifier(manifestDatabase(runKeyOf(final.runId)))}`);
  });
});
