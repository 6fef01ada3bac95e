import type { WorkflowHandle } from '@temporalio/client';
import type { ClickHouseConnection } from '../../src/clickhouse/connection';
import { qualifiedName, quoteIdentifier, quoteString } from '../../src/clickhouse/sql';
import type { MigrationOptions, MigrationState } from '../../src/workflows/types';
import { checkTable } from './fault-harness';
import { createHostilePartitions, HOSTILE_PARTITIONED } from './hostile-partitions';
import { dropDatabase, migrationInput, queryState, startMigration, uniqueName, useTestServers, waitFor } from './harness';

const servers = useTestServers({ worker: true });
const dotted: string[] = [];

afterAll(async () => {
  for (const db of dotted) {
    await dropDatabase(servers.source, db);
    await dropDatabase(servers.target, db);
  }
});

/**
 * Two databases whose tables read the same as `db.table`: `<x>.y`.`z` and `<x>`.`y.z`, on the
 * source with different rows; on the target, `<x>`.`y.z` exists and is empty (someone else's, in
 * scope), and `<x>.y` does not. `<x>` also holds tables partitioned by hostile String values.
 */
async function lookalikes(): Promise<{ x: string; xy: string }> {
  const x = servers.database('keys');
  const xy = `${x}.y`;
  dotted.push(xy);
  const table = (db: string, name: string) => `CREATE TABLE ${qualifiedName(db, name)} (d Date, k UInt64, s String) ENGINE = MergeTree PARTITION BY toYYYYMM(d) ORDER BY k`;
  for (const db of [x, xy]) await servers.source.exec(`CREATE DATABASE ${quoteIdentifier(db)}`);
  await servers.source.exec(table(xy, 'z'));
  await servers.source.exec(table(x, 'y.z'));
  await servers.source.exec(`INSERT INTO ${qualifiedName(xy, 'z')} SELECT toDate('2025-01-01') + number, number, 'dotted database' FROM system.numbers LIMIT 70`);
  await servers.source.exec(`INSERT INTO ${qualifiedName(x, 'y.z')} SELECT toDate('2025-03-01') + number * 2, number * 7, 'dotted table' FROM system.numbers LIMIT 130`);
  await createHostilePartitions(servers.source, x);
  await servers.target.exec(`CREATE DATABASE ${quoteIdentifier(x)}`);
  await servers.target.exec(table(x, 'y.z'));
  return { x, xy };
}

/** Waits until the run waits for approval of `step`; fails at once, with the run's error, if it ended before. */
async function approvalOrEnd(handle: WorkflowHandle, step: string): Promise<void> {
  const state = await waitFor(() => queryState(handle), (s) => s.awaitingApproval?.step === step || s.error !== null, `approval of ${step}`);
  if (state.awaitingApproval?.step !== step) throw new Error(`the run ended before ${step}: ${state.status} ${JSON.stringify(state.error)}`);
}

/** Runs a migration of `databases` through its gates; `beforeMigration` runs just before the migration step is approved. */
async function run(databases: string[], options: Partial<MigrationOptions>, beforeMigration?: () => Promise<void>): Promise<{ handle: WorkflowHandle; final: MigrationState }> {
  const handle = await startMigration(servers.client, migrationInput(uniqueName('keys'), databases, { options: { parallelism: 2, ...options } }));
  for (const step of ['configure', 'validation'] as const) {
    await approvalOrEnd(handle, step);
    await handle.signal('approve', { step });
  }
  await approvalOrEnd(handle, 'migration');
  await beforeMigration?.();
  await handle.signal('approve', { step: 'migration' });
  await handle.result().catch(() => undefined);
  return { handle, final: await queryState(handle) };
}

/** count() and the sha256 of the sorted rows of each table: the test's own comparison. */
async function checks(conn: ClickHouseConnection, tables: [string, string][]): Promise<unknown[]> {
  return Promise.all(tables.map(async ([db, name]) => ({ db, ...(await checkTable(conn, db, name)) })));
}

async function tablesIn(conn: ClickHouseConnection, db: string): Promise<string[]> {
  return (await conn.rows<{ name: string }>(`SELECT name FROM system.tables WHERE database = ${quoteString(db)} ORDER BY name`)).map((r) => r.name);
}

describe('tables whose names read the same as db.table', () => {
  it('`x.y`.`z` and `x`.`y.z` migrate in one run, each with its own rows, and tables partitioned by hostile values arrive whole', async () => {
    const { x, xy } = await lookalikes();
    const tables: [string, string][] = [[xy, 'z'], [x, 'y.z'], ...Object.keys(HOSTILE_PARTITIONED).map((t): [string, string] => [x, t]), [x, 'bystander']];

    const { final } = await run([x, xy], { onConflict: 'fail' });

    expect([final.status, final.error?.message]).toEqual(['completed', undefined]);
    const source = await checks(servers.source, tables);
    expect(source.map((t) => (t as { count: number }).count)).toEqual([70, 130, 27, 27, 3, 2]);
    expect(await checks(servers.target, tables)).toEqual(source);
  });

  it("a rollback drops the run's `x.y`.`z` and puts back the `x`.`y.z` that was there, not the other way round", async () => {
    const { x, xy } = await lookalikes();
    await servers.target.exec(`INSERT INTO ${qualifiedName(x, 'y.z')} VALUES ('2024-12-24', 1, 'theirs'), ('2024-12-25', 2, 'theirs')`);
    const before = await checkTable(servers.target, x, 'y.z');
    // A table the copy cannot write once its source loses a column: the run fails after copying, and rolls back.
    await servers.source.exec(`CREATE TABLE ${qualifiedName(xy, 'breaks')} (k UInt64, gone String) ENGINE = MergeTree ORDER BY k`);
    await servers.source.exec(`INSERT INTO ${qualifiedName(xy, 'breaks')} VALUES (1, 'a')`);

    const { final } = await run([x, xy], { onConflict: 'replace', parallelism: 1 }, () =>
      servers.source.exec(`ALTER TABLE ${qualifiedName(xy, 'breaks')} DROP COLUMN gone`),
    );

    expect(final.status).toBe('rolled_back');
    expect(await checkTable(servers.target, x, 'y.z')).toEqual(before);
    expect(await tablesIn(servers.target, x)).toEqual(['y.z']);
    expect(await tablesIn(servers.target, xy)).toEqual([]);
    expect(final.rollback?.leftovers).toEqual([]);
  });
});
