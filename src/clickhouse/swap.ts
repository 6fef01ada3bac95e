import type { ClickHouseConnection } from './connection';
import { qualifiedName, quoteString } from './sql';

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
