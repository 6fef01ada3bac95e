import { setMaxListeners } from 'node:events';
import { ApplicationFailure, CancelledFailure, Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { refusedAddress, type EndpointAllowlist } from '../endpoint-allowlist';
import { ClickHouseConnection } from '../clickhouse/connection';
import { ClickHouseQueryError, redact } from '../clickhouse/errors';
import { SecretKeyError, unseal, type Keyring } from '../secrets';
import { PasswordRefError, passwordResolver, type PasswordResolver } from './password-refs';
import { FAILURE_TYPES, type EndpointRef } from '../workflows/types';

/** What every activity needs from the worker. */
export interface ActivityDeps {
  /** The keys that open the sealed passwords in workflow inputs. */
  keyring: Keyring;
  /** Resolves an endpoint's `passwordRef`. @default the environment only */
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
  try {
    for (const name of names) {
      const refused = deps.allowEndpoint && refusedAddress(deps.allowEndpoint, endpoints[name]);
      if (refused) throw permanent(FAILURE_TYPES.endpointNotAllowed, `the ${name} ${refused} is not in this worker's MIGRATOR_ENDPOINT_ALLOWLIST`);
    }
    const passwords = names.map((name) => passwordOf(deps, endpoints[name]));
    secrets = passwords.filter(Boolean);
    const ids = queryIds();
    names.forEach((name, i) => {
      const { url, username } = endpoints[name];
      conns[name] = new ClickHouseConnection(
        { url, username, password: passwords[i] },
        { label: name, secrets, abortSignal: activitySignal(), queryIdPrefix: ids?.attempt },
      );
    });
    if (ids) await stopStrayStatements(Object.values<ClickHouseConnection>(conns), ids);
    return await body(conns);
  } catch (err) {
    throw activityCancellation() ?? toApplicationFailure(err, secrets);
  } finally {
    await Promise.all(Object.values<ClickHouseConnection>(conns).map((c) => c.close().catch(() => undefined)));
  }
}

/** The password of an endpoint: resolved from its reference, or unsealed, or none. */
function passwordOf(deps: ActivityDeps, endpoint: EndpointRef): string {
  if (endpoint.passwordRef) return (deps.passwords ?? passwordResolver({}))(endpoint.passwordRef);
  return endpoint.password ? unseal(endpoint.password, deps.keyring) : '';
}

/** Query id prefixes of this activity (`<workflow id>/<activity id>/`) and of this attempt of it. */
function queryIds(): { activity: string; attempt: string } | undefined {
  try {
    const { workflowExecution, activityId, attempt } = Context.current().info;
    const activity = `${workflowExecution?.workflowId}/${workflowExecution?.runId}/${activityId}/`;
    return { activity, attempt: `${activity}${attempt}/` };
  } catch {
    return undefined;
  }
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

/**
 * Runs `work` while heartbeating every few seconds, so a lost worker is noticed and a
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
  const timer = setInterval(beat, 5_000);
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
