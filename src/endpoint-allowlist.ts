/**
 * Which ClickHouse servers a source or a target may name: `MIGRATOR_ENDPOINT_ALLOWLIST`, a
 * comma-separated list of `host:port`, `host:*` or `*`. The API refuses a request outside it
 * (400), and the worker refuses to connect (so a workflow started by another client is held to
 * the same list). A host is compared as written, lower-cased; IPv6 hosts in brackets. The
 * servers a secret may be sent to (src/activities/password-refs.ts) are read the same way.
 */

/** Decides whether `host:port` may be reached. */
export type EndpointAllowlist = (host: string, port: number) => boolean;

/** Thrown when a list of servers cannot be read; names the setting and the entry. */
export class AllowlistError extends Error {
  constructor(entry: string, setting = 'MIGRATOR_ENDPOINT_ALLOWLIST', forms = 'host:port, host:* or *') {
    super(`${setting}: "${entry}" is not ${forms}`);
    this.name = 'AllowlistError';
  }
}

/** Parses the setting; `*` (the default) allows every endpoint. */
export function parseAllowlist(setting: string): EndpointAllowlist {
  const entries = listEntries(setting);
  if (entries.includes('*')) return () => true;
  return serversIn(entries, (entry) => new AllowlistError(entry));
}

/**
 * Parses a list of servers that must be named (`host:port` or `host:*`, comma separated), as a
 * secret declares where it may be sent: `*` is refused, so every server is named on purpose.
 * `setting` names where the list was read, for the error.
 */
export function parseServerList(setting: string, list: string): EndpointAllowlist {
  return serversIn(listEntries(list), (entry) => new AllowlistError(entry, setting, 'host:port or host:* ("*" alone is not allowed here)'));
}

function listEntries(list: string): string[] {
  return list.split(',').map((e) => e.trim()).filter(Boolean);
}

function serversIn(entries: string[], refuse: (entry: string) => Error): EndpointAllowlist {
  const allowed = entries.map((entry) => {
    const match = /^(\[[^\]]+\]|[^:\s]+):(\d{1,5}|\*)$/.exec(entry);
    if (!match) throw refuse(entry);
    return { host: match[1].toLowerCase(), port: match[2] === '*' ? null : Number(match[2]) };
  });
  return (host, port) => allowed.some((a) => a.host === host.toLowerCase() && (a.port === null || a.port === port));
}

/** Host and port of an `http(s)://` URL (the scheme's port when none is written). */
export function hostAndPort(url: string): { host: string; port: number } {
  const parsed = new URL(url);
  return { host: parsed.hostname, port: Number(parsed.port || (parsed.protocol === 'https:' ? 443 : 80)) };
}

/**
 * What an endpoint makes the migrator reach: its HTTP address, and its native port on the same
 * host (the target reaches the source there with `remote()`). Returns the first one the list
 * refuses, or null.
 */
export function refusedAddress(allow: EndpointAllowlist, endpoint: { url: string; nativePort?: number }): string | null {
  const { host, port } = hostAndPort(endpoint.url);
  for (const p of [port, ...(endpoint.nativePort ? [endpoint.nativePort] : [])]) {
    if (!allow(host, p)) return `${host}:${p}`;
  }
  return null;
}
