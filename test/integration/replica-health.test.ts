/**
 * Replica sets (issue 22): the topology configure and validation report, the refusal to start on
 * an unhealthy replica set (a delayed replica, a read-only one) before the first approval, and the
 * source's replication measured while a run copies from it. Each side is a real ZooKeeper and two
 * 18.16 replicas (test/integration/cluster-harness.ts).
 */
import { dirname } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import type { ClickHouseConnection } from '../../src/clickhouse/connection';
import { restorePointDatabase } from '../../src/clickhouse/scratch';
import { qualifiedName, quoteIdentifier, quoteString } from '../../src/clickhouse/sql';
import { startZooKeeper } from '../../src/dev/zookeeper';
import { runKeyOf } from '../../src/workflows/state';
import { FAILURE_TYPES, type MigrationInput, type MigrationState, type ReplicaTopology, type TargetReport, type ValidationReport } from '../../src/workflows/types';
import { useReplicatedServers, type ReplicatedSide } from './cluster-harness';
import { awaitingApproval, migrationInput, queryState, startMigration, uniqueName, useTestServers, waitFor } from './harness';

const servers = useTestServers({ worker: true });
const replicated = useReplicatedServers();

/** A database on every replica of `side` with a replicated table `events` of `rows` rows over a few months, synced on both replicas. */
async function replicatedDatabase(side: ReplicatedSide, prefix: string, rows: number): Promise<string> {
  const db = uniqueName(prefix);
  const [first] = side.replicas;
  await first.exec(`CREATE DATABASE ${quoteIdentifier(db)} ON CLUSTER ${side.cluster}`);
  await first.exec(
    `CREATE TABLE ${qualifiedName(db, 'events')} ON CLUSTER ${side.cluster} (d Date, id UInt64, v String) ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/${db}/events', '{replica}') PARTITION BY toYYYYMM(d) ORDER BY id`,
  );
  if (rows > 0) await first.exec(`INSERT INTO ${qualifiedName(db, 'events')} SELECT toDate('2024-01-01') + number % 120, number, toString(number) FROM system.numbers LIMIT ${rows}`);
  for (const replica of side.replicas) await replica.exec(`SYSTEM SYNC REPLICA ${qualifiedName(db, 'events')}`);
  return db;
}

function inputFor(id: string, db: string, overrides: Parameters<typeof migrationInput>[2] = {}): MigrationInput {
  return migrationInput(id, [db], { source: replicated.source.endpoint(), target: replicated.target.endpoint(), ...overrides });
}

/** The run ended before its first gate with `ReplicaSetUnhealthy`: nothing locked, no step begun, no restore point on the target. */
async function expectRefusedBeforeFirstGate(handle: WorkflowHandle, runId: string): Promise<MigrationState> {
  await expect(handle.result()).rejects.toThrow();
  const state = await queryState(handle);
  expect(state.error?.type).toBe(FAILURE_TYPES.replicaSetUnhealthy);
  expect(state.locks).toEqual([]);
  expect(state.approvals).toEqual([]);
  expect(state.steps.map((s) => s.status)).toEqual(['pending', 'pending', 'pending', 'pending']);
  expect(state.restorePoint).toBeNull();
  const [left] = await replicated.target.replicas[0].rows<{ n: string }>(`SELECT count() AS n FROM system.databases WHERE name = ${quoteString(restorePointDatabase(runKeyOf(runId)))}`);
  expect(Number(left.n)).toBe(0);
  return state;
}

async function replicaRow(conn: ClickHouseConnection, db: string): Promise<{ queue_size: number; is_readonly: number }> {
  const [row] = await conn.rows<{ queue_size: number; is_readonly: number }>(`SELECT queue_size, is_readonly FROM system.replicas WHERE database = ${quoteString(db)} AND table = 'events'`);
  return { queue_size: Number(row?.queue_size ?? 0), is_readonly: Number(row?.is_readonly ?? 0) };
}

describe('replica sets: topology, health and the source replication during a run', () => {
  it('when a run waits for its approvals, configure reports the target topology and validation the source one: both clusters with both replicas, macros, replicated tables', async () => {
    const db = await replicatedDatabase(replicated.source, 'topo', 1_000);
    const handle = await startMigration(servers.client, inputFor(uniqueName('topo-run'), db));
    await awaitingApproval(handle, 'configure');
    await handle.signal('approve', { step: 'configure', by: 'jest' });
    await awaitingApproval(handle, 'validation');
    await handle.signal('approve', { step: 'validation', by: 'jest' });
    const state = await awaitingApproval(handle, 'migration');
    const configure = state.steps.find((s) => s.name === 'configure')?.result as TargetReport;
    const validation = state.steps.find((s) => s.name === 'validation')?.result as ValidationReport;
    const target = configure.topology?.target as ReplicaTopology;
    const source = validation.topology as ReplicaTopology;

    const clusterOf = (side: ReplicatedSide) => ({ name: side.cluster, shards: 1, replicas: 2, hosts: side.set.replicas.map((r) => `127.0.0.1:${r.tcpPort}`) });
    expect(target.clusters).toContainEqual(clusterOf(replicated.target));
    expect(target.macros).toEqual({ replica: 'target-1', shard: '01' });
    expect(target.replicated.tables).toBe(0);
    expect(source.clusters).toContainEqual(clusterOf(replicated.source));
    expect(source.macros).toEqual({ replica: 'source-1', shard: '01' });
    expect(source.replicated).toMatchObject({ tables: 1, replicas: 2, readonly: 0, inactive: 0, peersChecked: 1 });
    expect(source.problems).toEqual([]);
    expect(configure.topology?.source.summary).toBe(source.summary);
    console.log(`configure reports the target topology: ${target.summary}\nvalidation reports the source topology: ${source.summary}`);
    await handle.signal('reject', { step: 'migration', by: 'jest', reason: 'topology only' });
    expect(((await handle.result()) as MigrationState).status).toBe('rejected');
  }, 180_000);

  it('when a source replica falls behind (its fetches stopped) beyond replication.maxQueue, the run is refused before the first approval, naming replica, table, queue and limit', async () => {
    const { source } = replicated;
    const db = await replicatedDatabase(source, 'behind', 100);
    await source.replicas[1].exec(`SYSTEM STOP FETCHES ${qualifiedName(db, 'events')}`);
    try {
      for (let i = 1; i <= 3; i++) await source.replicas[0].exec(`INSERT INTO ${qualifiedName(db, 'events')} SELECT toDate('2024-02-01'), number + ${i * 1_000_000}, 'late' FROM system.numbers LIMIT 10`);
      await waitFor(() => replicaRow(source.replicas[1], db), (r) => r.queue_size >= 3, 'the queue of replica source-2');

      const handle = await startMigration(servers.client, inputFor(uniqueName('behind-run'), db, { replication: { maxQueue: 1 } }));
      const state = await expectRefusedBeforeFirstGate(handle, handle.firstExecutionRunId);
      expect(state.error?.message).toMatch(new RegExp(`on the source, replica source-2 of ${db}\\.events has [3-9] entries in its replication queue, above replication\\.maxQueue = 1`));
      console.log(`a delayed replica set is refused: ${state.error?.message}`);
    } finally {
      await source.replicas[1].exec(`SYSTEM START FETCHES ${qualifiedName(db, 'events')}`);
    }
  }, 180_000);

  it('when the source replicas keep receiving inserts during the copy, the run completes and reports the largest replication delay during the copy against the one before it', async () => {
    const { source, target } = replicated;
    const db = await replicatedDatabase(source, 'busy', 600_000);
    const events = qualifiedName(db, 'events');
    const handle = await startMigration(servers.client, inputFor(uniqueName('busy-run'), db, { approvals: { required: false }, options: { maxRowsPerSecond: 150_000 } }));
    await waitFor(() => queryState(handle), (s) => s.progress.unitsTotal > 0 || s.status !== 'running', 'the copy to start');
    let inserts = 0;
    let copying = true;
    const watcher = waitFor(() => queryState(handle), (s) => s.progress.unitsDone >= s.progress.unitsTotal || s.status !== 'running', 'the copy to end', 170_000).finally(() => {
      copying = false;
    });
    // Both replicas take inserts (each fetches the other's) while the run reads the first one.
    while (copying) {
      const replica = source.replicas[inserts % 2];
      await replica.exec(`INSERT INTO ${events} SELECT toDate('2024-03-01'), number + ${10_000_000 + inserts * 1_000}, 'busy' FROM system.numbers LIMIT 500`);
      inserts++;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await watcher;
    const final = (await handle.result()) as MigrationState;
    expect(final.status).toBe('completed');
    expect(inserts).toBeGreaterThan(0);
    const r = final.sourceReplication;
    expect(r).toBeDefined();
    expect(r?.samples).toBeGreaterThan(0);
    expect(r?.baselineMaxDelaySeconds).not.toBeNull();
    for (const replica of source.replicas) await replica.exec(`SYSTEM SYNC REPLICA ${events}`);
    const count = async (conn: ClickHouseConnection) => Number((await conn.rows<{ n: string }>(`SELECT count() AS n FROM ${events}`))[0].n);
    expect(await count(source.replicas[1])).toBe(await count(source.replicas[0]));
    expect(await count(target.replicas[0])).toBe(await count(source.replicas[0]));
    console.log(
      `source replication: largest delay ${r?.maxDelaySecondsDuringCopy} s during the copy (largest queue ${r?.maxQueueDuringCopy}, ${r?.samples} samples, ${inserts} inserts of 500 rows on the two replicas meanwhile), ${r?.baselineMaxDelaySeconds} s before it (validation)`,
    );
  }, 240_000);

  // Last: it stops the source's ZooKeeper (its replicas turn read-only), and starts it again after.
  it('when a source replica is read-only (its ZooKeeper is gone), the run is refused before the first approval, naming the replica and table', async () => {
    const { source } = replicated;
    const db = await replicatedDatabase(source, 'readonly', 100);
    const zooKeeper = source.zooKeeper;
    await zooKeeper.stop();
    try {
      await waitFor(() => replicaRow(source.replicas[0], db), (r) => r.is_readonly === 1, 'replica source-1 to turn read-only', 90_000);
      const handle = await startMigration(servers.client, inputFor(uniqueName('readonly-run'), db));
      const state = await expectRefusedBeforeFirstGate(handle, handle.firstExecutionRunId);
      expect(state.error?.message).toContain(`on the source, replica source-1 of ${db}.events is read-only`);
      console.log(`a read-only replica set is refused: ${state.error?.message}`);
    } finally {
      source.zooKeeper = await startZooKeeper({ dir: dirname(zooKeeper.logFile), port: zooKeeper.port });
    }
  }, 240_000);
});
