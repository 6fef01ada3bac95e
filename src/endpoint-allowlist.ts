/**
 * Which ClickHouse servers a source or a target may name: `MIGRATOR_ENDPOINT_ALLOWLIST`, a
 * comma-separated list of `host:port`, `host:*` or `*`. The API refuses a request outside it
 * (400), and the worker refuses to connect (so a workflow started by another client is held to
 * the same list). A host is compared as written, lower-cased; IPv6 hosts in brackets.
 */

/** Decides whether `host:port` may be reached. */
export type EndpointAllowlist = (host: string, port: number) => boolean;

/** Thrown when the allowlist setting cannot be read. */
export class AllowlistError extends Error {
  constructor(entry: string) {
    super(`MIGRATOR_ENDPOINT_ALLOWLIST: "${entry}" is not host:port, host:* or *`);
    this.name = 'AllowlistError';
  }
}

/** Parses the setting; `*` (the default) allows every endpoint. */
export function parseAllowlist(setting: string): EndpointAllowlist {
  const entries = setting.split(',').map((e) => e.trim()).filter(Boolean);
  if (entries.includes('*')) return () => true;
  const allowed = entries.map((entry) => {
    const match = /^(\[[^\]]+\]|[^:\s]+):(\d{1,5}|\*)$/.exec(entry);
    if (!match) throw new AllowlistError(entry);
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
