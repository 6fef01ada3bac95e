import { randomUUID } from 'node:crypto';
import { CancelledFailure } from '@temporalio/activity';
import type { ClickHouseConnection } from '../clickhouse/connection';
import { createMarkerSql, markerTaken, noMarker, READ_SERVER_ID_SQL, sameServerVerdict, SERVER_MARKER } from '../clickhouse/identity';
import type { EndpointRef } from '../workflows/types';
import { withConnections, type ActivityDeps } from './context';

/** What the identity activity found: the target's id, and whether the source is that same server. */
export interface ServerIdentity {
  /** The random id in the target's marker (created by the first run that reached the target). */
  serverId: string;
  /** The source reads the target's id: they are one server under two names. */
  sameServer: boolean;
}

/** How long a reader waits for the marker's creator to fill the table it created. */
const MARKER_FILL_MS = 10_000;

/** Which server a target is, asked of the server itself (see src/clickhouse/identity.ts). */
export function createIdentityActivities(deps: ActivityDeps) {
  return {
    /**
     * Reads the target's id, creating its marker on first contact, and asks the source whether
     * it holds the same id. Nothing is written on the source (its user may be read-only). A source
     * that cannot be read (no permission, not reachable, outside the allowlist) is compared by URL
     * origin instead; the steps that need the source report its failure themselves.
     */
    async identifyServers(req: { target: EndpointRef; source?: EndpointRef }): Promise<ServerIdentity> {
      const serverId = await withConnections(deps, { target: req.target }, ({ target }) => targetId(target));
      if (!req.source) return { serverId, sameServer: false };
      const sourceRead = await withConnections(deps, { source: req.source }, ({ source }) => readId(source)).then(
        (id) => ({ id }),
        (error: unknown) => {
          if (error instanceof CancelledFailure) throw error;
          return { error };
        },
      );
      return { serverId, sameServer: sameServerVerdict(serverId, sourceRead, { source: req.source.url, target: req.target.url }) };
    },
  };
}

/** The id in a server's marker; null while it is empty (a server without one fails the read: see `noMarker`). */
async function readId(conn: ClickHouseConnection): Promise<string | null> {
  const [row] = await conn.rows<{ id: string }>(READ_SERVER_ID_SQL);
  return row?.id ?? null;
}

/**
 * The target's id: read from its marker, or created with a fresh random id. Of runs that race
 * to create it, one wins and the others read its id, waiting while the table is still empty.
 */
async function targetId(conn: ClickHouseConnection): Promise<string> {
  const deadline = Date.now() + MARKER_FILL_MS;
  for (;;) {
    const found = await readId(conn).catch((err: unknown) => {
      if (noMarker(err)) return undefined;
      throw err;
    });
    if (found) return found;
    if (found === undefined) {
      const id = randomUUID();
      const created = await createMarker(conn, id);
      if (created) return id;
    }
    if (Date.now() > deadline) throw new Error(`the server's identity marker ${SERVER_MARKER} stays empty (its creator stopped half-way): drop it, and the next run creates it again`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Creates the marker holding `id`; false when another caller created it first. */
async function createMarker(conn: ClickHouseConnection, id: string): Promise<boolean> {
  const [database, table] = createMarkerSql(id);
  await conn.exec(database);
  try {
    await conn.exec(table);
    return true;
  } catch (err) {
    if (markerTaken(err)) return false;
    throw err;
  }
}
