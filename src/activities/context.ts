import { setMaxListeners } from 'node:events';
import { ApplicationFailure, CancelledFailure, Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { hostAndPort, refusedAddress, type EndpointAllowlist } from '../endpoint-allowlist';
import { ClickHouseConnection } from '../clickhouse/connection';
import { ClickHouseQueryError, redact } from '../clickhouse/errors';
import { quoteString } from '../clickhouse/sql';
import { SecretKeyError, unseal, type Keyring } from '../secrets';
import { PasswordRefError, passwordResolver, requireDeclaredServer, SecretNotForServerError, type PasswordResolver } from './password-refs';
import { FAILURE_TYPES, type EndpointRef } from '../workflows/types';

/** What every activity needs from the worker. */
export interface ActivityDeps {
  /** The keys that open the sealed passwords in workflow inputs. */
  keyring: Keyring;
  /** Resolves an endpoint's `passwordRef`, and the servers its secret may be sent to. @default the environment only */
  passwords?: PasswordResolver;
  /** A Temporal client, for the janitor, which reads which runs are open and where their targets are. */
  temporal?: Client;
  /** The servers activities may connect to (and send a target to with `remote()`). @default every server */
  allowEndpoint?: EndpointAllowlist;
}

export type Connections<K extends string> = Record<K, ClickHouseConnection>;

/**
 * Opens a connection per endpoint, runs `body`, closes them, and turns every error into an
 * ApplicationFailure whose message holds no secret: permanent ClickHouse errors do not retry.
 */
export async function withConnections<K extends string, T>(
  deps: ActivityDeps,
  endpoints: Record<K, EndpointRef>,
  body: (conns: Connections<K>) => Promise<T>,
): Promise<T> {
  const names = Object.keys(endpoints) as K[];
  let secrets: string[] = [];
  const conns = {} as Connections<K>;
  const ids = queryIds();
  const credentials: { name: K; url: string; username: string; password: string }[] = [];
  try {
    for (const name of names) {
      const refused = deps.allowEndpoint && refusedAddress(deps.allowEndpoint, endpoints[name]);
      if (refused) throw permanent(FAILURE_TYPES.endpointNotAllowed, `the ${name} ${refused} is not in this worker's MIGRATOR_ENDPOINT_ALLOWLIST`);
      const { host, port } = hostAndPort(endpoints[name].url);
      requirePasswordMayReach(deps, endpoints[name], host, port, `the ${name}'s HTTP address`);
    }
    const passwords = names.map((name) => passwordOf(deps, endpoints[name]));
    secrets = passwords.filter(Boolean);
    names.forEach((name, i) => {
      const { url, username } = endpoints[name];
      credentials.push({ name, url, username, password: passwords[i] });
      conns[name] = new ClickHouseConnection(
        { url, username, password: passwords[i] },
        { label: name, secrets, abortSignal: activitySignal(), queryIdPrefix: ids?.attempt },
      );
    });
    if (ids) await stopStrayStatements(Object.values<ClickHouseConnection>(conns), ids);
    return await body(conns);
  } catch (err) {
    const cancelled = activityCancellation();
    // A cancelled activity ends only once its statements are gone from the servers: the run may roll back next.
    if (cancelled && ids) await Promise.all(credentials.map((c) => stopAfterCancellation(c, secrets, ids.attempt)));
    throw cancelled ?? toApplicationFailure(err, secrets);
  } finally {
    await Promise.all(Object.values<ClickHouseConnection>(conns).map((c) => c.close().catch(() => undefined)));
  }
}

/**
 * Stops this attempt's statements on one server after a cancellation, on a connection of its own
 * (the activity's connections abort every request once it is cancelled). Best effort: a server
 * that cannot be reached is stopped by the rollback, which waits for the run's statements too.
 */
async function stopAfterCancellation(server: { name: string; url: string; username: string; password: string }, secrets: string[], prefix: string): Promise<void> {
  const conn = new ClickHouseConnection({ url: server.url, username: server.username, password: server.password }, { label: server.name, secrets });
  try {
    await stopStatements(conn, prefix);
  } catch {
    // See above: the rollback's own stop covers it.
  } finally {
    await conn.close().catch(() => undefined);
  }
}

/** The password of an endpoint: resolved from its reference, or unsealed, or none. */
function passwordOf(deps: ActivityDeps, endpoint: EndpointRef): string {
  if (endpoint.passwordRef) return resolverOf(deps).password(endpoint.passwordRef);
  return endpoint.password ? unseal(endpoint.password, deps.keyring) : '';
}

function resolverOf(deps: ActivityDeps): PasswordResolver {
  return deps.passwords ?? passwordResolver({});
}

/**
 * Throws, before anything is sent, unless the password of `endpoint` may go to `host:port`:
 * a password given by reference only to the servers its secret declares (a sealed password is
 * bound to nothing but the allowlist). `what` names the use, for the message.
 */
export function requirePasswordMayReach(deps: ActivityDeps, endpoint: EndpointRef, host: string, port: number, what: string): void {
  if (!endpoint.passwordRef) return;
  requireDeclaredServer(resolverOf(deps).servers(endpoint.passwordRef), endpoint.passwordRef, host, port, what);
}

/** Throws unless this worker's MIGRATOR_ENDPOINT_ALLOWLIST lets `host:port` (`what`) be reached. */
export function requireAllowed(deps: ActivityDeps, host: string, port: number, what: string): void {
  if (deps.allowEndpoint && !deps.allowEndpoint(host, port)) {
    throw permanent(FAILURE_TYPES.endpointNotAllowed, `${what} ${host}:${port} is not in this worker's MIGRATOR_ENDPOINT_ALLOWLIST`);
  }
}

/**
 * Query id prefixes of this activity's run (`<workflow id>/<run id>/`), of this activity
 * (`…/<activity id>/`) and of this attempt of it (`…/<attempt>/`).
 */
function queryIds(): { run: string; activity: string; attempt: string } | undefined {
  try {
    const { workflowExecution, activityId, attempt } = Context.current().info;
    const run = `${workflowExecution?.workflowId}/${workflowExecution?.runId}/`;
    const activity = `${run}${activityId}/`;
    return { run, activity, attempt: `${activity}${attempt}/` };
  } catch {
    return undefined;
  }
}

/** How long statements that were killed may take to leave `system.processes`. */
const STATEMENTS_GONE_MS = 60_000;

/**
 * Kills the statements whose query id starts with `prefix` (but not `except`) and returns once
 * the server lists none of them: killed, and gone from `system.processes`.
 */
async function stopStatements(conn: ClickHouseConnection, prefix: string, except?: string): Promise<void> {
  const keep = except === undefined ? '' : ` AND NOT startsWith(query_id, ${quoteString(except)})`;
  const deadline = Date.now() + STATEMENTS_GONE_MS;
  for (;;) {
    await conn.killQueries(prefix, except, { wait: true });
    const [left] = await conn.rows<{ n: string }>(`SELECT count() AS n FROM system.processes WHERE startsWith(query_id, ${quoteString(prefix)})${keep}`);
    if (Number(left.n) === 0) return;
    if (Date.now() > deadline) throw new Error(`${left.n} statements of ${prefix} still run on the ${conn.label} after being killed`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/**
 * Stops every statement of this activity's run on `conn` but this attempt's own, and waits until
 * they are gone: whatever happened to the activities that sent them (a worker that died, say),
 * none of them writes any more. A rollback starts with this.
 */
export async function stopRunStatements(conn: ClickHouseConnection): Promise<void> {
  const ids = queryIds();
  if (ids) await stopStatements(conn, ids.run, ids.attempt);
}

/**
 * The server keeps running a statement after its HTTP request is gone, so statements are
 * stopped by query id: on entry, those of earlier attempts of this activity (whose worker may
 * have died mid-statement), waiting until they have stopped; on cancellation, this attempt's own.
 */
async function stopStrayStatements(conns: ClickHouseConnection[], ids: { activity: string; attempt: string }): Promise<void> {
  const signal = activitySignal();
  signal?.addEventListener('abort', () => {
    for (const conn of conns) conn.killQueries(ids.attempt).catch(() => undefined);
  });
  if (Context.current().info.attempt > 1) await Promise.all(conns.map((conn) => conn.killQueries(ids.activity, ids.attempt, { wait: true })));
}

/** The cancellation that stopped this activity, if it was stopped: it must end as cancelled, not as failed. */
function activityCancellation(): CancelledFailure | undefined {
  const signal = activitySignal();
  if (!signal?.aborted) return undefined;
  return signal.reason instanceof CancelledFailure ? signal.reason : new CancelledFailure('the activity was cancelled');
}

function activitySignal(): AbortSignal | undefined {
  try {
    const signal = Context.current().cancellationSignal;
    // Every query of the activity listens on the same signal.
    setMaxListeners(0, signal);
    return signal;
  } catch {
    return undefined;
  }
}

/** Converts an error to an ApplicationFailure, redacting every secret. */
export function toApplicationFailure(err: unknown, secrets: readonly string[]): ApplicationFailure {
  if (err instanceof ApplicationFailure) return err;
  // Another worker may hold the key or the secret: these retry, and name the key id or the reference only.
  if (err instanceof SecretKeyError) return ApplicationFailure.retryable(err.message, FAILURE_TYPES.secretUnsealFailed);
  if (err instanceof PasswordRefError) return ApplicationFailure.retryable(err.message, FAILURE_TYPES.passwordRefUnresolved);
  if (err instanceof SecretNotForServerError) return ApplicationFailure.nonRetryable(err.message, FAILURE_TYPES.secretNotForServer);
  if (err instanceof ClickHouseQueryError) {
    return err.permanentType
      ? ApplicationFailure.nonRetryable(err.message, err.permanentType)
      : ApplicationFailure.retryable(err.message, FAILURE_TYPES.clickhouseUnavailable);
  }
  const message = redact(err instanceof Error ? err.message : String(err), secrets);
  return ApplicationFailure.retryable(message, err instanceof Error ? err.name : 'Error');
}

/** A permanent failure a person must act on. */
export function permanent(type: string, message: string, details?: unknown): ApplicationFailure {
  return ApplicationFailure.create({ type, message, nonRetryable: true, details: details === undefined ? undefined : [details] });
}

/** How often `heartbeating` beats: the worker sends them on at most every 2 s (see worker-factory.ts). */
const HEARTBEAT_EVERY_MS = 1_000;

/**
 * Runs `work` while heartbeating every second, so a lost worker is noticed and a
 * cancellation reaches the activity even while one long statement runs. `details` is read at
 * each beat: it is what a retry of the activity finds in `heartbeatDetails`.
 */
export async function heartbeating<T>(details: () => unknown, work: () => Promise<T>): Promise<T> {
  let ctx: Context | undefined;
  try {
    ctx = Context.current();
  } catch {
    return work();
  }
  const beat = () => ctx.heartbeat(details());
  beat();
  const timer = setInterval(beat, HEARTBEAT_EVERY_MS);
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}

/** Heartbeats `details` now (outside an activity, does nothing). */
export function heartbeatNow(details: unknown): void {
  try {
    Context.current().heartbeat(details);
  } catch {
    // Not inside an activity: nothing to report to.
  }
}

/** This attempt's number (1 outside an activity). */
export function currentAttempt(): number {
  try {
    return Context.current().info.attempt;
  } catch {
    return 1;
  }
}

/** The details the previous attempt of this activity last heartbeated, if any. */
export function previousHeartbeat<T>(): T | undefined {
  try {
    return Context.current().info.heartbeatDetails as T | undefined;
  } catch {
    return undefined;
  }
}

/** DDL statements for independent tables sent at once: each is milliseconds of work behind a round trip. */
export const DDL_CONCURRENCY = 4;

/** Runs `work` for every item, at most `limit` at a time, and waits for all of them. */
export async function forEachConcurrently<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) await work(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}
