/**
 * Which server an endpoint is, asked of the server itself: a marker holding a random id in the
 * migrator's own database on it. URLs cannot tell (`localhost` and `127.0.0.1`, a DNS alias, two
 * spellings of one IPv6 address), the marker can. The statements and judgements here are pure;
 * the activity in src/activities/identity.ts sends them.
 */
import { IDENTITY_DATABASE, IDENTITY_TABLE } from './scratch';
import { ClickHouseQueryError } from './errors';
import { qualifiedName, quoteIdentifier, quoteString } from './sql';

/** The marker table, quoted for SQL. */
export const SERVER_MARKER = qualifiedName(IDENTITY_DATABASE, IDENTITY_TABLE);

/** Reads the server's id (no row while the marker's creator has not yet filled it). */
export const READ_SERVER_ID_SQL = `SELECT id FROM ${SERVER_MARKER} LIMIT 1`;

/**
 * Creates the marker with `id` in it. Without `IF NOT EXISTS` on purpose: of any number of
 * callers exactly one creates the table, the others are refused (`TableAlreadyExists`) and read
 * the winner's id. The table may be seen empty for a moment between its creation and its row.
 */
export function createMarkerSql(id: string): string[] {
  return [`CREATE DATABASE IF NOT EXISTS ${quoteIdentifier(IDENTITY_DATABASE)}`, `CREATE TABLE ${SERVER_MARKER} ENGINE = Log AS SELECT ${quoteString(id)} AS id`];
}

const UNKNOWN_TABLE = 60;
const UNKNOWN_DATABASE = 81;
const TABLE_ALREADY_EXISTS = 57;

/** Whether a read of the marker failed because the server has none (yet). */
export function noMarker(err: unknown): boolean {
  return err instanceof ClickHouseQueryError && (err.code === UNKNOWN_TABLE || err.code === UNKNOWN_DATABASE);
}

/** Whether creating the marker failed because another caller created it first. */
export function markerTaken(err: unknown): boolean {
  return err instanceof ClickHouseQueryError && err.code === TABLE_ALREADY_EXISTS;
}

/**
 * How the source's read of the marker decides whether source and target are one server: the
 * target's id there means the same server; no marker, or another id (the source was the target
 * of an earlier run), means two servers; a read that failed otherwise (no permission, a server
 * that does not answer) decides nothing, and the URLs are compared instead ({@link sameOrigin}).
 */
export function sameServerVerdict(targetId: string, sourceRead: { id: string | null } | { error: unknown }, urls: { source: string; target: string }): boolean {
  if ('id' in sourceRead) return sourceRead.id === targetId;
  if (noMarker(sourceRead.error)) return false;
  return sameOrigin(urls.source, urls.target);
}

/** Whether two URLs name the same scheme, host and port (as written: no name is resolved). */
export function sameOrigin(a: string, b: string): boolean {
  try {
    return new URL(a).origin === new URL(b).origin;
  } catch {
    return false;
  }
}
