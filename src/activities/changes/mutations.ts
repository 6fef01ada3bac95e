/** The mutations a statement starts (`ALTER … UPDATE/DELETE`, type changes on newer servers), read from `system.mutations`. */
import type { ClickHouseConnection } from '../../clickhouse/connection';
import { quoteString } from '../../clickhouse/sql';
import type { MutationProgress } from '../../workflows/changes-types';

/** A mutation: its table and id (ids are per table on servers without replication). */
export interface MutationRef {
  table: string;
  mutationId: string;
}

/** Every mutation of `database` the server knows, done or not, as `table NUL id` keys. */
export async function mutationsOf(conn: ClickHouseConnection, database: string): Promise<Set<string>> {
  const rows = await conn.rows<{ table: string; mutation_id: string }>(`SELECT table, mutation_id FROM system.mutations WHERE database = ${quoteString(database)}`);
  return new Set(rows.map((r) => mutationKey({ table: r.table, mutationId: r.mutation_id })));
}

function mutationKey(m: MutationRef): string {
  return `${m.table}\u0000${m.mutationId}`;
}

export function parseMutationKey(key: string): MutationRef {
  const [table, mutationId] = key.split('\u0000');
  return { table, mutationId };
}

/** Whether this server's `system.mutations` says why a mutation fails (`latest_fail_reason`, 20.x on), per server. */
const failReasons = new Map<string, Promise<boolean>>();

function saysWhy(conn: ClickHouseConnection): Promise<boolean> {
  let known = failReasons.get(conn.endpoint.url);
  if (!known) {
    known = conn
      .rows<{ n: string }>(`SELECT count() AS n FROM system.columns WHERE database = 'system' AND table = 'mutations' AND name = 'latest_fail_reason'`)
      .then((rows) => Number(rows[0]?.n ?? 0) > 0);
    failReasons.set(conn.endpoint.url, known);
  }
  return known;
}

/** How far `mutations` of `database` have got: parts left, how many still run, and the first that fails. */
export async function mutationProgress(conn: ClickHouseConnection, database: string, mutations: readonly MutationRef[]): Promise<MutationProgress> {
  const failuresKnown = await saysWhy(conn);
  if (mutations.length === 0) return { partsLeft: 0, running: 0, failed: null, failuresKnown };
  const reason = failuresKnown ? 'latest_fail_reason' : "''";
  const rows = await conn.rows<{ table: string; mutation_id: string; parts_to_do: string; is_done: string | number; reason: string }>(
    `SELECT table, mutation_id, parts_to_do, is_done, ${reason} AS reason FROM system.mutations
     WHERE database = ${quoteString(database)} AND (${mutations.map((m) => `(table = ${quoteString(m.table)} AND mutation_id = ${quoteString(m.mutationId)})`).join(' OR ')})`,
  );
  const running = rows.filter((r) => Number(r.is_done) !== 1);
  const failing = running.find((r) => r.reason !== '');
  return {
    partsLeft: running.reduce((n, r) => n + Number(r.parts_to_do), 0),
    running: running.length,
    failed: failing ? { table: failing.table, mutationId: failing.mutation_id, reason: failing.reason } : null,
    failuresKnown,
  };
}

/** Stops the unfinished mutations of `tables` where the server can (`KILL MUTATION`, 19.x on); older servers lose them with the table a rollback drops. */
export async function killMutations(conn: ClickHouseConnection, database: string, tables: readonly string[]): Promise<void> {
  if (tables.length === 0) return;
  await conn
    .exec(`KILL MUTATION WHERE database = ${quoteString(database)} AND table IN (${tables.map(quoteString).join(', ')}) SYNC`)
    .catch(() => undefined);
}

