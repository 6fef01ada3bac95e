/**
 * DDL that reaches every server of a cluster (`ON CLUSTER`). The server that receives such a
 * statement waits for each host of the cluster to run it (up to `distributed_ddl_task_timeout`)
 * and answers one row per host: host, port, status (0 when it succeeded), error, hosts remaining,
 * hosts active. 18.16 itself fails the statement with the first host's error ("There was an error
 * on [host:port]: …", with that host's error code); the rows are checked too, so that a host that
 * answered a non-zero status never passes unnoticed.
 */
import { execDdl } from './capabilities';
import type { ClickHouseConnection } from './connection';
import { onClusterClause } from './ddl';
import { ClickHouseQueryError } from './errors';
import { qualifiedName, quoteIdentifier, quoteString } from './sql';

/** One host's answer to a statement ON CLUSTER. */
export interface HostStatus {
  host: string;
  port: string;
  status: number;
  error: string;
}

/** Thrown when a statement ON CLUSTER answered a non-zero status for some of the cluster's hosts. */
export class OnClusterError extends Error {
  constructor(
    readonly cluster: string,
    readonly failed: HostStatus[],
  ) {
    super(`a statement ON CLUSTER ${cluster} failed on ${failed.map((h) => `${h.host}:${h.port} (status ${h.status}: ${h.error})`).join(', ')}`);
    this.name = 'OnClusterError';
  }
}

/** The hosts' answers of a statement ON CLUSTER, from its TabSeparated result. */
export function hostStatuses(text: string): HostStatus[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const [host, port, status, error] = line.split('\t');
      return { host, port, status: Number(status), error: (error ?? '').replace(/\\n/g, ' ').replace(/\\t/g, ' ') };
    });
}

/**
 * Runs a DDL statement (see `execDdl`): on the connected server alone without `cluster`; with it
 * (`sql` then carries its `ON CLUSTER` clause), on every host, whose answers must all be 0.
 */
export async function execDdlOn(conn: ClickHouseConnection, sql: string, cluster: string | undefined): Promise<void> {
  if (cluster === undefined) return execDdl(conn, sql);
  let answer: string;
  try {
    answer = await conn.text(sql);
  } catch (err) {
    throw await withSilentHosts(conn, cluster, err);
  }
  const failed = hostStatuses(answer).filter((h) => h.status !== 0);
  if (failed.length > 0) throw new OnClusterError(cluster, failed);
}

/** ClickHouse's code for a statement ON CLUSTER that some host did not finish in time. */
const DDL_TIMEOUT_CODE = 159;

/**
 * `err`, or where it is a statement ON CLUSTER that hosts did not finish within
 * `distributed_ddl_task_timeout` (18.16 says how many, not which), the same failure naming the
 * hosts of `cluster` missing from the task's `finished` list in ZooKeeper.
 */
async function withSilentHosts(conn: ClickHouseConnection, cluster: string, err: unknown): Promise<unknown> {
  const task = err instanceof ClickHouseQueryError && err.code === DDL_TIMEOUT_CODE ? /Watching task (\S+) is executing longer/.exec(err.message)?.[1] : undefined;
  if (task === undefined) return err;
  try {
    const finished = new Set((await conn.rows<{ name: string }>(`SELECT name FROM system.zookeeper WHERE path = ${quoteString(`${task}/finished`)}`)).map((r) => decodeURIComponent(r.name)));
    const hosts = await conn.rows<{ host: string; port: number }>(`SELECT host_address AS host, port FROM system.clusters WHERE cluster = ${quoteString(cluster)}`);
    const silent = hosts.map((h) => `${h.host}:${h.port}`).filter((h) => !finished.has(h));
    if (silent.length === 0) return err;
    const message = `${(err as Error).message.split('\n')[0]} (the hosts of ${cluster} that did not answer: ${silent.join(', ')})`;
    return new ClickHouseQueryError(message, (err as ClickHouseQueryError).server, DDL_TIMEOUT_CODE, undefined);
  } catch {
    return err;
  }
}

/** `DROP TABLE IF EXISTS` an object (table or view), on every host of `cluster` when one is given. */
export function dropObjectSql(database: string, name: string, cluster: string | undefined): string {
  return `DROP TABLE IF EXISTS ${qualifiedName(database, name)}${onClusterClause(cluster)}`;
}

/** `DROP DATABASE IF EXISTS`, on every host of `cluster` when one is given. */
export function dropDatabaseSql(database: string, cluster: string | undefined): string {
  return `DROP DATABASE IF EXISTS ${quoteIdentifier(database)}${onClusterClause(cluster)}`;
}

/** `CREATE DATABASE` (`IF NOT EXISTS` unless `ifNotExists` is false), on every host of `cluster` when one is given. */
export function createDatabaseSql(database: string, cluster: string | undefined, ifNotExists = true): string {
  return `CREATE DATABASE${ifNotExists ? ' IF NOT EXISTS' : ''} ${quoteIdentifier(database)}${onClusterClause(cluster)}`;
}
