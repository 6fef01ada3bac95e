/**
 * Replicated engines in CREATE statements: `Replicated*MergeTree('<ZooKeeper path>', '<replica>',
 * …)`. Read by tokens (./sql-lexer, ./engine-args), never by a grammar of ours. Two rewrites:
 * - for the target, the table's own ZooKeeper path (from a template) and `{replica}`, so that a
 *   table never joins, or collides with, the source's replicas;
 * - for the run's own tables beside a replicated one (staging, restore points, trial copies), the
 *   same engine without replication, so that they never touch ZooKeeper.
 */
import { engineCalls, rebuild, type EngineCall } from './engine-args';
import { quoteIdentifier, quoteString, readStringLiteral } from './sql';
import { identifierName, isSignificant, StatementSyntaxError, tokenize, type Token } from './sql-lexer';

/** The template of a target table's ZooKeeper path when neither the run nor the target names one. */
export const DEFAULT_ZOOKEEPER_PATH = '/clickhouse/tables/{shard}/{database}/{table}';
/** The replica name of a target table: the macro each target server expands to its own name. */
export const REPLICA_MACRO = '{replica}';

/** The replicated engine of a CREATE statement, with its ZooKeeper path and replica name as written. */
export interface ReplicatedEngine {
  /** The engine, such as `ReplicatedReplacingMergeTree`. */
  engine: string;
  /** The engine without replication, such as `ReplacingMergeTree`. */
  localEngine: string;
  zooKeeperPath: string;
  replica: string;
}

function significant(ddl: string): Token[] | null {
  try {
    return tokenize(ddl).filter(isSignificant);
  } catch (err) {
    if (err instanceof StatementSyntaxError) return null;
    throw err;
  }
}

/** The replicated engine call of a statement: `Replicated…MergeTree` with two string arguments first. */
function replicatedCall(tokens: Token[]): EngineCall | undefined {
  return engineCalls(tokens).find(
    (call) => /^Replicated\w*MergeTree$/.test(call.engine) && call.args.length >= 2 && call.args[0].length === 1 && call.args[1].length === 1 && call.args[0][0].kind === 'string' && call.args[1][0].kind === 'string',
  );
}

/** True when `engine` (as `system.tables` names it) keeps its parts in step through ZooKeeper. */
export function isReplicatedEngine(engine: string): boolean {
  return /^Replicated\w*MergeTree$/.test(engine);
}

/** The replicated engine of `ddl`, or null when its engine is not replicated (or cannot be read). */
export function replicatedEngineOf(ddl: string): ReplicatedEngine | null {
  const tokens = significant(ddl);
  const call = tokens && replicatedCall(tokens);
  if (!call) return null;
  const text = (arg: Token[]) => readStringLiteral(arg[0].text)?.value ?? '';
  return { engine: call.engine, localEngine: call.engine.replace(/^Replicated/, ''), zooKeeperPath: text(call.args[0]), replica: text(call.args[1]) };
}

/**
 * `ddl` with its replicated engine's ZooKeeper path and replica name replaced (`path` and
 * `replica` are values, quoted here); `ddl` as it is when its engine is not replicated.
 */
export function withZooKeeperPath(ddl: string, path: string, replica = REPLICA_MACRO): string {
  const tokens = significant(ddl);
  const call = tokens && replicatedCall(tokens);
  if (!call) return ddl;
  return rebuild(ddl, new Map([[call.args[0][0], quoteString(path)], [call.args[1][0], quoteString(replica)]]));
}

/**
 * The engine clause (`ENGINE = … ` to the end of the statement) of `ddl` without replication:
 * `ReplicatedMergeTree('/p', 'r', d, k, 8192) PARTITION BY …` becomes `MergeTree(d, k, 8192)
 * PARTITION BY …`, keys and settings unchanged. Null when the engine is not replicated. With it,
 * `CREATE TABLE twin AS live ENGINE = <clause>` makes a table of the same columns, keys and
 * partitions as `live` (so `REPLACE PARTITION … FROM twin` is allowed) that ZooKeeper never sees.
 */
export function localEngineClause(ddl: string): string | null {
  return localEngineAt(ddl)?.clause ?? null;
}

/**
 * `ddl` with its engine without replication (see {@link localEngineClause}), for the run's
 * scratch copies of a statement (configure's probe, the trial copy); `ddl` as it is otherwise.
 */
export function withoutReplication(ddl: string): string {
  const local = localEngineAt(ddl);
  return local === null ? ddl : ddl.slice(0, local.start) + local.clause;
}

/** The local engine clause of `ddl` and where its `ENGINE` keyword starts. */
function localEngineAt(ddl: string): { start: number; clause: string } | null {
  const tokens = significant(ddl);
  const call = tokens && replicatedCall(tokens);
  if (!call) return null;
  const rest = call.args.slice(2);
  const start = tokens[tokens.indexOf(call.name) - 2].start;
  const args = rest.length === 0 ? '' : ddl.slice(rest[0][0].start, call.close ? call.close.start : ddl.length).trim();
  const tail = call.close ? ddl.slice(call.close.end) : '';
  return { start, clause: `${ddl.slice(start, call.name.start)}${call.engine.replace(/^Replicated/, '')}(${args})${tail}` };
}

/**
 * A path template with `{database}` and `{table}` put in as literal names (18.16 expands only the
 * macros of its config, such as `{shard}`; those are left for the server).
 */
export function expandPathTemplate(template: string, names: { database: string; table: string }): string {
  return template.replace(/\{database\}/g, names.database).replace(/\{table\}/g, names.table);
}

/**
 * The path template a target's tables follow, read from one of its replicated tables: its path
 * with its own database and table names turned back into `{database}` and `{table}`. Null when
 * the path does not name both (a template cannot be told from it).
 */
export function templateOfPath(path: string, names: { database: string; table: string }): string | null {
  const segments = path.split('/');
  const table = segments.lastIndexOf(names.table);
  const database = segments.lastIndexOf(names.database, table - 1);
  if (table === -1 || database === -1) return null;
  segments[table] = '{table}';
  segments[database] = '{database}';
  return segments.join('/');
}

/** The first argument of a `Distributed(cluster, database, table, …)` engine, when it is one name or string. */
function distributedClusterArgument(tokens: Token[]): Token | undefined {
  const call = engineCalls(tokens).find((c) => c.engine === 'Distributed');
  const arg = call?.args[0];
  return arg?.length === 1 && ['word', 'quoted', 'string'].includes(arg[0].kind) ? arg[0] : undefined;
}

/** The cluster a Distributed table reads (its engine's first argument); null when not Distributed, or not readable. */
export function distributedClusterOf(ddl: string): string | null {
  const tokens = significant(ddl);
  const arg = tokens && distributedClusterArgument(tokens);
  if (!arg) return null;
  return arg.kind === 'string' ? (readStringLiteral(arg.text)?.value ?? null) : identifierName(arg);
}

/**
 * `ddl` reading `cluster` where its `Distributed(…)` engine names a cluster, written as it was
 * (a string stays a string); `ddl` as it is when it is not a Distributed table.
 */
export function withDistributedCluster(ddl: string, cluster: string): string {
  const tokens = significant(ddl);
  const arg = tokens && distributedClusterArgument(tokens);
  if (!arg) return ddl;
  return rebuild(ddl, new Map([[arg, arg.kind === 'string' ? quoteString(cluster) : quoteIdentifier(cluster)]]));
}
