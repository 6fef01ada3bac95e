/** ClickHouse error codes that no retry can fix (bad credentials, missing objects, bad SQL), with the server's name for each. */
const PERMANENT_CODES: ReadonlyMap<number, string> = new Map([
  [16, 'NoSuchColumn'],
  [36, 'BadArguments'],
  [43, 'IllegalTypeOfArgument'],
  [44, 'IllegalColumn'],
  [46, 'UnknownFunction'],
  [47, 'UnknownIdentifier'],
  [48, 'NotImplemented'],
  [50, 'UnknownType'],
  [56, 'UnknownStorage'],
  [57, 'TableAlreadyExists'],
  [60, 'UnknownTable'],
  [62, 'SyntaxError'],
  [81, 'UnknownDatabase'],
  [115, 'UnknownSetting'],
  [164, 'Readonly'],
  [192, 'AuthenticationFailed'],
  [193, 'AuthenticationFailed'],
  [194, 'AuthenticationFailed'],
  [195, 'IpAddressNotAllowed'],
  // A replicated table's ZooKeeper path already has this replica: a retry meets the same node.
  [253, 'ReplicaAlreadyExists'],
  [291, 'DatabaseAccessDenied'],
  [497, 'AccessDenied'],
  [516, 'AuthenticationFailed'],
]);

/** Error codes of a server too busy or cut off to run a statement now, that a later attempt may run. */
const TRANSIENT_CODES: ReadonlySet<number> = new Set([
  159, // TIMEOUT_EXCEEDED
  202, // TOO_MANY_SIMULTANEOUS_QUERIES
  209, // SOCKET_TIMEOUT
  210, // NETWORK_ERROR
  241, // MEMORY_LIMIT_EXCEEDED
  242, // TABLE_IS_READ_ONLY (a replica that lost its keeper)
  252, // TOO_MANY_PARTS
  425, // SYSTEM_ERROR
]);

/**
 * Whether the server refused a user's statement for what the statement is or meets (a value it
 * cannot parse, a missing column, a type it rejects): any answer with an error code but those
 * of a busy or cut-off server. Unlike the migrator's own statements, a user's cannot be judged by
 * a short list of codes.
 */
export function refusedStatement(err: unknown): err is ClickHouseQueryError {
  return err instanceof ClickHouseQueryError && err.code !== undefined && !TRANSIENT_CODES.has(err.code);
}

/** Thrown when a statement fails on a ClickHouse server; the message never holds a secret. */
export class ClickHouseQueryError extends Error {
  constructor(
    message: string,
    /** Which server answered: `source` or `target`. */
    readonly server: string,
    /** ClickHouse's numeric error code, when the server sent one. */
    readonly code: number | undefined,
    /** A readable failure type for permanent errors; undefined when a retry may help. */
    readonly permanentType: string | undefined,
  ) {
    super(message);
    this.name = 'ClickHouseQueryError';
  }
}

/** Replaces every secret in `text` (also in its SQL-escaped form) with `***`. */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) {
    if (!secret) continue;
    for (const form of new Set([secret, secret.replace(/\\/g, '\\\\').replace(/'/g, "\\'"), encodeURIComponent(secret)])) {
      out = out.split(form).join('***');
    }
  }
  return out;
}

function codeOf(err: unknown): number | undefined {
  const raw = (err as { code?: unknown }).code;
  if (typeof raw === 'string' && /^\d+$/.test(raw)) return Number(raw);
  if (typeof raw === 'number') return raw;
  const match = /Code: (\d+)/.exec(String((err as Error)?.message ?? ''));
  return match ? Number(match[1]) : undefined;
}

/** Turns anything a ClickHouse call threw into a redacted, classified {@link ClickHouseQueryError}. */
export function toClickHouseQueryError(err: unknown, server: string, secrets: readonly string[]): ClickHouseQueryError {
  if (err instanceof ClickHouseQueryError) return err;
  const code = codeOf(err);
  const base = err instanceof Error ? err.message : String(err);
  const network = (err as { code?: unknown }).code;
  const detail = typeof network === 'string' && !/^\d+$/.test(network) && !base.includes(network) ? `${network}: ${base}` : base;
  const message = redact(`${server} ClickHouse: ${detail}`, secrets).slice(0, 2000);
  return new ClickHouseQueryError(message, server, code, code === undefined ? undefined : PERMANENT_CODES.get(code));
}

/** The first line of an error's message, at most `max` characters: a server's reason, fit for a report. */
export function firstLine(err: unknown, max = 300): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0].slice(0, max);
}
