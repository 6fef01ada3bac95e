/** Statements that move a whole table's rows, or its place, on one server. */
import { copySettings, execDdl } from './capabilities';
import { listColumns } from './catalog';
import type { ClickHouseConnection } from './connection';
import { ClickHouseQueryError } from './errors';
import { localEngineClause } from './ddl-replication';
import { qualifiedName, quoteIdentifier, quoteString } from './sql';

/**
 * Creates `twin` (qualified) with the columns, keys and partitioning of `live` (qualified), for the
 * run's own use beside it: staging, restore points, rebuilt tables. The twin of a replicated
 * table is not replicated (`CREATE TABLE … AS` would take the live table's ZooKeeper path, which
 * its replica already holds): partitions still move between the two with `REPLACE PARTITION` and
 * `ATTACH PARTITION … FROM`, and replication carries them to the live table's other replicas.
 * `replicated` says whether `live` is (read from the server when absent), `createTableQuery`
 * is its statement where the caller has it.
 */
export async function createTwin(
  conn: ClickHouseConnection,
  twin: string,
  live: { database: string; table: string; replicated?: boolean; createTableQuery?: string },
): Promise<void> {
  const liveName = qualifiedName(live.database, live.table);
  const local = live.replicated === false ? null : localEngineClause(live.createTableQuery ?? (await createQueryOf(conn, live)));
  await execDdl(conn, `CREATE TABLE ${twin} AS ${liveName}${local === null ? '' : ` ${local}`}`);
}

/** The CREATE statement of a table, as the server keeps it. */
async function createQueryOf(conn: ClickHouseConnection, table: { database: string; table: string }): Promise<string> {
  const [row] = await conn.rows<{ q: string }>(
    `SELECT create_table_query AS q FROM system.tables WHERE database = ${quoteString(table.database)} AND name = ${quoteString(table.table)}`,
  );
  return row?.q ?? '';
}

/**
 * Puts table `replacement` in the place of `live` (both in `database`) and drops the previous
 * `live`, which waits as `retired` meanwhile. In an Atomic database (ClickHouse 20.x on)
 * `EXCHANGE TABLES` swaps them at once, so readers always find a `live`; in an Ordinary one
 * (18.16) both renames go in one statement, which leaves `live` absent for the instant between
 * them.
 */
export async function swapIn(conn: ClickHouseConnection, database: string, live: string, replacement: string, retired: string): Promise<void> {
  const [row] = await conn.rows<{ engine: string }>(`SELECT engine FROM system.databases WHERE name = ${quoteString(database)}`);
  const [liveName, replacementName, retiredName] = [live, replacement, retired].map((t) => qualifiedName(database, t));
  if (row?.engine === 'Atomic') {
    await conn.exec(`EXCHANGE TABLES ${liveName} AND ${replacementName}`);
    await conn.exec(`DROP TABLE ${replacementName}`);
    return;
  }
  await conn.exec(`DROP TABLE IF EXISTS ${retiredName}`);
  await conn.exec(`RENAME TABLE ${liveName} TO ${retiredName}, ${replacementName} TO ${liveName}`);
  await conn.exec(`DROP TABLE ${retiredName}`);
}

/** Copies every stored value of one table into another on the same server, MATERIALIZED columns as stored. */
export async function copyRowsWithin(conn: ClickHouseConnection, from: { database: string; table: string }, to: { database: string; table: string }): Promise<void> {
  const columns = (await listColumns(conn, from.database, from.table)).map((c) => quoteIdentifier(c.name)).join(', ');
  await conn.exec(
    `INSERT INTO ${qualifiedName(to.database, to.table)} (${columns}) SELECT ${columns} FROM ${qualifiedName(from.database, from.table)}`,
    copySettings((await conn.server()).capabilities),
  );
}

/**
 * Empties partitions `ids` of `live` (qualified) with `DROP PARTITION`. On a replicated table
 * 18.16 sends that from a replica that does not lead the table to the
 * leader as user `default` without a password, which fails (code 194) wherever `default` has
 * one: then the partitions are replaced from `twin` (qualified), a twin of the table that lacks
 * them, which any replica may do and replication carries. (The replaced parts then wait on disk
 * for `old_parts_lifetime` with no part covering them; 18.16 refuses to load the table if the
 * replica restarts meanwhile and they are most of its rows. `DROP PARTITION` removes them at once.)
 */
export async function emptyPartitions(conn: ClickHouseConnection, live: string, ids: readonly string[], table: { replicated: boolean; twin: string }): Promise<void> {
  try {
    await alterPartitions(conn, live, ids, (id) => `DROP PARTITION ID ${id}`);
  } catch (err) {
    if (!table.replicated || !forwardedToLeader(err)) throw err;
    await alterPartitions(conn, live, ids, (id) => `REPLACE PARTITION ID ${id} FROM ${table.twin}`);
  }
}

/** The leader refused a statement that a replica forwarded to it (18.16: as `default`, without a password). */
function forwardedToLeader(err: unknown): boolean {
  return err instanceof ClickHouseQueryError && err.code === 194 && /Received from/.test(err.message);
}

/** Partition commands per ALTER statement: few statements, none of them huge. */
const PARTITIONS_PER_ALTER = 100;

/**
 * Runs `command` (such as `REPLACE PARTITION ID '…' FROM …`) for every partition id of `table`
 * (qualified), many commands to one `ALTER`: a metadata operation per statement, not per partition.
 */
export async function alterPartitions(conn: ClickHouseConnection, table: string, ids: readonly string[], command: (quotedId: string) => string): Promise<void> {
  for (let first = 0; first < ids.length; first += PARTITIONS_PER_ALTER) {
    await conn.exec(`ALTER TABLE ${table} ${ids.slice(first, first + PARTITIONS_PER_ALTER).map((id) => command(quoteString(id))).join(', ')}`);
  }
}
