/**
 * Replicated clusters (issue 22): a replicated source migrated to a replicated target, each side a
 * real ZooKeeper and two 18.16 replicas (test/integration/cluster-harness.ts).
 */
import { qualifiedName, quoteIdentifier, quoteString } from '../../src/clickhouse/sql';
import type { MigrationState } from '../../src/workflows/types';
import { useReplicatedServers } from './cluster-harness';
import { migrationInput, startMigration, tableDigest, uniqueName, useTestServers } from './harness';

const servers = useTestServers({ worker: true });
const replicated = useReplicatedServers();

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
});
