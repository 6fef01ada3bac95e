/**
 * Data into replicated tables (issue 22): retried copies are not swallowed by block
 * deduplication, verification checks every replica of the target once its queue drained, a
 * replica stopped mid-copy is waited for, and a rollback restores every replica. Each side is a
 * real ZooKeeper and two 18.16 replicas (test/integration/cluster-harness.ts).
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import { copySettings } from '../../src/clickhouse/capabilities';
import type { ClickHouseConnection } from '../../src/clickhouse/connection';
import { qualifiedName, quoteIdentifier, quoteString } from '../../src/clickhouse/sql';
import type { MigrationActivities } from '../../src/activities';
import type { MigrationInput, MigrationReport, MigrationState, ReplicationOptions } from '../../src/workflows/types';
import { useReplicatedServers, type ReplicatedSide } from './cluster-harness';
import { migrationInput, queryState, startMigration, startWorker, tableDigest, uniqueName, useTestServers, waitFor } from './harness';

const servers = useTestServers({ worker: false });
const replicated = useReplicatedServers();

/** What the worker's activities do besides their work, per test. */
const faults: {
  /** The first attempt of every copy writes its rows without heartbeating them, then fails: its retry copies everything again. */
  failFirstCopies?: boolean;
  /** Runs before the first copy activity of the run. */
  beforeFirstCopy?: () => Promise<void>;
  /** Runs before each verification page. */
  beforeVerify?: () => Promise<void>;
  /** Verification fails, so that the run rolls back. */
  failVerification?: boolean;
} = {};
let retriedCopies = 0;
let copiesStarted = 0;

function wrap(activities: MigrationActivities): MigrationActivities {
  return {
    ...activities,
    async copyUnitRange(req) {
      if (copiesStarted++ === 0) await faults.beforeFirstCopy?.();
      const context = Context.current();
      if (!faults.failFirstCopies) return activities.copyUnitRange(req);
      if (context.info.attempt > 1) {
        retriedCopies++;
        return activities.copyUnitRange(req);
      }
      // No heartbeat reaches the server: the retry does not know which units were done.
      (context as unknown as { heartbeatFn: (details?: unknown) => void }).heartbeatFn = () => undefined;
      await activities.copyUnitRange(req);
      throw ApplicationFailure.retryable('the copy wrote its rows, then failed (injected by the test)', 'InjectedFailure');
    },
    async verifyPage(req) {
      await faults.beforeVerify?.();
      if (faults.failVerification) throw ApplicationFailure.nonRetryable('verification failed (injected by the test)', 'InjectedFailure');
      return activities.verifyPage(req);
    },
  };
}

let worker: { stop(): Promise<void> } | undefined;
beforeAll(async () => {
  worker = await startWorker(wrap);
});
afterAll(async () => {
  await worker?.stop();
});
beforeEach(() => {
  for (const key of Object.keys(faults)) delete faults[key as keyof typeof faults];
  retriedCopies = 0;
  copiesStarted = 0;
});

const EVENTS_COLUMNS = '(d Date, id UInt64, v String)';
/** Equal rows of the deduplication test: more than two blocks (1,048,576 rows) of an INSERT … SELECT. */
const EQUAL_ROWS = 2_200_000;

/** Creates `db.table` ON CLUSTER of `side`, a ReplicatedMergeTree of events partitioned by month. */
async function createEvents(side: ReplicatedSide, db: string, table: string): Promise<void> {
  await side.replicas[0].exec(`CREATE DATABASE IF NOT EXISTS ${quoteIdentifier(db)} ON CLUSTER ${side.cluster}`);
  await side.replicas[0].exec(
    `CREATE TABLE ${qualifiedName(db, table)} ON CLUSTER ${side.cluster} ${EVENTS_COLUMNS}
     ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/${db}/${table}', '{replica}') PARTITION BY toYYYYMM(d) ORDER BY id`,
  );
}

/** Inserts `rows` events over three months into `db.table` on the first replica, `tag` in every value; one part per partition (one block). */
async function insertEvents(side: ReplicatedSide, db: string, table: string, rows: number, tag: string): Promise<void> {
  const name = qualifiedName(db, table);
  await side.replicas[0].exec(`INSERT INTO ${name} SELECT toDate('2025-01-01') + number % 90, number, concat(${quoteString(tag)}, toString(number)) FROM system.numbers LIMIT ${rows}`);
  await syncAll(side, db, table);
}

/** `SYSTEM SYNC REPLICA` of `db.table` on every replica of `side` that has it. */
async function syncAll(side: ReplicatedSide, db: string, table: string): Promise<void> {
  for (const replica of side.replicas) {
    if (await hasTable(replica, db, table)) await replica.exec(`SYSTEM SYNC REPLICA ${qualifiedName(db, table)}`);
  }
}

async function hasTable(conn: ClickHouseConnection, db: string, table: string): Promise<boolean> {
  const rows = await conn.rows(`SELECT 1 FROM system.tables WHERE database = ${quoteString(db)} AND name = ${quoteString(table)}`);
  return rows.length > 0;
}

async function runToEnd(db: string, options: { onConflict?: 'replace' | 'fail'; replication?: ReplicationOptions; mode?: MigrationInput['mode'] }): Promise<MigrationState> {
  const { source, target } = replicated;
  const input = migrationInput(uniqueName('repl-data'), [db], {
    source: source.endpoint(),
    target: target.endpoint(),
    approvals: { required: false },
    ...(options.mode ? { mode: options.mode } : {}),
    replication: options.replication ?? { cluster: target.cluster },
    options: { onConflict: options.onConflict ?? 'replace', parallelism: 1 },
  });
  const handle = await startMigration(servers.client, input);
  // A run that rolls back fails its workflow: its state tells how it ended.
  await handle.result().catch(() => undefined);
  return queryState(handle);
}

function migrationReport(state: MigrationState): MigrationReport {
  return state.steps.find((s) => s.name === 'migration')?.result as MigrationReport;
}

describe('data into replicated tables', () => {
  it('REPLACE PARTITION from a plain twin into a replicated table on 18.16 lands on both replicas (measured)', async () => {
    const { target } = replicated;
    const db = uniqueName('repl-measure');
    await createEvents(target, db, 'live');
    await target.replicas[0].exec(`CREATE TABLE ${qualifiedName(db, 'twin')} ${EVENTS_COLUMNS} ENGINE = MergeTree PARTITION BY toYYYYMM(d) ORDER BY id`);
    const rows = 1_000_000;
    await target.replicas[0].exec(`INSERT INTO ${qualifiedName(db, 'twin')} SELECT toDate('2025-01-01') + number % 28, number, toString(number) FROM system.numbers LIMIT ${rows}`);

    const began = Date.now();
    await target.replicas[0].exec(`ALTER TABLE ${qualifiedName(db, 'live')} REPLACE PARTITION 202501 FROM ${qualifiedName(db, 'twin')}`);
    const replaced = Date.now();
    const count = async (conn: ClickHouseConnection) => Number((await conn.rows<{ n: string }>(`SELECT count() AS n FROM ${qualifiedName(db, 'live')}`))[0].n);
    const onSecond = await waitFor(() => count(target.replicas[1]), (n) => n === rows, 'the rows on replica 2', 60_000);
    console.log(`REPLACE PARTITION of ${rows} rows into a ReplicatedMergeTree (18.16): ${replaced - began} ms on replica 1; replica 2 had them ${Date.now() - replaced} ms later`);

    expect(onSecond).toBe(rows);
    expect(await tableDigest(target.replicas[1], db, 'live')).toEqual(await tableDigest(target.replicas[0], db, 'live'));
  }, 120_000);

  it("when a copy's INSERT … SELECT forms equal blocks, the copy settings keep replication's block deduplication from dropping them", async () => {
    const { source, target } = replicated;
    const db = uniqueName('repl-blocks');
    await source.replicas[0].exec(`CREATE DATABASE ${quoteIdentifier(db)}`);
    await source.replicas[0].exec(`CREATE TABLE ${qualifiedName(db, 'equal')} ${EVENTS_COLUMNS} ENGINE = MergeTree PARTITION BY toYYYYMM(d) ORDER BY id`);
    await source.replicas[0].exec(`INSERT INTO ${qualifiedName(db, 'equal')} SELECT toDate('2025-04-01'), 0, '' FROM system.numbers LIMIT ${EQUAL_ROWS}`);
    await createEvents(target, db, 'equal');
    const { capabilities } = await target.replicas[0].server();
    const from = `remote(${quoteString(`127.0.0.1:${source.main.nativePort}`)}, ${quoteString(db)}, 'equal', ${quoteString(source.main.username)}, ${quoteString(source.main.password)})`;

    // Read in one thread (a server of one core does), the squashed blocks of 1,048,576 equal rows are equal.
    await target.replicas[0].exec(`INSERT INTO ${qualifiedName(db, 'equal')} SELECT * FROM ${from}`, { ...copySettings(capabilities), max_threads: 1 });

    await syncAll(target, db, 'equal');
    for (const replica of target.replicas) expect(await tableDigest(replica, db, 'equal')).toEqual(await tableDigest(source.replicas[0], db, 'equal'));
  }, 120_000);

  it('when every copy is retried after it wrote its rows, block deduplication drops none of them: a table of the target and one the run creates hold the source rows exactly', async () => {
    const { source, target } = replicated;
    const db = uniqueName('repl-dedup');
    for (const table of ['kept', 'fresh']) {
      await createEvents(source, db, table);
      await insertEvents(source, db, table, 6_000, table);
    }
    // `kept` is on both target replicas already (staged units); the run creates `fresh` (direct units).
    await createEvents(target, db, 'kept');
    faults.failFirstCopies = true;

    const final = await runToEnd(db, {});

    expect(final.status).toBe('completed');
    expect(retriedCopies).toBeGreaterThan(0);
    // The copies landed whole, the first time and the retried time: verification found nothing to copy again.
    expect(migrationReport(final).resynced).toEqual([]);
    expect(migrationReport(final).copied.rows).toBe(12_000);
    for (const table of ['kept', 'fresh']) {
      await syncAll(target, db, table);
      const expected = await tableDigest(source.replicas[0], db, table);
      expect({ table, ...(await tableDigest(target.replicas[0], db, table)) }).toEqual({ table, ...expected });
    }
    expect(await tableDigest(target.replicas[1], db, 'kept')).toEqual(await tableDigest(source.replicas[0], db, 'kept'));
    const replicas = migrationReport(final).replicas;
    expect(replicas?.replicas.map((r) => r.replica).sort()).toEqual(['target-1', 'target-2']);
    expect(replicas?.replicas.every((r) => r.mismatched === 0 && r.queue === 0)).toBe(true);
  }, 240_000);

  it('when the run names no cluster of the target, verification checks the connected replica only, and the report says so', async () => {
    const { source, target } = replicated;
    const db = uniqueName('repl-alone');
    await createEvents(source, db, 'events');
    await insertEvents(source, db, 'events', 3_000, 'source');
    await createEvents(target, db, 'events');

    const final = await runToEnd(db, { replication: {} });

    expect(final.status).toBe('completed');
    expect(migrationReport(final).replicas).toEqual({
      waitedSeconds: expect.any(Number),
      onlyConnected: expect.stringContaining('replication.cluster'),
      replicas: [{ replica: 'target-1', tables: 1, mismatched: 0, queue: 0 }],
    });
  }, 240_000);

  it('when a data run copies a plain table of the source into a replicated table of the target, verification checks both target replicas', async () => {
    const { source, target } = replicated;
    const db = uniqueName('repl-datamode');
    await source.replicas[0].exec(`CREATE DATABASE ${quoteIdentifier(db)}`);
    await source.replicas[0].exec(`CREATE TABLE ${qualifiedName(db, 'events')} ${EVENTS_COLUMNS} ENGINE = MergeTree PARTITION BY toYYYYMM(d) ORDER BY id`);
    await source.replicas[0].exec(`INSERT INTO ${qualifiedName(db, 'events')} SELECT toDate('2025-01-01') + number % 90, number, toString(number) FROM system.numbers LIMIT 3000`);
    await createEvents(target, db, 'events');

    const final = await runToEnd(db, { mode: 'data' });

    expect({ status: final.status, error: final.error }).toEqual({ status: 'completed', error: null });
    expect(migrationReport(final).replicas?.replicas).toEqual([
      { replica: 'target-1', tables: 1, mismatched: 0, queue: 0 },
      { replica: 'target-2', tables: 1, mismatched: 0, queue: 0 },
    ]);
    await syncAll(target, db, 'events');
    for (const replica of target.replicas) expect(await tableDigest(replica, db, 'events')).toEqual(await tableDigest(source.replicas[0], db, 'events'));
  }, 240_000);

  it('when a data run into a replicated table of the target must copy a partition again (the source changed), the sync pass stages it beside the table and both replicas end with the source rows', async () => {
    const { source, target } = replicated;
    const db = uniqueName('repl-resync');
    await source.replicas[0].exec(`CREATE DATABASE ${quoteIdentifier(db)}`);
    await source.replicas[0].exec(`CREATE TABLE ${qualifiedName(db, 'events')} ${EVENTS_COLUMNS} ENGINE = MergeTree PARTITION BY toYYYYMM(d) ORDER BY id`);
    await source.replicas[0].exec(`INSERT INTO ${qualifiedName(db, 'events')} SELECT toDate('2025-01-01') + number % 90, number, toString(number) FROM system.numbers LIMIT 3000`);
    await createEvents(target, db, 'events');
    let changed = false;
    faults.beforeVerify = async () => {
      if (changed) return;
      changed = true;
      // After the bulk copy: February on the source now differs from what the target got.
      await source.replicas[0].exec(`INSERT INTO ${qualifiedName(db, 'events')} SELECT toDate('2025-02-01'), 100000 + number, 'late' FROM system.numbers LIMIT 50`);
    };

    const final = await runToEnd(db, { mode: 'data' });

    expect({ status: final.status, error: final.error }).toEqual({ status: 'completed', error: null });
    await syncAll(target, db, 'events');
    const expected = await tableDigest(source.replicas[0], db, 'events');
    expect(expected.rows).toBe(3_050);
    for (const replica of target.replicas) expect(await tableDigest(replica, db, 'events')).toEqual(expected);
  }, 240_000);

  it('when the run fails after writing into a replicated table of the target, the rollback gives both replicas back exactly their rows', async () => {
    const { source, target } = replicated;
    const db = uniqueName('repl-rollback');
    await createEvents(source, db, 'events');
    await insertEvents(source, db, 'events', 9_000, 'source');
    await createEvents(target, db, 'events');
    await insertEvents(target, db, 'events', 4_000, 'target');
    const before = await Promise.all(target.replicas.map((r) => tableDigest(r, db, 'events')));
    faults.failVerification = true;
    let replaced: { rows: number }[] = [];
    faults.beforeVerify = async () => {
      await syncAll(target, db, 'events');
      replaced = await Promise.all(target.replicas.map((r) => tableDigest(r, db, 'events')));
    };

    const final = await runToEnd(db, {});

    // The copy had replaced the target's rows on both replicas when the run failed.
    expect(replaced.map((d) => d.rows)).toEqual([9_000, 9_000]);
    expect(final.status).toBe('rolled_back');
    await syncAll(target, db, 'events');
    const after = await Promise.all(target.replicas.map((r) => tableDigest(r, db, 'events')));
    expect(after).toEqual(before);
    expect(after[0].rows).toBe(4_000);
  }, 240_000);

  it('when the rollback must drop partitions of a replicated table whose leader is the other replica, it empties them there too (18.16 would forward DROP PARTITION to the leader without a password)', async () => {
    const { source, target } = replicated;
    const db = uniqueName('repl-leader');
    await createEvents(source, db, 'events');
    await insertEvents(source, db, 'events', 9_000, 'source');
    // Replica 1, the one the run connects to, may never lead the table: replica 2 always does.
    await target.replicas[0].exec(`CREATE DATABASE IF NOT EXISTS ${quoteIdentifier(db)} ON CLUSTER ${target.cluster}`);
    for (const [i, replica] of target.replicas.entries()) {
      await replica.exec(
        `CREATE TABLE ${qualifiedName(db, 'events')} ${EVENTS_COLUMNS}
         ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/${db}/events', '{replica}') PARTITION BY toYYYYMM(d) ORDER BY id${i === 0 ? ' SETTINGS replicated_can_become_leader = 0' : ''}`,
      );
    }
    // The target holds January only: February and March are new partitions the rollback must empty.
    await target.replicas[0].exec(`INSERT INTO ${qualifiedName(db, 'events')} SELECT toDate('2025-01-01') + number % 28, number, 'target' FROM system.numbers LIMIT 1000`);
    await syncAll(target, db, 'events');
    const [leader] = await target.replicas[0].rows<{ is_leader: number }>(`SELECT is_leader FROM system.replicas WHERE database = ${quoteString(db)} AND table = 'events'`);
    expect(Number(leader.is_leader)).toBe(0);
    const before = await Promise.all(target.replicas.map((r) => tableDigest(r, db, 'events')));
    faults.failVerification = true;

    const final = await runToEnd(db, {});

    expect({ status: final.status, error: final.error?.type }).toEqual({ status: 'rolled_back', error: 'InjectedFailure' });
    await syncAll(target, db, 'events');
    const after = await Promise.all(target.replicas.map((r) => tableDigest(r, db, 'events')));
    expect(after).toEqual(before);
    expect(after[0].rows).toBe(1_000);
    // Its emptied parts wait on disk for old_parts_lifetime with no part covering them: 18.16
    // would find them unexpected if a later test restarted replica 2 meanwhile. Gone with the table.
    await target.replicas[0].exec(`DROP DATABASE ${quoteIdentifier(db)} ON CLUSTER ${target.cluster}`);
  }, 240_000);

  it('when a target replica is stopped during the copy and comes back, verification waits for its queue to drain and the rows converge on both replicas', async () => {
    const { source, target } = replicated;
    const db = uniqueName('repl-stopped');
    await createEvents(source, db, 'events');
    await insertEvents(source, db, 'events', 20_000, 'source');
    await createEvents(target, db, 'events');
    faults.beforeFirstCopy = () => target.stopReplica(1);
    let restarted: Promise<void> | undefined;
    faults.beforeVerify = async () => {
      // Verification starts while replica 2 is still down; it comes back a few seconds later.
      restarted ??= new Promise((resolve) => setTimeout(resolve, 3_000)).then(() => target.restart(1));
    };

    const final = await runToEnd(db, { replication: { cluster: target.cluster, syncTimeoutSeconds: 120 } });
    await restarted;

    expect(final.status).toBe('completed');
    const expected = await tableDigest(source.replicas[0], db, 'events');
    await syncAll(target, db, 'events');
    for (const replica of target.replicas) expect(await tableDigest(replica, db, 'events')).toEqual(expected);
    const report = migrationReport(final).replicas;
    expect(report?.replicas.find((r) => r.replica === 'target-2')).toEqual({ replica: 'target-2', tables: 1, mismatched: 0, queue: 0 });
  }, 240_000);

  it('when a target replica stays down past replication.syncTimeoutSeconds, the run fails naming it and rolls back; once back, both replicas converge', async () => {
    const { source, target } = replicated;
    const db = uniqueName('repl-down');
    await createEvents(source, db, 'events');
    await insertEvents(source, db, 'events', 5_000, 'source');
    await createEvents(target, db, 'events');
    await insertEvents(target, db, 'events', 2_000, 'target');
    const before = await tableDigest(target.replicas[0], db, 'events');
    faults.beforeFirstCopy = () => target.stopReplica(1);

    const final = await runToEnd(db, { replication: { cluster: target.cluster, syncTimeoutSeconds: 3 } });
    await target.restart(1);

    expect(final.status).toBe('rolled_back');
    expect(final.error?.message).toMatch(/replica 127\.0\.0\.1:\d+ of the target did not answer within 3 s/);
    expect(final.error?.message).not.toContain(target.main.password);
    await syncAll(target, db, 'events');
    for (const replica of target.replicas) expect(await tableDigest(replica, db, 'events')).toEqual(before);
  }, 240_000);
  it('when a target replica answers but does not work off its queue within replication.syncTimeoutSeconds, the run fails naming the replica and its queue, and rolls back', async () => {
    const { source, target } = replicated;
    const db = uniqueName('repl-queue');
    await createEvents(source, db, 'events');
    await insertEvents(source, db, 'events', 5_000, 'source');
    await createEvents(target, db, 'events');
    // Rows in every partition the run writes: the rollback restores them from the restore point.
    await insertEvents(target, db, 'events', 2_000, 'target');
    const before = await tableDigest(target.replicas[0], db, 'events');
    await target.replicas[1].exec(`SYSTEM STOP REPLICATION QUEUES ${qualifiedName(db, 'events')}`);

    const final = await runToEnd(db, { replication: { cluster: target.cluster, syncTimeoutSeconds: 3 } });
    await target.replicas[1].exec(`SYSTEM START REPLICATION QUEUES ${qualifiedName(db, 'events')}`);

    expect({ status: final.status, error: final.error?.type }).toEqual({ status: 'rolled_back', error: 'ReplicaNotSynced' });
    expect(final.error?.message).toMatch(/replica target-2 still has [1-9]\d* entries in its queue after 3 s/);
    await syncAll(target, db, 'events');
    for (const replica of target.replicas) expect(await tableDigest(replica, db, 'events')).toEqual(before);
  }, 240_000);
});
