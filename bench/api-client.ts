/** A timed HTTP client of the migrator's API, as the people of the benchmark. */
import type { Role } from '../src/config';
import type { MigrationState, MigrationStatus } from '../src/workflows/types';
import { RUN_TIMEOUT_MS } from './runs';
import { FINAL_STATUSES } from '../src/cli/exit-codes';

/** Who the benchmark acts as: one token each in the API's tokens file. */
export const PEOPLE = {
  viewer: { subject: 'vera', roles: ['viewer'] },
  operator: { subject: 'olivia', roles: ['operator'] },
  approver: { subject: 'ana', roles: ['approver'] },
  admin: { subject: 'adam', roles: ['admin'] },
} satisfies Record<string, { subject: string; roles: Role[] }>;
export type Person = keyof typeof PEOPLE;

/** One request: its answer, how long it took (to the end of the body), and when it was sent (wall clock). */
export interface TimedResponse<T> {
  status: number;
  body: T;
  ms: number;
  sentAtMs: number;
}

export class ApiClient {
  constructor(
    readonly url: string,
    private readonly tokens: Record<Person, string>,
  ) {}

  async request<T = unknown>(who: Person, method: 'GET' | 'POST', path: string, body?: unknown): Promise<TimedResponse<T>> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.tokens[who]}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const sentAtMs = Date.now();
    const began = performance.now();
    const res = await fetch(`${this.url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    const ms = performance.now() - began;
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON: kept as text for the error message
    }
    return { status: res.status, body: parsed as T, ms, sentAtMs };
  }
}

/** Throws, with the API's answer, unless `res` has the status expected. */
export function expectStatus<T>(res: TimedResponse<T>, status: number, what: string): TimedResponse<T> {
  if (res.status !== status) throw new Error(`${what}: HTTP ${res.status} ${JSON.stringify(res.body).slice(0, 1000)}`);
  return res;
}

/** The statuses of a run that has ended. */
export const ENDED: readonly MigrationStatus[] = FINAL_STATUSES;

/** Polls `GET /migrations/:id` until `done` holds for the state, or fails after `timeoutMs`. */
export async function pollState(api: ApiClient, id: string, done: (state: MigrationState) => boolean, what: string, timeoutMs = RUN_TIMEOUT_MS): Promise<MigrationState> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const state = expectStatus(await api.request<MigrationState>('viewer', 'GET', `/migrations/${id}`), 200, `GET /migrations/${id}`).body;
    if (done(state)) return state;
    if (ENDED.includes(state.status)) throw new Error(`${id} ended ${state.status} while waiting for ${what}: ${state.error?.message ?? ''}`);
    if (performance.now() > deadline) throw new Error(`${id}: no ${what} after ${timeoutMs / 1000} s (status ${state.status}, step ${state.currentStep})`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
