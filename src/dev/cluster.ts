import { join } from 'node:path';
import { startClickHouse, type LocalClickHouse } from './clickhouse-server';
import { freePort } from './ports';
import type { LocalZooKeeper } from './zookeeper';

/** The cluster name of a side's replicated set in `system.clusters`: `source_replicas`, `target_replicas`. */
export function replicasCluster(side: string): string {
  return `${side}_replicas`;
}

/** One side's replicated set: every replica, the first one being the side's main server. */
export interface LocalReplicaSet {
  cluster: string;
  replicas: LocalClickHouse[];
  /** Starts replica `index` again on its data and ports, after its `stop()` (a restarted replica). */
  restart(index: number): Promise<LocalClickHouse>;
  stop(): Promise<void>;
}

/** Ports of one replica; a port left out is a free one. */
export interface ReplicaPorts {
  httpPort?: number;
  tcpPort?: number;
  interserverHttpPort?: number;
}

/**
 * Starts `count` ClickHouse servers that form one shard of replicas on `zooKeeper`: macros
 * `{shard}` = `01` and `{replica}` = `<side>-<n>`, a `remote_servers` cluster of them named
 * `replicasCluster(side)`, and a queue for `ON CLUSTER` of their own. Every replica has the same
 * user and password, as the cluster definition needs. Data of replica n lives in `dir/<side>-<n>`.
 */
export async function startReplicaSet(options: {
  side: string;
  dir: string;
  zooKeeper: LocalZooKeeper;
  count: number;
  username: string;
  password: string;
  /** Ports per replica, in order (the first replica keeps a side's default ports in `npm start`). */
  ports?: ReplicaPorts[];
}): Promise<LocalReplicaSet> {
  const { side, count } = options;
  const cluster = replicasCluster(side);
  const ports = await Promise.all(
    Array.from({ length: count }, async (_, i) => ({
      httpPort: options.ports?.[i]?.httpPort ?? (await freePort()),
      tcpPort: options.ports?.[i]?.tcpPort ?? (await freePort()),
      interserverHttpPort: options.ports?.[i]?.interserverHttpPort ?? (await freePort()),
    })),
  );
  const optionsOf = (i: number): Parameters<typeof startClickHouse>[0] => {
    const p = ports[i];
    return {
      name: `${side}-${i + 1}`,
      dir: join(options.dir, `${side}-${i + 1}`),
      httpPort: p.httpPort,
      tcpPort: p.tcpPort,
      username: options.username,
      password: options.password,
      replica: {
        zooKeeper: { host: options.zooKeeper.host, port: options.zooKeeper.port },
        macros: { shard: '01', replica: `${side}-${i + 1}` },
        interserverHttpPort: p.interserverHttpPort,
        cluster: { name: cluster, replicaTcpPorts: ports.map((q) => q.tcpPort) },
        ddlQueuePath: `/clickhouse/task_queue/ddl_${side}`,
      },
    };
  };
  const started = await Promise.allSettled(ports.map((_, i) => startClickHouse(optionsOf(i))));
  const replicas = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const stop = async () => {
    await Promise.all(replicas.map((r) => r.stop()));
  };
  const restart = async (index: number) => {
    replicas[index] = await startClickHouse(optionsOf(index));
    return replicas[index];
  };
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) {
    await stop();
    throw failed.reason;
  }
  return { cluster, replicas, restart, stop };
}
