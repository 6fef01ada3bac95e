import { ApiError, ApiUnreachableError, type ApiClient } from '../../src/cli/api-client';
import { EXIT, exitCodeForError, exitCodeForRun, UsageError } from '../../src/cli/exit-codes';
import { jsonView, plainView, watchRun, type WatchView } from '../../src/cli/watch';
import { describeTable, tablesCopying } from '../../src/cli/render';
import { initialState } from '../../src/workflows/state';
import type { ChangesState } from '../../src/workflows/changes-types';
import type { MigrationInput, MigrationState, MigrationStatus } from '../../src/workflows/types';

const INPUT: MigrationInput = {
  id: 'w1',
  source: { url: 'http://s:8123', username: 'default', password: null },
  target: { url: 'http://t:8123', username: 'default', password: null },
  databases: ['demo'],
  approvals: { required: true },
  requestedBy: 'olivia',
  options: { onConflict: 'fail', parallelism: 2, syncPasses: 3 },
};

function state(status: MigrationStatus, rowsCopied = 0): MigrationState {
  const s = initialState(INPUT, 'run-1');
  s.status = status;
  s.currentStep = status === 'running' || status === 'awaiting_approval' ? 'migration' : null;
  s.awaitingApproval = status === 'awaiting_approval' ? { step: 'migration' } : null;
  s.progress = { tablesTotal: 2, tablesDone: rowsCopied >= 1000 ? 2 : 0, unitsTotal: 4, unitsDone: rowsCopied >= 1000 ? 4 : 1, rowsTotal: 1000, rowsCopied, bytesCopied: rowsCopied * 10 };
  return s;
}

/** A client whose `get` answers from `answers` in turn (an Error is thrown). */
function clientAnswering(answers: (MigrationState | Error)[]): ApiClient & { calls: number } {
  const client = {
    calls: 0,
    get: async () => {
      const next = answers[Math.min(client.calls++, answers.length - 1)];
      if (next instanceof Error) throw next;
      return next;
    },
  };
  return client as unknown as ApiClient & { calls: number };
}

/** A view that records what it is shown. */
function recordingView() {
  const seen = { statuses: [] as MigrationStatus[], notices: [] as string[], finished: null as MigrationState | null };
  const view: WatchView = {
    update: (s) => void seen.statuses.push(s.status),
    notice: (m) => void seen.notices.push(m),
    finish: (s) => void (seen.finished = s),
  };
  return { view, seen };
}

/** A writable that keeps what is written. */
function sink() {
  const chunks: string[] = [];
  return { write: (text: string) => chunks.push(text), text: () => chunks.join(''), chunks };
}

const unreachable = () => new ApiUnreachableError('http://127.0.0.1:9/migrations/w1', 'connect ECONNREFUSED 127.0.0.1:9');

describe('exitCodeForRun', () => {
  it('is 0 only for a completed run', () => {
    expect(exitCodeForRun('completed')).toBe(0);
    for (const status of ['failed', 'rejected', 'rolled_back', 'cancelled'] as const) expect(exitCodeForRun(status)).toBe(EXIT.runNotCompleted);
  });
});

describe('exitCodeForError', () => {
  it('tells bad arguments, a refused request, an unreachable API and a fault of the CLI apart', () => {
    expect(exitCodeForError(new UsageError('x'))).toBe(2);
    expect(exitCodeForError(new ApiError(400, { error: 'invalid_request' }, 'POST', 'u'))).toBe(3);
    expect(exitCodeForError(unreachable())).toBe(4);
    expect(exitCodeForError(new TypeError('x'))).toBe(70);
  });
});

describe('watchRun', () => {
  it('when the run completes, it polls until then, shows every poll and exits 0', async () => {
    const client = clientAnswering([state('awaiting_approval'), state('running', 500), state('completed', 1000)]);
    const { view, seen } = recordingView();
    expect(await watchRun({ client, id: 'w1', view, intervalMs: 0 })).toBe(EXIT.ok);
    expect(seen.statuses).toEqual(['awaiting_approval', 'running', 'completed']);
    expect(seen.finished?.status).toBe('completed');
  });

  it.each(['rejected', 'failed', 'rolled_back', 'cancelled'] as const)('when the run ends %s, it exits non-zero', async (status) => {
    const { view } = recordingView();
    expect(await watchRun({ client: clientAnswering([state('running'), state(status)]), id: 'w1', view, intervalMs: 0 })).toBe(EXIT.runNotCompleted);
  });

  it('when the run waited at a gate before its copy, the rate counts from the start of the copy only', async () => {
    const waiting = state('awaiting_approval');
    waiting.progress = initialState(INPUT, 'run-1').progress;
    const client = clientAnswering([waiting, state('running', 0), state('running', 500), state('completed', 1000)]);
    const times = [0, 600_000, 601_000, 602_000, 602_000].map((ms) => new Date(ms));
    const rates: (number | null)[] = [];
    const view: WatchView = { update: (_s, r) => void rates.push(r.rowsPerSecond), notice: () => undefined, finish: () => undefined };
    expect(await watchRun({ client, id: 'w1', view, intervalMs: 0, now: () => times.shift() ?? new Date() })).toBe(EXIT.ok);
    expect(rates).toEqual([null, null, 500, 500]);
  });

  it('when the API is briefly unreachable, it says so and keeps polling', async () => {
    const client = clientAnswering([unreachable(), unreachable(), state('completed', 1000)]);
    const { view, seen } = recordingView();
    expect(await watchRun({ client, id: 'w1', view, intervalMs: 0, unreachableRetries: 2 })).toBe(EXIT.ok);
    expect(seen.notices).toEqual([
      'cannot reach the API at http://127.0.0.1:9/migrations/w1: connect ECONNREFUSED 127.0.0.1:9 (attempt 1 of 2, retrying)',
      'cannot reach the API at http://127.0.0.1:9/migrations/w1: connect ECONNREFUSED 127.0.0.1:9 (attempt 2 of 2, retrying)',
    ]);
  });

  it('when the API stays unreachable, it gives up with that error, and the view is finished', async () => {
    const { view, seen } = recordingView();
    await expect(watchRun({ client: clientAnswering([state('running'), unreachable()]), id: 'w1', view, intervalMs: 0, unreachableRetries: 2 })).rejects.toBeInstanceOf(ApiUnreachableError);
    expect(seen.finished?.status).toBe('running');
  });

  it('when the API refuses (an unknown run), it stops at once with that error', async () => {
    const client = clientAnswering([new ApiError(404, { error: 'not_found', message: 'no run w1' }, 'GET', 'http://api/migrations/w1')]);
    await expect(watchRun({ client, id: 'w1', view: recordingView().view, intervalMs: 0 })).rejects.toMatchObject({ status: 404 });
    expect(client.calls).toBe(1);
  });

  it('when the watch is interrupted, it stops polling and returns the interrupted code', async () => {
    const stop = new AbortController();
    const client = clientAnswering([state('running')]);
    const { view } = recordingView();
    const watching = watchRun({ client, id: 'w1', view, intervalMs: 60_000, signal: stop.signal });
    await new Promise((resolve) => setImmediate(resolve));
    stop.abort();
    expect(await watching).toBe(EXIT.interrupted);
    expect(client.calls).toBe(1);
  });
});

describe('plainView', () => {
  it('when a poll says the same as the last line, nothing is printed until the heartbeat is due', () => {
    const out = sink();
    const view = plainView(out, sink(), 15_000);
    const at = (sec: number) => new Date(Date.UTC(2026, 0, 2, 10, 0, sec));
    const rates = { rowsPerSecond: null, bytesPerSecond: null };
    view.update(state('awaiting_approval'), rates, at(0));
    view.update(state('awaiting_approval'), rates, at(1));
    view.update(state('awaiting_approval'), rates, at(16));
    view.update(state('running', 500), rates, at(17));
    const waiting = 'awaiting_approval: waiting for approval of "migration" by anyone with the approver role except olivia (four eyes)';
    expect(out.chunks).toEqual([
      `2026-01-02T10:00:00Z w1 ${waiting}\n`,
      `2026-01-02T10:00:16Z w1 ${waiting}\n`,
      '2026-01-02T10:00:17Z w1 running: running step "migration"; rows 500/1,000 (50%), 4.9 KiB, ETA unknown, tables 0/2, partitions 1/4\n',
    ]);
  });

  it('while the run waits for its window, the countdown alone does not print a new line before the heartbeat', () => {
    const out = sink();
    const view = plainView(out, sink(), 15_000);
    const waiting = { ...state('running'), waitingForWindow: { opensAt: '2026-01-02T10:01:00Z' } };
    const at = (sec: number) => new Date(Date.UTC(2026, 0, 2, 10, 0, sec));
    view.update(waiting, { rowsPerSecond: null, bytesPerSecond: null }, at(0));
    view.update(waiting, { rowsPerSecond: null, bytesPerSecond: null }, at(1));
    view.update(waiting, { rowsPerSecond: null, bytesPerSecond: null }, at(16));
    // A copy paused by a closing window keeps showing how far it got.
    expect(out.chunks.filter((c) => c.includes('waiting for its window'))).toEqual([
      '2026-01-02T10:00:00Z w1 running: waiting for its window: opens at 2026-01-02T10:01:00Z, in 1m00s; rows 0/1,000 (0%), 0 B, ETA unknown, tables 0/2, partitions 1/4\n',
      '2026-01-02T10:00:16Z w1 running: waiting for its window: opens at 2026-01-02T10:01:00Z, in 44s; rows 0/1,000 (0%), 0 B, ETA unknown, tables 0/2, partitions 1/4\n',
    ]);
  });

  it('for a run of changes, each line shows the version and statement applied, not the copy', () => {
    const out = sink();
    const at = new Date(Date.UTC(2026, 0, 2, 10, 0, 0));
    const running = state('running');
    const changes: ChangesState = {
      ...running,
      kind: 'changes',
      changes: { database: 'shop', versionsTotal: 2, versionsDone: 0, current: { version: '7', name: 'backfill', statement: 1, statements: 1, sql: 'ALTER TABLE t UPDATE x = 1 WHERE 1', mutationPartsLeft: 3 }, stopped: null },
    };
    plainView(out, sink()).update(changes, { rowsPerSecond: null, bytesPerSecond: null }, at);
    expect(out.chunks).toEqual(['2026-01-02T10:00:00Z w1 running: running step "migration"; versions 0/2 done in shop; version 7 (backfill): statement 1 of 1, mutation parts left: 3\n']);
  });

  it('when the run ends, the final state follows the lines', () => {
    const out = sink();
    plainView(out, sink()).finish(state('completed', 1000), new Date());
    expect(out.text()).toMatch(/^w1: completed\n/);
  });
});

describe('jsonView', () => {
  it('prints one JSON line per poll with the rates, the ETA and the state', () => {
    const out = sink();
    const view = jsonView(out, sink());
    view.update(state('running', 500), { rowsPerSecond: 100, bytesPerSecond: 1000 }, new Date('2026-01-02T10:00:00Z'));
    view.update(state('completed', 1000), { rowsPerSecond: 100, bytesPerSecond: 1000 }, new Date('2026-01-02T10:00:05Z'));
    view.finish(state('completed', 1000), new Date());
    expect(out.chunks).toHaveLength(2);
    const first = JSON.parse(out.chunks[0]);
    expect(first).toMatchObject({ at: '2026-01-02T10:00:00.000Z', rowsPerSecond: 100, bytesPerSecond: 1000, etaSeconds: 5, state: { id: 'w1', status: 'running' } });
    expect(JSON.parse(out.chunks[1])).toMatchObject({ etaSeconds: 0, state: { status: 'completed' } });
  });
});

describe('per-table progress', () => {
  const followed = (rowsCopied: [number, number, number]): MigrationState => {
    const s = state('running', 500);
    s.tableProgress = [
      { database: 'shop', table: 'events', units: 12, rows: 1200, bytes: 12_000, rowsCopied: rowsCopied[0], bytesCopied: rowsCopied[0] * 10 },
      { database: 'shop', table: 'orders', units: 3, rows: 300, bytes: 3_000, rowsCopied: rowsCopied[1], bytesCopied: rowsCopied[1] * 10 },
      { database: 'shop', table: 'users', units: 2, rows: 200, bytes: 2_000, rowsCopied: rowsCopied[2], bytesCopied: rowsCopied[2] * 10 },
    ];
    return s;
  };

  it('shows the tables still copying, started ones first, finished ones not at all', () => {
    expect(tablesCopying(followed([0, 100, 200])).map((t) => t.table)).toEqual(['orders', 'events']);
    expect(tablesCopying(followed([0, 0, 0]), 2).map((t) => t.table)).toEqual(['events', 'orders']);
  });

  it('describes a table with rows, bytes, its own rates and ETA', () => {
    const [, orders] = followed([0, 100, 0]).tableProgress ?? [];
    expect(describeTable(orders, { rowsPerSecond: 50, bytesPerSecond: 500 })).toBe('shop.orders 33% rows 100/300 at 50/s, 1000 B/2.9 KiB at 500 B/s, ETA 4s');
    expect(describeTable(orders, undefined)).toBe('shop.orders 33% rows 100/300, 1000 B/2.9 KiB, ETA unknown');
  });

  it('when watched, each followed table gets rates of its own from successive polls', async () => {
    const client = clientAnswering([followed([0, 0, 0]), followed([600, 0, 0]), { ...followed([1200, 300, 200]), status: 'completed' }]);
    const rates: (number | null | undefined)[] = [];
    const view: WatchView = { update: (_s, r) => rates.push(r.tables?.get('shop.events')?.rowsPerSecond), notice: () => undefined, finish: () => undefined };
    let clock = 0;
    expect(await watchRun({ client, id: 'w1', view, intervalMs: 1, now: () => new Date(Date.UTC(2026, 0, 2, 10, 0, (clock += 2))) })).toBe(0);
    expect(rates).toEqual([null, 300, 300]);
  });

  it('in plain lines, each table still copying follows the run\'s line', () => {
    const out = sink();
    plainView(out, sink()).update(followed([600, 0, 200]), { rowsPerSecond: null, bytesPerSecond: null }, new Date(Date.UTC(2026, 0, 2, 10, 0, 0)));
    expect(out.chunks.slice(1)).toEqual(['  shop.events 50% rows 600/1,200, 5.9 KiB/11.7 KiB, ETA unknown\n', '  shop.orders 0% rows 0/300, 0 B/2.9 KiB, ETA unknown\n']);
  });
});
