import type { ClickHouseConnection, ConnectionSettings } from './connection';
import { ClickHouseQueryError } from './errors';

/** Settings whose presence on a server changes how the migrator talks to it. */
const PROBED_SETTINGS = [
  'max_insert_threads',
  'insert_allow_materialized_columns',
  'optimize_on_insert',
  'allow_experimental_low_cardinality_type',
  'log_query_threads',
  'max_network_bandwidth',
  'insert_deduplicate',
];

/** What a server can do, read from its own catalogue rather than inferred from its version. */
export interface Capabilities {
  /** `system.disks` exists (19.15+): free space can be read. */
  systemDisks: boolean;
  /** `remote()` table function: the server can pull from another server. */
  remote: boolean;
  /** `remoteSecure()` table function (19.1+): pull over TLS. */
  remoteSecure: boolean;
  /** `max_insert_threads` setting (20.2+). */
  maxInsertThreads: boolean;
  /** `insert_allow_materialized_columns` setting: the stored values of MATERIALIZED columns can be inserted as they are. */
  insertMaterialized: boolean;
  /** `optimize_on_insert` setting (20.x+): inserts into collapsing engines would merge rows unless it is off. */
  optimizeOnInsert: boolean;
  /** `allow_experimental_low_cardinality_type` setting (18.x–19.x): LowCardinality columns need it to be created. */
  lowCardinalityFlag: boolean;
  /** `log_query_threads` setting: the server may keep `system.query_thread_log`, which holds each statement's text too. */
  logQueryThreads: boolean;
  /**
   * `max_network_bandwidth` setting: the server throttles a query's native-protocol traffic. On
   * 18.16 it limits the compressed bytes a `remote()` read receives, not the HTTP interface.
   */
  networkBandwidth: boolean;
  /**
   * `insert_deduplicate` setting: a replicated table drops an inserted block identical to a recent
   * one unless the INSERT turns it off; a copy turns it off, so a re-copied block still lands.
   */
  insertDeduplicate: boolean;
  /**
   * This user may keep one statement out of the query log ({@link unloggedSettings} as request
   * settings). A read-only profile refuses it, and so do settings constraints (newer servers).
   */
  unloggedStatements: boolean;
}

/** A server's identity and capabilities. */
export interface ServerInfo {
  version: string;
  /** Major and minor, for display and ordering only; branch on {@link Capabilities}. */
  major: number;
  minor: number;
  capabilities: Capabilities;
}

/** Reads the version and capabilities of the server behind `conn`. */
export async function detectServer(conn: ClickHouseConnection): Promise<ServerInfo> {
  const [[{ version }], systemTables, tableFunctions, settings] = await Promise.all([
    conn.rows<{ version: string }>('SELECT version() AS version'),
    conn.rows<{ name: string }>("SELECT name FROM system.tables WHERE database = 'system'"),
    conn.rows<{ name: string }>('SELECT name FROM system.table_functions'),
    conn.rows<{ name: string }>(`SELECT name FROM system.settings WHERE name IN (${PROBED_SETTINGS.map((n) => `'${n}'`).join(', ')})`),
  ]);
  const has = (list: { name: string }[], name: string) => list.some((row) => row.name === name);
  const [major, minor] = version.split('.').map(Number);
  const logQueryThreads = has(settings, 'log_query_threads');
  return {
    version,
    major,
    minor,
    capabilities: {
      systemDisks: has(systemTables, 'disks'),
      remote: has(tableFunctions, 'remote'),
      remoteSecure: has(tableFunctions, 'remoteSecure'),
      maxInsertThreads: has(settings, 'max_insert_threads'),
      insertMaterialized: has(settings, 'insert_allow_materialized_columns'),
      optimizeOnInsert: has(settings, 'optimize_on_insert'),
      lowCardinalityFlag: has(settings, 'allow_experimental_low_cardinality_type'),
      logQueryThreads,
      networkBandwidth: has(settings, 'max_network_bandwidth'),
      insertDeduplicate: has(settings, 'insert_deduplicate'),
      unloggedStatements: await acceptsSettings(conn, unloggedSettings({ logQueryThreads })),
    },
  };
}

/**
 * Request settings that keep one statement out of `system.query_log` and `system.query_thread_log`,
 * whatever the user's profile says. They must travel with the request: on 18.16 a `SETTINGS`
 * clause inside the statement comes too late, the statement is logged before it applies.
 */
export function unloggedSettings(capabilities: Pick<Capabilities, 'logQueryThreads'>): ConnectionSettings {
  return { log_queries: 0, ...(capabilities.logQueryThreads ? { log_query_threads: 0 } : {}) };
}

/** Whether the server runs a statement with `settings` (a refusal is the server's answer; a lost connection is thrown). */
async function acceptsSettings(conn: ClickHouseConnection, settings: ConnectionSettings): Promise<boolean> {
  try {
    await conn.rows('SELECT 1 AS ok', settings);
    return true;
  } catch (err) {
    if (err instanceof ClickHouseQueryError && err.code !== undefined) return false;
    throw err;
  }
}

/**
 * Settings for CREATE statements: objects the source holds are created as they are, so a type
 * that an older server keeps behind a flag (LowCardinality) is allowed where the flag exists.
 */
export function ddlSettings(capabilities: Capabilities): ConnectionSettings {
  return capabilities.lowCardinalityFlag ? { allow_experimental_low_cardinality_type: 1 } : {};
}

/**
 * Runs a CREATE (or other DDL) statement; where the server refuses it and has {@link ddlSettings}
 * to offer (a LowCardinality column on a server that keeps the type behind a flag), once more
 * with them. The common statement costs one round trip and no capability detection.
 */
export async function execDdl(conn: ClickHouseConnection, sql: string): Promise<void> {
  try {
    await conn.exec(sql);
  } catch (err) {
    const settings = ddlSettings((await conn.server()).capabilities);
    if (Object.keys(settings).length === 0) throw err;
    await conn.exec(sql, settings);
  }
}

/**
 * Settings for the INSERTs that copy rows: MATERIALIZED columns take the source's stored values,
 * no engine merges rows while they are inserted, and no replicated table drops a block it saw
 * recently (a retried copy, or a sync pass, inserts the same blocks again on purpose), so the
 * target receives exactly the rows the source holds.
 */
export function copySettings(capabilities: Capabilities): ConnectionSettings {
  return {
    ...(capabilities.insertDeduplicate ? { insert_deduplicate: 0 } : {}),
    ...(capabilities.insertMaterialized ? { insert_allow_materialized_columns: 1 } : {}),
    ...(capabilities.optimizeOnInsert ? { optimize_on_insert: 0 } : {}),
  };
}
