/**
 * Replicated clusters (issue 22): a replicated source migrated to a replicated target, each side a
 * real ZooKeeper and two 18.16 replicas (test/integration/cluster-harness.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import type { ClickHouseConnection } from '../../src/clickhouse/connection';
import { qualifiedName, quoteIdentifier, quoteString } from '../../src/clickhouse/sql';
import { startReplicaSet } from '../../src/dev/cluster';
import { seal } from '../../src/secrets';
import type { EndpointRef, MigrationState, ReplicationOptions } from '../../src/workflows/types';
import { useReplicatedServers, type ReplicatedSide } from './cluster-harness';
import { awaitingApproval, connect, migrationInput, queryState, startMigration, tableDigest, TEST_KEY, uniqueName, useTestServers } from './harness';

const servers = useTestServers({ worker: true });
const replicated = useReplicatedServers();

/** Runs `sql` on the first replica of `side`, `ON CLUSTER` the side's cluster where `{cluster}` stands. */
async function onSide(side: ReplicatedSide, sql: string): Promise<void> {
  await side.replicas[0].exec(sql.replace('{cluster}', `ON CLUSTER ${side.cluster}`));
}

/**
 * A replicated source database: `events` (ReplicatedMergeTree, 30,000 rows), `latest`
 * (ReplicatedReplacingMergeTree, keys written twice in separate blocks, so that FINAL differs from
 * the rows), `events_all` (Distributed over `events` on the source's cluster) and, on the first
 * replica only, `users` (MergeTree).
 */
async function replicatedSource(prefix: string): Promise<string> {
  const source = replicated.source;
  const db = uniqueName(prefix);
  await onSide(source, `CREATE DATABASE ${quoteIdentifier(db)} {cluster}`);
  await onSide(
    source,
    `CREATE TABLE ${qualifiedName(db, 'events')} {cluster} (d Date, id UInt64, v String) ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/${db}/events', '{replica}') PARTITION BY toYYYYMM(d) ORDER BY id`,
  );
  await onSide(
    source,
    `CREATE TABLE ${qualifiedName(db, 'latest')} {cluster} (id UInt64, ver UInt32, v String) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/${db}/latest', '{replica}', ver) ORDER BY id`,
  );
  await onSide(source, `CREATE TABLE ${qualifiedName(db, 'events_all')} {cluster} AS ${qualifiedName(db, 'events')} ENGINE = Distributed(${source.cluster}, ${quoteIdentifier(db)}, events, rand())`);
  await source.replicas[0].exec(`CREATE TABLE ${qualifiedName(db, 'users')} (id UInt64, name String) ENGINE = MergeTree ORDER BY id`);
  const main = source.replicas[0];
  await main.exec(`INSERT INTO ${qualifiedName(db, 'events')} SELECT toDate('2024-01-01') + number % 90, number, toString(number) FROM system.numbers LIMIT 30000`);
  await main.exec(`INSERT INTO ${qualifiedName(db, 'latest')} SELECT number, 1, 'first' FROM system.numbers LIMIT 2000`);
  await main.exec(`INSERT INTO ${qualifiedName(db, 'latest')} SELECT number * 2, 2, 'second' FROM system.numbers LIMIT 1000`);
  await main.exec(`INSERT INTO ${qualifiedName(db, 'users')} SELECT number, concat('user ', toString(number)) FROM system.numbers LIMIT 100`);
  for (const table of ['events', 'latest']) await main.exec(`SYSTEM SYNC REPLICA ${qualifiedName(db, table)}`);
  return db;
}

/** Rows and a sum of cityHash64 over `columns`, as this test writes it (FINAL where asked). */
async function digestOf(conn: ClickHouseConnection, db: string, table: string, columns: string[], final = false): Promise<{ rows: number; sum: string }> {
  const [row] = await conn.rows<{ rows: string; sum: string }>(
    `SELECT count() AS rows, toString(sum(cityHash64(${columns.join(', ')}))) AS sum FROM ${qualifiedName(db, table)}${final ? ' FINAL' : ''}`,
  );
  return { rows: Number(row.rows), sum: row.sum };
}

async function tablesOf(conn: ClickHouseConnection, db: string): Promise<string[]> {
  return (await conn.rows<{ name: string }>(`SELECT name FROM system.tables WHERE database = ${quoteString(db)} ORDER BY name`)).map((r) => r.name);
}

async function hasDatabase(conn: ClickHouseConnection, db: string): Promise<boolean> {
  return (await conn.rows(`SELECT name FROM system.databases WHERE name = ${quoteString(db)}`)).length > 0;
}

/**
 * The hosts (`host:port`) that finished each statement of `side`'s ON CLUSTER queue that
 * `statement` matches (the queue holds the statement as the server formats it: names back-quoted
 * only where needed).
 */
async function finishedOnCluster(side: ReplicatedSide, statement: RegExp): Promise<string[][]> {
  const queue = `/clickhouse/task_queue/ddl_${side.cluster.replace(/_replicas$/, '')}`;
  const tasks = await side.replicas[0].rows<{ name: string; value: string }>(`SELECT name, value FROM system.zookeeper WHERE path = ${quoteString(queue)}`);
  const finished = [];
  for (const task of tasks.filter((t) => statement.test(t.value))) {
    const hosts = await side.replicas[0].rows<{ name: string }>(`SELECT name FROM system.zookeeper WHERE path = ${quoteString(`${queue}/${task.name}/finished`)} ORDER BY name`);
    finished.push(hosts.map((h) => decodeURIComponent(h.name)));
  }
  return finished;
}

/**
 * Runs `body` against one more target replica set of one server, on `zooKeeper` (the source's
 * makes a target that shares the source's ZooKeeper), stopped and removed afterwards.
 */
async function withExtraTarget(side: string, zooKeeper: ReplicatedSide['zooKeeper'], body: (target: { endpoint: EndpointRef; conn: ClickHouseConnection; cluster: string }) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), `clickhouse-migrator-${side}-`));
  const password = `${side}-zk-password`;
  const set = await startReplicaSet({ side, dir, zooKeeper, count: 1, username: 'default', password });
  const server = set.replicas[0];
  const conn = connect({ url: server.url, username: server.username, password, nativePort: server.tcpPort }, side);
  try {
    await body({ endpoint: { url: server.url, username: server.username, password: seal(password, TEST_KEY), nativePort: server.tcpPort }, conn, cluster: set.cluster });
  } finally {
    await conn.close();
    await set.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

function replicatedInput(prefix: string, db: string, replication: ReplicationOptions | undefined, approvals = { required: false }, target: EndpointRef = replicated.target.endpoint()) {
  return migrationInput(uniqueName(prefix), [db], { source: replicated.source.endpoint(), target, approvals, ...(replication ? { replication } : {}) });
}

/**
 * The configure step's error of a run (approvals required) that must fail there: the gate that
 * lets configure run is the only approval given, and no later step runs.
 */
async function configureRefusal(input: ReturnType<typeof replicatedInput>): Promise<string> {
  const handle = await startMigration(servers.client, input);
  await awaitingApproval(handle, 'configure');
  await handle.signal('approve', { step: 'configure' });
  await expect(handle.result()).rejects.toBeInstanceOf(WorkflowFailedError);
  const final = await queryState(handle);
  const configure = final.steps.find((s) => s.name === 'configure');
  expect(configure).toMatchObject({ status: 'failed', error: { type: 'TargetNotReady' } });
  expect(final.steps.filter((s) => s.name === 'validation' || s.name === 'migration').map((s) => s.status)).toEqual(['pending', 'pending']);
  return configure?.error?.message ?? '';
}

describe('a replicated source migrated to a replicated target', () => {
  it('when a database of replicated tables is migrated, the target tables get the target template path and the same rows', async () => {
    const { source, target } = replicated;
    const db = uniqueName('repl');
    await source.replicas[0].exec(`CREATE DATABASE ${quoteIdentifier(db)} ON CLUSTER ${source.cluster}`);
    await source.replicas[0].exec(
      `CREATE TABLE ${qualifiedName(db, 'events')} ON CLUSTER ${source.cluster} (d Date, id UInt64, v String) ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/${db}/events', '{replica}') PARTITION BY toYYYYMM(d) ORDER BY id`,
    );
    await source.replicas[0].exec(`INSERT INTO ${qualifiedName(db, 'events')} SELECT toDate('2024-01-01') + number % 90, number, toString(number) FROM system.numbers LIMIT 30000`);
    await source.replicas[0].exec(`SYSTEM SYNC REPLICA ${qualifiedName(db, 'events')}`);

    const input = migrationInput(uniqueName('repl-run'), [db], { source: source.endpoint(), target: target.endpoint(), approvals: { required: false } });
    const handle = await startMigration(servers.client, input);
    const final = (await handle.result()) as MigrationState;
    expect(final.status).toBe('completed');

    const [row] = await target.replicas[0].rows<{ zookeeper_path: string }>(
      `SELECT zookeeper_path FROM system.replicas WHERE database = ${quoteString(db)} AND table = 'events'`,
    );
    expect(row.zookeeper_path).toBe(`/clickhouse/tables/01/${db}/events`);
    expect(await tableDigest(target.replicas[0], db, 'events')).toEqual(await tableDigest(source.replicas[0], db, 'events'));
  }, 180_000);

  it('when the target cluster is given, every target replica has every object, its own ZooKeeper path, a Distributed table over the target cluster and the same data', async () => {
    const { source, target } = replicated;
    const db = await replicatedSource('repl-cluster');
    const handle = await startMigration(servers.client, replicatedInput('repl-cluster-run', db, { cluster: target.cluster }));
    const final = (await handle.result()) as MigrationState;
    expect(final.status).toBe('completed');
    const configure = final.steps.find((s) => s.name === 'configure')?.result as { replication?: unknown };
    expect(configure.replication).toEqual({ zooKeeperPath: '/clickhouse/tables/{shard}/{database}/{table}', from: expect.stringMatching(/^(target|default)$/), cluster: target.cluster });

    const expected = {
      events: await digestOf(source.replicas[0], db, 'events', ['d', 'id', 'v']),
      latest: await digestOf(source.replicas[0], db, 'latest', ['id', 'ver', 'v'], true),
      users: await digestOf(source.replicas[0], db, 'users', ['id', 'name']),
    };
    expect(expected.latest.rows).toBe(2000);
    for (const [i, replica] of target.replicas.entries()) {
      expect(await tablesOf(replica, db)).toEqual(['events', 'events_all', 'latest', 'users']);
      const paths = await replica.rows<{ table: string; zookeeper_path: string; replica_name: string }>(
        `SELECT table, zookeeper_path, replica_name FROM system.replicas WHERE database = ${quoteString(db)} ORDER BY table`,
      );
      expect(paths).toEqual(['events', 'latest'].map((table) => ({ table, zookeeper_path: `/clickhouse/tables/01/${db}/${table}`, replica_name: `target-${i + 1}` })));
      const [distributed] = await replica.rows<{ engine_full: string }>(`SELECT engine_full FROM system.tables WHERE database = ${quoteString(db)} AND name = 'events_all'`);
      expect(distributed.engine_full).toMatch(/^Distributed\(`?target_replicas`?, /);
      for (const table of ['events', 'latest']) await replica.exec(`SYSTEM SYNC REPLICA ${qualifiedName(db, table)}`);
      expect(await digestOf(replica, db, 'events', ['d', 'id', 'v'])).toEqual(expected.events);
      expect(await digestOf(replica, db, 'latest', ['id', 'ver', 'v'], true)).toEqual(expected.latest);
      expect(await digestOf(replica, db, 'events_all', ['d', 'id', 'v'])).toEqual(expected.events);
    }
    // Each replica has the run's `users` from the ON CLUSTER DDL; the rows went to the first one only (not replicated).
    expect(await digestOf(target.replicas[0], db, 'users', ['id', 'name'])).toEqual(expected.users);
  }, 240_000);

  it('when a replicated database is renamed on the way to the target cluster, every replica has it under the new name, its Distributed table reading the target cluster and the new name', async () => {
    const { source, target } = replicated;
    const db = await replicatedSource('repl-from');
    const renamed = uniqueName('repl-to');
    const input = { ...replicatedInput('repl-rename-run', db, { cluster: target.cluster }), renames: { [db]: renamed } };
    const final = (await (await startMigration(servers.client, input)).result()) as MigrationState;
    expect(final.status).toBe('completed');
    const expected = await digestOf(source.replicas[0], db, 'events', ['d', 'id', 'v']);
    for (const replica of target.replicas) {
      expect(await tablesOf(replica, renamed)).toEqual(['events', 'events_all', 'latest', 'users']);
      expect(await hasDatabase(replica, db)).toBe(false);
      const [distributed] = await replica.rows<{ engine_full: string }>(`SELECT engine_full FROM system.tables WHERE database = ${quoteString(renamed)} AND name = 'events_all'`);
      expect(distributed.engine_full).toMatch(new RegExp(`^Distributed\\(\`?target_replicas\`?, \`${renamed}\`, events`));
      await replica.exec(`SYSTEM SYNC REPLICA ${qualifiedName(renamed, 'events')}`);
      expect(await digestOf(replica, renamed, 'events_all', ['d', 'id', 'v'])).toEqual(expected);
    }
  }, 240_000);

  it('when a run with the target cluster fails after creating its schema, the rollback leaves neither target replica with its objects', async () => {
    const { source, target } = replicated;
    const db = await replicatedSource('repl-rollback');
    const handle = await startMigration(servers.client, replicatedInput('repl-rollback-run', db, { cluster: target.cluster }, { required: true }));
    for (const step of ['configure', 'validation'] as const) {
      await awaitingApproval(handle, step);
      await handle.signal('approve', { step });
    }
    await awaitingApproval(handle, 'migration');
    // The plan has `users` with `name`: its copy fails once the schema is created.
    await source.replicas[0].exec(`ALTER TABLE ${qualifiedName(db, 'users')} DROP COLUMN name`);
    await handle.signal('approve', { step: 'migration' });
    await handle.result().catch(() => undefined);
    const final = await queryState(handle);

    expect(final.status).toBe('rolled_back');
    expect(final.rollback?.dropped).toEqual(expect.arrayContaining([`${db}.events`, `${db}.latest`, `${db}.events_all`, db]));
    for (const replica of target.replicas) expect(await hasDatabase(replica, db)).toBe(false);
    // Every host of the target cluster ran each drop (and had each object: the creations reached both too).
    const hosts = replicated.target.set.replicas.map((r) => `127.0.0.1:${r.tcpPort}`).sort();
    for (const table of ['events', 'latest', 'events_all']) {
      const name = `\`${db}\`\\.${table} ON CLUSTER ${target.cluster}`;
      expect(await finishedOnCluster(target, new RegExp(`query: CREATE TABLE ${name}`))).toEqual([hosts]);
      expect(await finishedOnCluster(target, new RegExp(`query: DROP TABLE IF EXISTS ${name}`))).toEqual([hosts]);
    }
    expect(await finishedOnCluster(target, new RegExp(`query: DROP DATABASE IF EXISTS \`${db}\` ON CLUSTER`))).toEqual([hosts]);
  }, 240_000);

  it('when replication.cluster is not a cluster of the target, or a Distributed table reads a cluster the target lacks, configure refuses before any change and nothing is created', async () => {
    const db = await replicatedSource('repl-nocluster');
    const unknown = await configureRefusal(replicatedInput('repl-nocluster-run', db, { cluster: 'no_such_cluster' }, { required: true }));
    expect(unknown).toContain('replication.cluster "no_such_cluster" is not a cluster of the target');
    const distributed = await configureRefusal(replicatedInput('repl-nodist-run', db, undefined, { required: true }));
    expect(distributed).toContain(`the Distributed table ${db}.events_all reads the cluster "source_replicas", which the target does not have: give replication.cluster`);
    for (const replica of replicated.target.replicas) expect(await hasDatabase(replica, db)).toBe(false);
  }, 240_000);

  it("when the target shares the source's ZooKeeper, configure refuses the paths already used there before any change, and nothing is created", async () => {
    await withExtraTarget('shared', replicated.source.zooKeeper, async ({ endpoint, conn, cluster }) => {
      const db = await replicatedSource('repl-shared');
      const message = await configureRefusal(replicatedInput('repl-shared-run', db, { cluster }, { required: true }, endpoint));
      for (const table of ['events', 'latest']) {
        expect(message).toContain(`the ZooKeeper path /clickhouse/tables/01/${db}/${table} of ${db}.${table} is already used in ZooKeeper: the source and target may share one ZooKeeper; give replication.zooKeeperPath`);
      }
      expect(await hasDatabase(conn, db)).toBe(false);
    });
  }, 240_000);

  it("when no path template is given, the target's tables get the template its other replicated tables follow", async () => {
    await withExtraTarget('own', replicated.target.zooKeeper, async ({ endpoint, conn, cluster }) => {
      const other = uniqueName('repl-other');
      await conn.exec(`CREATE DATABASE ${quoteIdentifier(other)}`);
      await conn.exec(`CREATE TABLE ${qualifiedName(other, 't')} (id UInt64) ENGINE = ReplicatedMergeTree('/custom/{shard}/tables/${other}/t', '{replica}') ORDER BY id`);
      const db = await replicatedSource('repl-template');
      const final = (await (await startMigration(servers.client, replicatedInput('repl-template-run', db, { cluster }, { required: false }, endpoint))).result()) as MigrationState;
      expect(final.status).toBe('completed');
      const configure = final.steps.find((s) => s.name === 'configure')?.result as { replication?: unknown };
      expect(configure.replication).toEqual({ zooKeeperPath: '/custom/{shard}/tables/{database}/{table}', from: 'target', cluster });
      const paths = await conn.rows<{ zookeeper_path: string }>(`SELECT zookeeper_path FROM system.replicas WHERE database = ${quoteString(db)} ORDER BY table`);
      expect(paths.map((p) => p.zookeeper_path)).toEqual([`/custom/01/tables/${db}/events`, `/custom/01/tables/${db}/latest`]);
    });
  }, 240_000);
});
