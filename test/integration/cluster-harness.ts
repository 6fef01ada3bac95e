/**
 * Replicated servers for the tests of replicated clusters: per side, a real ZooKeeper and two
 * ClickHouse replicas of one shard (`source_replicas`, `target_replicas` in `system.clusters`),
 * started by the test file itself on free loopback ports and stopped after it. The Temporal server
 * and the worker are the suite's own (see `useTestServers`).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClickHouseConnection } from '../../src/clickhouse/connection';
import { startReplicaSet, type LocalReplicaSet } from '../../src/dev/cluster';
import type { LocalClickHouse } from '../../src/dev/clickhouse-server';
import { freePort } from '../../src/dev/ports';
import { startZooKeeper, type LocalZooKeeper } from '../../src/dev/zookeeper';
import { seal } from '../../src/secrets';
import type { EndpointRef } from '../../src/workflows/types';
import { TEST_KEY } from './harness';
import type { TestClickHouse } from './stack-env';

/** One side: its ZooKeeper, its replicas and a connection to each (the first is the side's main server). */
export interface ReplicatedSide {
  cluster: string;
  zooKeeper: LocalZooKeeper;
  set: LocalReplicaSet;
  /** Connections to every replica, in order; renewed by `restart`. */
  replicas: ClickHouseConnection[];
  /** The first replica, as the tests' `TestClickHouse`. */
  main: TestClickHouse;
  /** The first replica as a workflow endpoint, its password sealed with the tests' key. */
  endpoint(): EndpointRef;
  /** Stops replica `index` (its data stays). */
  stopReplica(index: number): Promise<void>;
  /** Starts replica `index` again on its data and ports. */
  restart(index: number): Promise<void>;
}

export interface ReplicatedServers {
  source: ReplicatedSide;
  target: ReplicatedSide;
}

function asTestServer(server: LocalClickHouse): TestClickHouse {
  return { url: server.url, username: server.username, password: server.password, nativePort: server.tcpPort };
}

function connectTo(server: LocalClickHouse, label: string): ClickHouseConnection {
  return new ClickHouseConnection({ url: server.url, username: server.username, password: server.password }, { label, secrets: [] });
}

async function startSide(side: string, dir: string): Promise<ReplicatedSide> {
  const zooKeeper = await startZooKeeper({ dir: join(dir, `${side}-zookeeper`), port: await freePort() });
  const password = `${side}-${randomBytes(6).toString('hex')}`;
  const set = await startReplicaSet({ side, dir, zooKeeper, count: 2, username: 'default', password }).catch(async (err: unknown) => {
    await zooKeeper.stop();
    throw err;
  });
  const replicas = set.replicas.map((r, i) => connectTo(r, `${side}-${i + 1}`));
  const main = asTestServer(set.replicas[0]);
  return {
    cluster: set.cluster,
    zooKeeper,
    set,
    replicas,
    main,
    endpoint: () => ({ url: main.url, username: main.username, password: seal(main.password, TEST_KEY), nativePort: main.nativePort }),
    async stopReplica(index) {
      await replicas[index].close();
      await set.replicas[index].stop();
    },
    async restart(index) {
      const server = await set.restart(index);
      replicas[index] = connectTo(server, `${side}-${index + 1}`);
    },
  };
}

/**
 * Registers the file's beforeAll/afterAll: a ZooKeeper and two replicas per side (about 10 s),
 * every server stopped and its directory removed after the file's tests.
 */
export function useReplicatedServers(): ReplicatedServers {
  const servers = {} as ReplicatedServers;
  let dir = '';
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'clickhouse-migrator-replicas-'));
    const [source, target] = await Promise.allSettled([startSide('source', dir), startSide('target', dir)]);
    for (const side of [source, target]) if (side.status === 'rejected') throw side.reason;
    servers.source = (source as PromiseFulfilledResult<ReplicatedSide>).value;
    servers.target = (target as PromiseFulfilledResult<ReplicatedSide>).value;
  }, 120_000);
  afterAll(async () => {
    for (const side of [servers.source, servers.target]) {
      if (!side) continue;
      await Promise.all(side.replicas.map((c) => c.close().catch(() => undefined)));
      await side.set.stop();
      await side.zooKeeper.stop();
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 120_000);
  return servers;
}
