/**
 * A typed client of the migrator's HTTP API (src/api/routes.ts) over Node's fetch. It knows the
 * routes and the error shapes; it prints nothing, and never puts the token into an error.
 */
import type { z } from 'zod';
import type { startChangesSchema, startMigrationSchema } from '../api/schemas';
import type { MigrationState, MigrationStatus, StepName } from '../workflows/types';

/** Body of `POST /migrations`, as a client may send it (defaults may be left out): a transfer or a run of changes. */
export type StartRequest = z.input<typeof startMigrationSchema> | z.input<typeof startChangesSchema>;

/** Answer of `POST /migrations`. */
export interface StartAnswer {
  id: string;
  runId: string;
  status: MigrationStatus;
  links: { self: string; temporalUi: string };
}

/** One run of `GET /migrations`. */
export interface ListedMigration {
  id: string;
  runId: string;
  status: MigrationStatus;
  currentStep: StepName | null;
  startedAt: string;
  closedAt: string | null;
}

/** Answer of `POST /migrations/:id/cancel`. */
export interface CancelAnswer {
  id: string;
  status: 'cancelling';
}

/** An error body of the API (src/api/error-middleware.ts): `error` is a code, the rest depends on it. */
export interface ApiErrorBody {
  error: string;
  message?: string;
  /** For `invalid_request`: each field the API refused, as a dotted path, and why. */
  issues?: { path: string; message: string }[];
  [detail: string]: unknown;
}

/** Thrown when the API answers with a status other than 2xx. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: ApiErrorBody,
    readonly method: string,
    readonly url: string,
  ) {
    super(body.message ?? body.error);
    this.name = 'ApiError';
  }
}

/** Thrown when the API cannot be reached at all (refused, unknown host, timeout). */
export class ApiUnreachableError extends Error {
  constructor(
    readonly url: string,
    readonly reason: string,
  ) {
    super(`cannot reach the API at ${url}: ${reason}`);
    this.name = 'ApiUnreachableError';
  }
}

export interface ApiClientOptions {
  /** Base URL of the API, e.g. http://127.0.0.1:3000. */
  baseUrl: string;
  /** Bearer token; without one, requests go unauthenticated (for `MIGRATOR_AUTH=off`). */
  token?: string;
  /** Per-request time limit. @default 60000 */
  timeoutMs?: number;
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
}

export interface ApiClient {
  readonly baseUrl: string;
  start(body: StartRequest): Promise<StartAnswer>;
  list(status?: MigrationStatus): Promise<{ migrations: ListedMigration[] }>;
  get(id: string): Promise<MigrationState>;
  approve(id: string, step: string, comment?: string): Promise<MigrationState>;
  reject(id: string, step: string, reason: string): Promise<MigrationState>;
  cancel(id: string, reason?: string): Promise<CancelAnswer>;
}

export function createApiClient(options: ApiClientOptions): ApiClient {
  const baseUrl = options.baseUrl.replace(/\/+$/, '');
  const doFetch = options.fetch ?? globalThis.fetch;
  const timeoutMs = options.timeoutMs ?? 60_000;

  async function call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const url = `${baseUrl}${path}`;
    const headers: Record<string, string> = { accept: 'application/json' };
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await doFetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(timeoutMs) });
    } catch (err) {
      throw new ApiUnreachableError(url, networkReason(err, timeoutMs));
    }
    const text = await res.text();
    const parsed = parseJson(text);
    if (res.ok) return parsed as T;
    throw new ApiError(res.status, errorBody(parsed, text, res), method, url);
  }

  const at = (id: string, action = '') => `/migrations/${encodeURIComponent(id)}${action}`;
  return {
    baseUrl,
    start: (body) => call('POST', '/migrations', body),
    list: (status) => call('GET', `/migrations${status ? `?status=${encodeURIComponent(status)}` : ''}`),
    get: (id) => call('GET', at(id)),
    approve: (id, step, comment) => call('POST', at(id, '/approve'), { step, ...(comment !== undefined ? { comment } : {}) }),
    reject: (id, step, reason) => call('POST', at(id, '/reject'), { step, reason }),
    cancel: (id, reason) => call('POST', at(id, '/cancel'), reason !== undefined ? { reason } : {}),
  };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The API's error document, or one made up from the status when the answer is not one (a proxy's HTML page). */
function errorBody(parsed: unknown, text: string, res: Response): ApiErrorBody {
  if (parsed && typeof parsed === 'object' && typeof (parsed as { error?: unknown }).error === 'string') return parsed as ApiErrorBody;
  const snippet = text.trim().replace(/\s+/g, ' ').slice(0, 200);
  return { error: `http_${res.status}`, message: `${res.status}${res.statusText ? ` ${res.statusText}` : ''}${snippet ? `: ${snippet}` : ''}` };
}

/** Why fetch failed, in a few words: undici hides the system error (ECONNREFUSED …) in `cause`. */
export function networkReason(err: unknown, timeoutMs: number): string {
  if (err instanceof DOMException && (err.name === 'TimeoutError' || err.name === 'AbortError')) return `no answer within ${timeoutMs >= 1000 ? `${Math.round(timeoutMs / 1000)} s` : `${timeoutMs} ms`}`;
  const cause = (err as { cause?: { code?: unknown; message?: unknown } } | null)?.cause;
  if (cause && typeof cause.message === 'string') return cause.message;
  if (cause && typeof cause.code === 'string') return cause.code;
  return err instanceof Error ? err.message : String(err);
}
