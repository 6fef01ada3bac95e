import type { ClickHouseConnection } from '../clickhouse/connection';
import { quoteString } from '../clickhouse/sql';
import type { EndpointRef } from '../workflows/types';

/** Well-known HTTP ports and the native ports that usually sit beside them. */
const NATIVE_PORT_BESIDE: Record<string, number> = { '8123': 9000, '8443': 9440 };

export type RemoteSource =
  | { ok: true; fn: 'remote' | 'remoteSecure'; address: string; table(database: string, table: string): string }
  | { ok: false; reason: string };

/**
 * How the target would name a source table in a server-to-server copy: `remote()` (or
 * `remoteSecure()` for an https source) at the source's native address, with its credentials.
 */
export async function remoteSource(
  source: ClickHouseConnection,
  target: ClickHouseConnection,
  ref: EndpointRef,
): Promise<RemoteSource> {
  const url = new URL(ref.url);
  const secure = url.protocol === 'https:';
  const fn = secure ? 'remoteSecure' : 'remote';
  const { capabilities } = await target.server();
  if (!(secure ? capabilities.remoteSecure : capabilities.remote)) {
    return { ok: false, reason: `the target (ClickHouse ${(await target.server()).version}) has no ${fn}() table function` };
  }
  const port = ref.nativePort ?? (await askNativePort(source, secure)) ?? NATIVE_PORT_BESIDE[url.port || (secure ? '443' : '80')];
  if (!port) return { ok: false, reason: `the source's native port is unknown; pass "nativePort" with the source to copy server to server` };
  const address = `${url.hostname}:${port}`;
  const { username, password } = source.endpoint;
  return {
    ok: true,
    fn,
    address,
    table: (database, table) =>
      `${fn}(${[address, database, table, username, password].map(quoteString).join(', ')})`,
  };
}

/** The source's own idea of its native port, where the server can say (`getServerPort`, 21.x+). */
async function askNativePort(source: ClickHouseConnection, secure: boolean): Promise<number | undefined> {
  const [known] = await source.rows<{ name: string }>("SELECT name FROM system.functions WHERE name = 'getServerPort'");
  if (!known) return undefined;
  try {
    const [row] = await source.rows<{ port: number | string }>(`SELECT getServerPort(${quoteString(secure ? 'tcp_port_secure' : 'tcp_port')}) AS port`);
    return Number(row.port);
  } catch {
    return undefined;
  }
}
