/**
 * `load`: 50 small migrations (each its own database of 2 tables × 1,000 rows, approvals off)
 * started at once through the API, each polled with `GET /migrations/:id` until it ends. Reports
 * the latency of every request, and checks each database on the target against the source with
 * the bench's own counts and checksums.
 */
import type { MigrationState } from '../../src/workflows/types';
import { ENDED, type TimedResponse } from '../api-client';
import { createItemsDatabase, forEachAtMost, itemsDigest } from '../data';
import { percentile, seconds, timed } from '../report';
import { RUN_TIMEOUT_MS } from '../runs';
import type { Scenario } from './scenario';

const RUNS = Number(process.env.BENCH_LOAD_RUNS ?? 50);
/** How often each run is polled, as a client watching it would. */
const POLL_MS = Number(process.env.BENCH_LOAD_POLL_MS ?? 500);
const TABLES = ['a', 'b'];
const ROWS = 1000;

const p = (values: number[], at: number) => percentile(values, at).toFixed(0);

export const loadScenario: Scenario = {
  name: 'load',
  fields: [],
  async run(stack) {
    const api = await stack.api();
    const databases = Array.from({ length: RUNS }, (_, i) => `bench_load_${String(i + 1).padStart(2, '0')}`);
    const generated = await timed(() => forEachAtMost(databases, 2, (db) => createItemsDatabase(stack.source, db, TABLES, ROWS)));
    console.log(`source: ${RUNS} databases × ${TABLES.length} tables × ${ROWS} rows (generated in ${seconds(generated.ms)} s)`);

    const began = performance.now();
    const posts = await Promise.all(
      databases.map((db, i) => api.request<{ id?: string }>('admin', 'POST', '/migrations', stack.startRequest(`bench-load-${String(i + 1).padStart(2, '0')}`, [db], false))),
    );
    const refused = posts.filter((res) => res.status !== 201);
    for (const res of refused.slice(0, 3)) console.log(`  POST /migrations answered ${res.status}: ${JSON.stringify(res.body).slice(0, 500)}`);

    const gets: number[] = [];
    const getErrors: string[] = [];
    const finals = new Map<string, MigrationState | null>();
    const deadline = began + RUN_TIMEOUT_MS;
    await Promise.all(
      posts.map(async (post, i) => {
        if (post.status !== 201) return;
        const id = `bench-load-${String(i + 1).padStart(2, '0')}`;
        for (;;) {
          const res: TimedResponse<MigrationState> = await api.request<MigrationState>('viewer', 'GET', `/migrations/${id}`);
          gets.push(res.ms);
          if (res.status !== 200) getErrors.push(`${res.status} ${JSON.stringify(res.body).slice(0, 300)}`);
          else if (ENDED.includes(res.body.status)) return void finals.set(id, res.body);
          if (performance.now() > deadline) return void finals.set(id, null);
          await new Promise((resolve) => setTimeout(resolve, POLL_MS));
        }
      }),
    );
    const wallMs = performance.now() - began;

    const notCompleted = [...finals].filter(([, state]) => state?.status !== 'completed');
    for (const [id, state] of notCompleted.slice(0, 5)) {
      console.log(`  ${id}: ${state ? `${state.status}: ${state.error?.message ?? ''}` : `not ended after ${RUN_TIMEOUT_MS / 1000} s (cut short)`}`);
    }
    for (const error of [...new Set(getErrors)].slice(0, 3)) console.log(`  GET /migrations/:id answered ${error}`);
    let exact = 0;
    await forEachAtMost(databases, 4, async (db) => {
      let same = true;
      for (const table of TABLES) {
        const [before, after] = await Promise.all([itemsDigest(stack.source, db, table), itemsDigest(stack.target, db, table).catch((err: Error) => err.message)]);
        if (before !== after) {
          same = false;
          console.log(`  ${db}.${table}: source ${before}, target ${after}`);
        }
      }
      if (same) exact++;
    });
    const postMs = posts.map((res) => res.ms);
    console.log(
      `load: runs=${RUNS} started=${RUNS - refused.length} completed=${finals.size - notCompleted.length} exact=${exact} ` +
        `post_p50_ms=${p(postMs, 50)} post_p95_ms=${p(postMs, 95)} get_p50_ms=${p(gets, 50)} get_p95_ms=${p(gets, 95)} gets=${gets.length} get_errors=${getErrors.length} wall_s=${seconds(wallMs)}`,
    );
    if (exact !== RUNS) throw new Error(`${RUNS - exact} of ${RUNS} databases differ between source and target`);
  },
};
