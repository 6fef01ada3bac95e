import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { httpOk, startProcess, stopProcess, waitUntil } from './processes';

/** A ClickHouse server this process started. */
export interface LocalClickHouse {
  url: string;
  httpPort: number;
  tcpPort: number;
  username: string;
  password: string;
  logFile: string;
  stop(): Promise<void>;
}

/** How to run the ClickHouse server here: `CLICKHOUSE_SERVER_PATH`, `clickhouse-server`, or `clickhouse server`. */
export function clickHouseBinary(): { command: string; args: string[] } {
  if (process.env.CLICKHOUSE_SERVER_PATH) return { command: process.env.CLICKHOUSE_SERVER_PATH, args: [] };
  for (const path of ['/usr/bin/clickhouse-server', '/usr/sbin/clickhouse-server', '/usr/local/bin/clickhouse-server']) {
    if (existsSync(path)) return { command: path, args: [] };
  }
  for (const [name, args] of [['clickhouse-server', []], ['clickhouse', ['server']]] as const) {
    try {
      return { command: execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim(), args: [...args] };
    } catch {
      // not on PATH: try the next name
    }
  }
  throw new Error('no ClickHouse server found: run `bash scripts/ensure-tools.sh`, or set CLICKHOUSE_SERVER_PATH');
}

/** A one-shard cluster of the server itself, so that Distributed tables can be created and read. */
export const LOCAL_CLUSTER = 'migrator_local';
/**
 * A cluster that only the server called `name` has (`source_cluster`, `target_cluster`): a
 * Distributed table over it is what a target with other clusters refuses to create.
 */
export function ownCluster(name: string): string {
  return `${name}_cluster`;
}
/** A `graphite_rollup` section, so that GraphiteMergeTree tables can be created. */
export const GRAPHITE_ROLLUP = 'graphite_rollup';

function xmlText(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** One replica of a replicated set: its ZooKeeper, its macros and the cluster of its set. */
export interface ReplicaConfig {
  zooKeeper: { host: string; port: number };
  /** `{shard}` and `{replica}` as this server expands them. */
  macros: { shard: string; replica: string };
  /** Replicas fetch parts from each other over HTTP: each server needs a port of its own. */
  interserverHttpPort: number;
  /** A cluster of one shard: the native ports of every replica of the set, this one included. */
  cluster: { name: string; replicaTcpPorts: number[] };
  /** Where `ON CLUSTER` statements queue in ZooKeeper, the same for every replica of the set. */
  ddlQueuePath: string;
}

/** The config of a replica: ZooKeeper, macros, interserver port and the queue of `ON CLUSTER`. */
function replicaSections(replica: ReplicaConfig): string {
  return `  <interserver_http_host>127.0.0.1</interserver_http_host>
  <interserver_http_port>${replica.interserverHttpPort}</interserver_http_port>
  <zookeeper><node><host>${xmlText(replica.zooKeeper.host)}</host><port>${replica.zooKeeper.port}</port></node><session_timeout_ms>30000</session_timeout_ms></zookeeper>
  <macros><shard>${xmlText(replica.macros.shard)}</shard><replica>${xmlText(replica.macros.replica)}</replica></macros>
  <distributed_ddl><path>${xmlText(replica.ddlQueuePath)}</path></distributed_ddl>
`;
}

/** A user besides the main one, for tests of what other users may do and see. */
export interface ExtraClickHouseUser {
  name: string;
  password: string;
  /** `readonly` is the profile with `readonly = 1`. */
  profile: 'default' | 'readonly';
}

/**
 * Writes a config for one server in `dir` (data, logs and users all inside it) and starts it.
 * The user `username` has `password` and may connect from loopback only, as may any of
 * `extraUsers`. Starting again on the same `dir` keeps the data.
 */
export async function startClickHouse(options: {
  name: string;
  dir: string;
  httpPort: number;
  tcpPort: number;
  username: string;
  password: string;
  /** Settings added to every profile, such as `{ log_queries: 1 }`. @default none */
  profileSettings?: Record<string, string | number>;
  /** Keep `system.query_log` and `system.query_thread_log`, flushed every second. @default false (the server's own default) */
  queryLog?: boolean;
  /** More users, each with its own password and profile. @default none */
  extraUsers?: ExtraClickHouseUser[];
  /** Makes the server a replica of a replicated set. @default a server alone */
  replica?: ReplicaConfig;
}): Promise<LocalClickHouse> {
  const { dir, httpPort, tcpPort } = options;
  const profileSettings = Object.entries(options.profileSettings ?? {})
    .map(([name, value]) => `<${name}>${xmlText(String(value))}</${name}>`)
    .join('');
  const queryLog = options.queryLog
    ? ['query_log', 'query_thread_log']
        .map((table) => `  <${table}><database>system</database><table>${table}</table><flush_interval_milliseconds>1000</flush_interval_milliseconds></${table}>\n`)
        .join('')
    : '';
  const remoteReplica = (port: number) =>
    `<replica><host>127.0.0.1</host><port>${port}</port><user>${xmlText(options.username)}</user><password>${xmlText(options.password)}</password></replica>`;
  const replicaCluster = options.replica
    ? `    <${options.replica.cluster.name}>
      <shard><internal_replication>true</internal_replication>${options.replica.cluster.replicaTcpPorts.map(remoteReplica).join('')}</shard>
    </${options.replica.cluster.name}>
`
    : '';
  const user = (name: string, password: string, profile: string) => `    <${name}>
      <password>${xmlText(password)}</password>
      <networks><ip>::1</ip><ip>127.0.0.1</ip></networks>
      <profile>${profile}</profile>
      <quota>default</quota>
    </${name}>
`;
  for (const sub of ['data', 'tmp', 'user_files', 'format_schemas', 'logs']) mkdirSync(join(dir, sub), { recursive: true });
  const logFile = join(dir, 'logs', 'stdout.log');
  writeFileSync(
    join(dir, 'config.xml'),
    `<yandex>
  <logger>
    <level>warning</level>
    <log>${xmlText(join(dir, 'logs', 'server.log'))}</log>
    <errorlog>${xmlText(join(dir, 'logs', 'error.log'))}</errorlog>
    <size>20M</size>
    <count>2</count>
  </logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>${httpPort}</http_port>
  <tcp_port>${tcpPort}</tcp_port>
  <path>${xmlText(join(dir, 'data'))}/</path>
  <tmp_path>${xmlText(join(dir, 'tmp'))}/</tmp_path>
  <user_files_path>${xmlText(join(dir, 'user_files'))}/</user_files_path>
  <format_schema_path>${xmlText(join(dir, 'format_schemas'))}/</format_schema_path>
  <mark_cache_size>268435456</mark_cache_size>
  <uncompressed_cache_size>268435456</uncompressed_cache_size>
  <users_config>${xmlText(join(dir, 'users.xml'))}</users_config>
  <remote_servers>
    <${LOCAL_CLUSTER}>
      <shard><replica><host>127.0.0.1</host><port>${tcpPort}</port><user>${xmlText(options.username)}</user><password>${xmlText(options.password)}</password></replica></shard>
    </${LOCAL_CLUSTER}>
    <${ownCluster(options.name)}>
      <shard><replica><host>127.0.0.1</host><port>${tcpPort}</port><user>${xmlText(options.username)}</user><password>${xmlText(options.password)}</password></replica></shard>
    </${ownCluster(options.name)}>
${replicaCluster}  </remote_servers>
${options.replica ? replicaSections(options.replica) : ''}${queryLog}  <${GRAPHITE_ROLLUP}>
    <path_column_name>Path</path_column_name>
    <time_column_name>Time</time_column_name>
    <value_column_name>Value</value_column_name>
    <version_column_name>Timestamp</version_column_name>
    <default><function>avg</function><retention><age>0</age><precision>60</precision></retention></default>
  </${GRAPHITE_ROLLUP}>
</yandex>
`,
  );
  writeFileSync(
    join(dir, 'users.xml'),
    `<yandex>
  <profiles>
    <default><max_memory_usage>4000000000</max_memory_usage>${profileSettings}</default>
    <readonly><readonly>1</readonly>${profileSettings}</readonly>
  </profiles>
  <users>
${[user(options.username, options.password, 'default'), ...(options.extraUsers ?? []).map((u) => user(u.name, u.password, u.profile))].join('')}  </users>
  <quotas>
    <default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default>
  </quotas>
</yandex>
`,
  );
  const binary = clickHouseBinary();
  const child = startProcess(binary.command, [...binary.args, `--config-file=${join(dir, 'config.xml')}`], { logFile, cwd: dir });
  const url = `http://127.0.0.1:${httpPort}`;
  const ready = () => httpOk(`${url}/ping`);
  try {
    await waitUntil(ready, { timeoutMs: 60_000, what: `ClickHouse ${options.name} on ${url}`, child, logFile: join(dir, 'logs', 'error.log') });
  } catch (err) {
    await stopProcess(child, 2_000);
    throw err;
  }
  return { url, httpPort, tcpPort, username: options.username, password: options.password, logFile, stop: () => stopProcess(child, 20_000) };
}
