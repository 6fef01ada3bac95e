/**
 * The source's replication while a copy reads it: the run never stops nor slows it, and measures
 * it instead. Every few seconds a light query (`system.replicas` without its ZooKeeper columns, and
 * the other replicas of a few tables from ZooKeeper) takes the worst delay and queue of the
 * replicas of the copied tables; the copy reports the maximum (see `state.sourceReplication`).
 */
import type { ClickHouseConnection } from '../clickhouse/connection';
import { peersOf, replicaLag } from '../clickhouse/topology';
import { sourceDatabaseOf } from '../workflows/database-map';
import { tableKey } from '../workflows/table-key';
import type { CopyUnit, ReplicationSample } from '../workflows/types';

/** How often a copy samples the source's replication. */
export const SAMPLE_EVERY_MS = 2_000;
/** Tables whose other replicas a sample reads from ZooKeeper, at most: a read per replica each. */
const PEER_TABLES_SAMPLED = 5;

/** The worst delay and queue of the source's replicas of `tables` now. */
async function sampleOnce(source: ClickHouseConnection, databases: readonly string[], tables: ReadonlySet<string>): Promise<{ delay: number; queue: number }> {
  const replicas = (await replicaLag(source, databases)).filter((r) => tables.has(tableKey(r.database, r.table)));
  const peers = [];
  for (const table of replicas.slice(0, PEER_TABLES_SAMPLED)) peers.push(...(await peersOf(source, table).catch(() => [])));
  const all = [...replicas, ...peers];
  return { delay: Math.max(0, ...all.map((r) => r.delaySeconds)), queue: Math.max(0, ...all.map((r) => r.queueSize)) };
}

/**
 * Runs `body` (a copy of `units`) while sampling the source's replicas of its replicated tables:
 * once at the start, every {@link SAMPLE_EVERY_MS}, and once at the end. A sample that fails is
 * left out: the copy is what matters. Without a replicated table, `body` alone.
 */
export async function whileSampling<T>(source: ClickHouseConnection, units: readonly CopyUnit[], body: () => Promise<T>): Promise<{ result: T; sample?: ReplicationSample }> {
  const replicated = units.filter((u) => u.replicated);
  if (replicated.length === 0) return { result: await body() };
  const databases = [...new Set(replicated.map(sourceDatabaseOf))];
  const tables = new Set(replicated.map((u) => tableKey(sourceDatabaseOf(u), u.table)));
  const seen: ReplicationSample = { maxDelaySeconds: 0, maxQueue: 0, samples: 0 };
  let inFlight: Promise<void> | null = null;
  const sample = () => {
    inFlight ??= sampleOnce(source, databases, tables)
      .then(({ delay, queue }) => {
        seen.maxDelaySeconds = Math.max(seen.maxDelaySeconds, delay);
        seen.maxQueue = Math.max(seen.maxQueue, queue);
        seen.samples++;
      }, () => undefined)
      .finally(() => {
        inFlight = null;
      });
    return inFlight;
  };
  void sample();
  const timer = setInterval(() => void sample(), SAMPLE_EVERY_MS);
  try {
    const result = await body();
    clearInterval(timer);
    await inFlight;
    await sample();
    return { result, sample: seen };
  } finally {
    clearInterval(timer);
  }
}
