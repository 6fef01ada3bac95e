import { unloggedSettings } from '../clickhouse/capabilities';
import type { ClickHouseConnection, ConnectionSettings } from '../clickhouse/connection';
import { ClickHouseQueryError, redact } from '../clickhouse/errors';
import { quoteString } from '../clickhouse/sql';
import { hostAndPort } from '../endpoint-allowlist';
import type { EndpointRef } from '../workflows/types';
import { requireAllowed, requirePasswordMayReach, type ActivityDeps } from './context';
import { SecretNotForServerError } from './password-refs';

/** Well-known HTTP ports and the native ports that usually sit beside them. */
const NATIVE_PORT_BESIDE: Record<string, number> = { '8123': 9000, '8443': 9440 };

/** Names a source table inside a statement the target runs: the `remote()` call, credentials included. */
export type RemoteTable = (database: string, table: string) => string;

/**
 * How the target reads the source in a server-to-server copy. The statements that carry the
 * source's credentials are only ever run through `exec` and `rows`: on the target, with its query
 * log off for that statement, and with every trace of the password removed from their errors.
 */
export type RemoteSource =
  | {
      ok: true;
      fn: 'remote' | 'remoteSecure';
      address: string;
      /** Runs on the target the statement that `build` writes around the source tables it names. */
      exec(build: (from: RemoteTable) => string, settings?: ConnectionSettings): Promise<void>;
      /** Like `exec`, for a statement that returns rows. */
      rows<T>(build: (from: RemoteTable) => string): Promise<T[]>;
    }
  | { ok: false; reason: string };

/**
 * How the target would name a source table in a server-to-server copy: `remote()` (or
 * `remoteSecure()` for an https source) at the source's native address, with its credentials.
 * Not offered when the target user may not keep a statement out of its query log, since the
 * statement's text holds the source password, nor when the source's secret is not declared for
 * the target, which receives that text. The native address must be in the worker's allowlist and
 * among the servers the source's secret declares: else this throws, before any statement
 * carries the password there.
 */
export async function remoteSource(
  deps: ActivityDeps,
  source: ClickHouseConnection,
  target: ClickHouseConnection,
  ref: EndpointRef,
): Promise<RemoteSource> {
  const url = new URL(ref.url);
  const secure = url.protocol === 'https:';
  const fn = secure ? 'remoteSecure' : 'remote';
  const { capabilities, version } = await target.server();
  if (!(secure ? capabilities.remoteSecure : capabilities.remote)) {
    return { ok: false, reason: `the target (ClickHouse ${version}) has no ${fn}() table function` };
  }
  if (!capabilities.unloggedStatements) {
    return {
      ok: false,
      reason:
        `the target user "${target.endpoint.username}" may not turn its query log off for one statement (log_queries=0), ` +
        `and a ${fn}() statement would leave the source password in the target's system.query_log`,
    };
  }
  const toTarget = hostAndPort(target.endpoint.url);
  try {
    requirePasswordMayReach(deps, ref, toTarget.host, toTarget.port, 'the target, which a server-to-server copy gives it inside remote()');
  } catch (err) {
    if (err instanceof SecretNotForServerError) return { ok: false, reason: err.message };
    throw err;
  }
  const port = ref.nativePort ?? (await askNativePort(source, secure)) ?? NATIVE_PORT_BESIDE[url.port || (secure ? '443' : '80')];
  if (!port) return { ok: false, reason: `the source's native port is unknown; pass "nativePort" with the source to copy server to server` };
  requireAllowed(deps, url.hostname, port, "the source's native port");
  requirePasswordMayReach(deps, ref, url.hostname, port, `the source's native port, which the target reaches with ${fn}()`);
  const address = `${url.hostname}:${port}`;
  const reader = remoteReader(fn, address, source.endpoint, unloggedSettings(capabilities));
  return {
    ok: true,
    fn,
    address,
    exec: (build, settings) => reader.run((from, unlogged) => target.exec(build(from), { ...settings, ...unlogged })),
    rows: <T>(build: (from: RemoteTable) => string) => reader.run((from, unlogged) => target.rows<T>(build(from), unlogged)),
  };
}

/** Runs statements that name tables of another server through `remote()`, credentials included. */
export interface RemoteReader {
  /**
   * Runs `work` with `from`, which names a table of the other server, and the request settings
   * that keep the statement out of the query log (pass them with every statement built with
   * `from`). Whatever `work` throws comes out without the password.
   */
  run<T>(work: (from: RemoteTable, unlogged: ConnectionSettings) => Promise<T>): Promise<T>;
}

/**
 * A {@link RemoteReader} for the server at `address` (host:native port) with `credentials`,
 * called with `fn` (`remote` or `remoteSecure`). The caller checks first that the server running
 * the statements may receive the password and keep it out of its log (`unlogged`).
 */
export function remoteReader(fn: 'remote' | 'remoteSecure', address: string, credentials: { username: string; password: string }, unlogged: ConnectionSettings): RemoteReader {
  const { username, password } = credentials;
  return {
    async run(work) {
      const calls: RemoteCall[] = [];
      const from: RemoteTable = (database, table) => {
        const call = remoteCall(fn, [address, database, table, username, password]);
        calls.push(call);
        return call.text;
      };
      try {
        return await work(from, unlogged);
      } catch (err) {
        throw withoutPassword(err, password, calls);
      }
    },
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

/**
 * A `remote()` call as a statement carries it: its text, the offsets where the server's lexer
 * sees a token begin before the password, and where the password's escaped text lies.
 */
interface RemoteCall {
  text: string;
  tokenStarts: number[];
  password: { from: number; to: number };
}

/** The call of `fn` with `args` quoted, the password last. */
function remoteCall(fn: string, args: string[]): RemoteCall {
  let text = `${fn}(`;
  const tokenStarts = [0, fn.length];
  args.forEach((arg, i) => {
    if (i > 0) {
      tokenStarts.push(text.length);
      text += ', ';
    }
    if (i < args.length - 1) tokenStarts.push(text.length);
    text += quoteString(arg);
  });
  const to = text.length - 1;
  const from = to - (quoteString(args[args.length - 1]).length - 2);
  return { text: `${text})`, tokenStarts, password: { from, to } };
}

/**
 * The error of a statement that carried the source credentials, with the password gone. A
 * ClickHouse syntax error quotes the statement from the token where parsing failed, cut after
 * 160 characters (18.16), so it may hold the password whole, escaped (`\n` for a newline), or
 * only its beginning. Wherever the message quotes a call from one of its tokens on into the
 * password, what it shows of the password becomes `***`; then whole occurrences, raw or escaped.
 */
function withoutPassword(err: unknown, password: string, calls: RemoteCall[]): unknown {
  if (!(err instanceof ClickHouseQueryError) || password === '') return err;
  let message = err.message;
  for (const call of calls) {
    for (const start of call.tokenStarts) message = hideQuotedPassword(message, call, start);
  }
  message = redact(message, [password, quoteString(password).slice(1, -1)]);
  return message === err.message ? err : new ClickHouseQueryError(message, err.server, err.code, err.permanentType);
}

/** Replaces with `***` the password characters of every quote of `call` that begins at its offset `start`. */
function hideQuotedPassword(message: string, call: RemoteCall, start: number): string {
  const anchor = call.text.slice(start, call.password.from + 1);
  let out = message;
  for (let at = out.indexOf(anchor); at >= 0; at = out.indexOf(anchor, at + 1)) {
    const secretAt = at + call.password.from - start;
    let end = secretAt;
    for (let i = call.password.from; end < out.length && i < call.password.to && out[end] === call.text[i]; i++) end++;
    out = `${out.slice(0, secretAt)}***${out.slice(end)}`;
  }
  return out;
}
