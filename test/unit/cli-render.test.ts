import { ApiError, ApiUnreachableError } from '../../src/cli/api-client';
import { UsageError } from '../../src/cli/exit-codes';
import { describeChangesProgress, describeNow, describeProgress, describeRate, describeScope, errorDocument, formatBytes, formatDuration, formatError, formatList, formatState, isChangesState, plainProgressLine, whoMayApprove } from '../../src/cli/render';
import type { ChangesState } from '../../src/workflows/changes-types';
import { initialState } from '../../src/workflows/state';
import type { MigrationInput, MigrationState } from '../../src/workflows/types';

const NO_RATES = { rowsPerSecond: null, bytesPerSecond: null };
const NOW = new Date('2026-01-02T10:00:30Z');

function state(overrides: Partial<MigrationState> = {}, requestedBy: string | null = 'olivia'): MigrationState {
  const input: MigrationInput = {
    id: 'demo-1',
    source: { url: 'http://s:8123', username: 'default', password: null },
    target: { url: 'http://t:8123', username: 'default', password: null },
    databases: ['demo'],
    approvals: { required: true },
    requestedBy: requestedBy ?? undefined,
    options: { onConflict: 'fail', parallelism: 2, syncPasses: 3 },
  };
  return { ...initialState(input, 'run-123'), ...overrides };
}

/** A run in the middle of its copy: backup to validation done, migration running. */
function copying(): MigrationState {
  const s = state({ status: 'running', currentStep: 'migration', transferPath: 'server' });
  const at = (sec: number) => new Date(Date.UTC(2026, 0, 2, 10, 0, sec)).toISOString();
  s.steps = s.steps.map((step, i) => ({ ...step, status: i < 3 ? 'completed' : 'running', startedAt: at(i * 5), finishedAt: i < 3 ? at(i * 5 + 3) : null }));
  s.steps[2].result = { totals: { tables: 6, views: 1, partitions: 40, rows: 50_000, bytesOnDisk: 3 * 1024 * 1024 }, transfer: { path: 'server' }, unsupported: [] };
  s.progress = { tablesTotal: 6, tablesDone: 2, unitsTotal: 40, unitsDone: 10, rowsTotal: 50_000, rowsCopied: 12_500, bytesCopied: 1_572_864 };
  s.approvals = [{ step: 'configure', by: 'ana', comment: 'disk looks fine', at: at(4), via: 'update' }];
  return s;
}

describe('number and time formats', () => {
  it('formats bytes in binary units and durations in the largest two units', () => {
    expect([0, 512, 1536, 5 * 1024 ** 3].map(formatBytes)).toEqual(['0 B', '512 B', '1.5 KiB', '5.0 GiB']);
    expect([0, 45, 185, 7_620].map(formatDuration)).toEqual(['0s', '45s', '3m05s', '2h07m']);
  });
});

describe('whoMayApprove', () => {
  it('when four eyes applies, it names the starter who may not approve', () => {
    expect(whoMayApprove({ fourEyes: true, requestedBy: 'olivia' })).toBe('anyone with the approver role except olivia (four eyes)');
    expect(whoMayApprove({ fourEyes: false, requestedBy: 'olivia' })).toBe('anyone with the approver role');
  });
});

describe('formatState', () => {
  it('when the run waits for approval, it says for which step and who may approve', () => {
    const s = state({ status: 'awaiting_approval', currentStep: 'configure', awaitingApproval: { step: 'configure' } });
    s.steps[0] = { ...s.steps[0], status: 'completed', startedAt: '2026-01-02T10:00:00Z', finishedAt: '2026-01-02T10:00:02Z', result: { totalRows: 1234, tables: [{}, {}] } };
    s.steps[1] = { ...s.steps[1], status: 'awaiting_approval' };
    const text = formatState(s, NOW);
    expect(text).toContain('demo-1: awaiting_approval');
    expect(text).toContain('now:        waiting for approval of "configure" by anyone with the approver role except olivia (four eyes)');
    expect(text).toContain('started by: olivia (four eyes: may not approve)');
    expect(text).toMatch(/backup\s+completed\s+2s/);
    expect(text).toContain('restore point rehearsed: 2 tables, 1,234 rows');
    expect(text).toMatch(/configure\s+awaiting_approval/);
  });

  it('when the copy runs, it shows the progress, the plan of validation and the approvals', () => {
    const text = formatState(copying(), NOW, { rowsPerSecond: 2_500, bytesPerSecond: 1024 * 1024 });
    expect(text).toContain('progress:   rows 12,500/50,000 (25%) (2,500/s), 1.5 MiB (1.0 MiB/s), ETA 15s, tables 2/6, partitions 10/40');
    expect(text).toContain('6 tables, 1 views, 40 partitions, 50,000 rows, 3.0 MiB on disk; transfer via server; 0 unsupported');
    expect(text).toMatch(/migration\s+running\s+15s/);
    expect(text).toContain('configure   by ana at 2026-01-02T10:00:04.000Z via update: disk looks fine');
  });

  it('when the run was rejected or failed, it shows who rejected and why, and the error and rollback', () => {
    const rejected = state({ status: 'rejected', rejection: { step: 'validation', by: 'ben', reason: 'wrong database', at: '2026-01-02T10:00:10Z', via: 'update' } });
    expect(formatState(rejected, NOW)).toContain('rejected:   "validation" by ben at 2026-01-02T10:00:10Z: wrong database');
    const failed = state({
      status: 'rolled_back',
      error: { type: 'VerificationFailed', message: 'source and target still differ' },
      rollback: { dropped: ['demo.a'], restored: [], verified: [{ database: 'demo', table: 'a', before: [], after: [], match: true }] },
    });
    const text = formatState(failed, NOW);
    expect(text).toContain('error:      VerificationFailed: source and target still differ');
    expect(text).toContain('rollback:   dropped 1 objects, restored 0 tables, 1/1 verified against the restore point');
  });

  it('when the migration step has verified the tables, it lists each table with its rows', () => {
    const s = copying();
    s.status = 'completed';
    s.steps[3] = {
      ...s.steps[3],
      status: 'completed',
      result: {
        copied: { rows: 50_000, bytes: 2048, units: 40 },
        verification: [
          { database: 'demo', table: 'events', sourceRows: 45_000, targetRows: 45_000, match: true },
          { database: 'demo', table: 'users', sourceRows: 5_000, targetRows: 4_999, match: false },
        ],
      },
    };
    const text = formatState(s, NOW);
    expect(text).toContain('copied 50,000 rows (2.0 KiB); 1/2 tables verified');
    expect(text).toMatch(/demo\.events\s+45,000 rows {2}verified/);
    expect(text).toMatch(/demo\.users\s+4,999 rows {2}DIFFERS \(source 5,000\)/);
  });
});

describe('progress lines', () => {
  it('when nothing has been planned for copy yet, there is no progress to show', () => {
    expect(describeProgress(state(), NO_RATES)).toBeNull();
  });

  it('when the copy runs without a known rate, the ETA is unknown', () => {
    expect(describeProgress(copying(), NO_RATES)).toBe('rows 12,500/50,000 (25%), 1.5 MiB, ETA unknown, tables 2/6, partitions 10/40');
  });

  it('a plain line holds the time, the run, what it does and its progress', () => {
    expect(plainProgressLine(copying(), { rowsPerSecond: 12_500, bytesPerSecond: null }, NOW)).toBe(
      '2026-01-02T10:00:30Z demo-1 running: running step "migration"; rows 12,500/50,000 (25%) (12,500/s), 1.5 MiB, ETA 3s, tables 2/6, partitions 10/40',
    );
    const waiting = state({ status: 'awaiting_approval', currentStep: 'migration', awaitingApproval: { step: 'migration' } }, null);
    expect(plainProgressLine(waiting, NO_RATES, NOW)).toBe('2026-01-02T10:00:30Z demo-1 awaiting_approval: waiting for approval of "migration" by anyone with the approver role');
  });
  it('when the run has ended, the line is its status alone', () => {
    expect(plainProgressLine(state({ status: 'cancelled' }), NO_RATES, NOW)).toBe('2026-01-02T10:00:30Z demo-1 cancelled');
  });
});

describe('formatList', () => {
  it('aligns the runs in columns, and says so when there are none', () => {
    expect(formatList([])).toBe('No migrations.');
    const text = formatList([
      { id: 'a', runId: 'r1', status: 'completed', currentStep: null, startedAt: '2026-01-02T10:00:00.000Z', closedAt: '2026-01-02T10:05:00.000Z' },
      { id: 'long-id', runId: 'r2', status: 'awaiting_approval', currentStep: 'configure', startedAt: '2026-01-02T11:00:00.000Z', closedAt: null },
    ]);
    expect(text.split('\n')).toEqual([
      'ID       STATUS             STEP       STARTED                   CLOSED',
      'a        completed          -          2026-01-02T10:00:00.000Z  2026-01-02T10:05:00.000Z',
      'long-id  awaiting_approval  configure  2026-01-02T11:00:00.000Z  -',
    ]);
  });
});

describe('formatError', () => {
  it('when the API refused fields, each field is named with its reason', () => {
    const err = new ApiError(400, { error: 'invalid_request', issues: [{ path: 'databases.0', message: 'system databases cannot be migrated' }, { path: '', message: 'malformed JSON' }] }, 'POST', 'http://api/migrations');
    expect(formatError(err).split('\n')).toEqual([
      'error: the API answered 400 invalid_request (POST http://api/migrations)',
      '  databases.0: system databases cannot be migrated',
      '  (request body): malformed JSON',
    ]);
  });

  it('when the API gives details, they are shown; a 401 points at the token', () => {
    const fourEyes = new ApiError(403, { error: 'four_eyes', message: 'olivia started the run', startedBy: 'olivia' }, 'POST', 'http://api/migrations/m/approve');
    expect(formatError(fourEyes)).toBe('error: the API answered 403 four_eyes: olivia started the run (POST http://api/migrations/m/approve)\n  startedBy: olivia');
    const conflict = new ApiError(409, { error: 'not_awaiting_approval', message: 'no', awaitingApproval: { step: 'validation' } }, 'POST', 'http://api/x');
    expect(formatError(conflict)).toContain('  awaitingApproval: {"step":"validation"}');
    expect(formatError(new ApiError(401, { error: 'unauthorized', message: 'unknown token' }, 'GET', 'http://api/migrations'))).toMatch(/check --token or MIGRATOR_TOKEN$/);
  });

  it('when the API is unreachable, the message names the URL', () => {
    expect(formatError(new ApiUnreachableError('http://127.0.0.1:9/migrations', 'connect ECONNREFUSED 127.0.0.1:9'))).toBe(
      'error: cannot reach the API at http://127.0.0.1:9/migrations: connect ECONNREFUSED 127.0.0.1:9',
    );
  });

  it('as JSON, an error keeps the API document with its status, or says what kind it is', () => {
    expect(errorDocument(new ApiError(404, { error: 'not_found', message: 'x' }, 'GET', 'u'))).toEqual({ error: 'not_found', message: 'x', status: 404 });
    expect(errorDocument(new ApiUnreachableError('http://h/migrations', 'refused'))).toEqual({ error: 'unreachable', url: 'http://h/migrations', message: 'cannot reach the API at http://h/migrations: refused' });
    expect(errorDocument(new UsageError('bad'))).toEqual({ error: 'usage', message: 'bad' });
  });
});

/** A run of changes applying version 002, statement 2 of 3, with a mutation still rewriting parts. */
function applyingChanges(mutationPartsLeft: number | null = 14): ChangesState {
  const s = state({ status: 'running', currentStep: 'migration' });
  return {
    ...s,
    kind: 'changes',
    changes: {
      database: 'shop',
      versionsTotal: 3,
      versionsDone: 1,
      current: { version: '002', name: 'add status', statement: 2, statements: 3, sql: 'ALTER TABLE orders UPDATE status = 1 WHERE 1', mutationPartsLeft },
      stopped: null,
    },
  };
}

describe('a run of changes', () => {
  it('shows the version and statement it applies and the mutation parts left, instead of the copy progress', () => {
    const text = formatState(applyingChanges(), NOW);
    expect(text).toContain('progress:   versions 1/3 done in shop; version 002 (add status): statement 2 of 3, mutation parts left: 14');
    expect(text).not.toMatch(/rows|partitions/);
  });

  it('leaves out the mutation parts when no mutation runs', () => {
    expect(describeChangesProgress(applyingChanges(null))).toBe('versions 1/3 done in shop; version 002 (add status): statement 2 of 3');
  });

  it('says where a run stopped under onFailure "stop"', () => {
    const s = applyingChanges();
    const stopped: ChangesState = { ...s, status: 'failed', currentStep: null, changes: { ...s.changes, current: null, stopped: { version: '002', applied: 1, statements: 3 } } };
    expect(formatState(stopped, NOW)).toContain('progress:   versions 1/3 done in shop; stopped at version 002 after 1 of 3 statements');
  });

  it('in a plain watch line, the statement follows the step', () => {
    expect(plainProgressLine(applyingChanges(), NO_RATES, NOW)).toBe(
      '2026-01-02T10:00:30Z demo-1 running: running step "migration"; versions 1/3 done in shop; version 002 (add status): statement 2 of 3, mutation parts left: 14',
    );
  });

  it('summarizes each step by what it found of the changes, not by copies', () => {
    const s = applyingChanges();
    const steps = s.steps.map((step) => ({ ...step, status: 'completed' as const }));
    steps[1].result = { pendingVersions: 2, pendingStatements: 3, versions: [{ status: 'applied', pending: [] }, { status: 'pending', pending: [{ heavy: null }, { heavy: { reason: 'a mutation', bytes: 10 } }] }, { status: 'pending', pending: [{ heavy: null }] }], untracked: [{}], problems: [] };
    steps[2].result = { statements: 3, tables: 4, sampledRows: 12000, rowsPerPartition: 10000, notStaged: [] };
    steps[3].result = { applied: [{}, {}], statements: 3 };
    const text = formatState({ ...s, steps }, NOW);
    expect(text).toContain('2 versions to apply (3 statements, 1 rewriting data), 1 applied before, 0 drifted, 1 untracked changes, 0 problems');
    expect(text).toContain('staged 3 statements on a shadow of 4 tables with 12,000 real rows (at most 10,000 per partition); 0 objects not staged');
    expect(text).toContain('applied 3 statements of 2 versions');
    expect(text).not.toMatch(/copied|conflicts/);
  });

  it('tells a transfer from a run of changes', () => {
    expect([isChangesState(copying()), isChangesState(applyingChanges())]).toEqual([false, true]);
  });
});

describe('the scope, window and rate of a transfer', () => {
  it('shows what is in scope and how many tables the filters left out', () => {
    expect(describeScope({ tables: 12, rows: 1_234_567, bytes: 3.2 * 1024 ** 3, excluded: 2 })).toBe('12 tables (1,234,567 rows, 3.2 GiB) in scope, 2 left out by include/exclude');
    expect(describeScope({ tables: 1, rows: 0, bytes: 0, excluded: 0 })).toBe('1 table (0 rows, 0 B) in scope, none left out by include/exclude');
    const text = formatState(state({ status: 'awaiting_approval', awaitingApproval: { step: 'configure' }, scope: { tables: 3, rows: 10, bytes: 2048, excluded: 1 } }), NOW);
    expect(text).toContain('  scope:      3 tables (10 rows, 2.0 KiB) in scope, 1 left out by include/exclude');
    const problem = 'the materialized view shop.totals reads shop.raw, which exclude pattern "shop.raw" leaves out: leave both in scope or both out';
    const named = formatState(
      state({ status: 'awaiting_approval', awaitingApproval: { step: 'configure' }, scope: { tables: 1, rows: 0, bytes: 0, excluded: 1, leftOut: [{ database: 'shop', name: 'raw', field: 'exclude', pattern: 'shop.raw' }], problems: [problem] } }),
      NOW,
    );
    expect(named).toContain('\n    left out: shop.raw (exclude "shop.raw")\n');
    expect(named).toContain(`\n    problem:  ${problem}`);
  });

  it('when the approved step waits for its window, says when it opens and in how long', () => {
    const waiting = state({ status: 'running', currentStep: 'migration', waitingForWindow: { opensAt: '2026-01-02T10:00:58Z' } });
    expect(describeNow(waiting, NOW)).toBe('waiting for its window: opens at 2026-01-02T10:00:58Z, in 28s');
    expect(describeNow(waiting)).toBe('waiting for its window: opens at 2026-01-02T10:00:58Z');
    expect(describeNow({ ...waiting, waitingForWindow: { opensAt: '2026-01-02T12:05:30Z' } }, NOW)).toMatch(/, in 2h05m$/);
    expect(describeNow({ ...waiting, waitingForWindow: { opensAt: '2026-01-02T10:00:30Z' } }, NOW)).toMatch(/, any moment now$/);
    expect(formatState(waiting, NOW)).toContain('  now:        waiting for its window: opens at 2026-01-02T10:00:58Z, in 28s');
    expect(plainProgressLine(waiting, NO_RATES, NOW)).toBe('2026-01-02T10:00:30Z demo-1 running: waiting for its window: opens at 2026-01-02T10:00:58Z, in 28s');
    // A gate comes first: the window is waited for after the approval.
    expect(describeNow({ ...waiting, status: 'awaiting_approval', awaitingApproval: { step: 'migration' } }, NOW)).toMatch(/^waiting for approval/);
  });

  it('shows the configured limit and the rate reached, for the measures that have a limit', () => {
    const mib = 2 ** 20;
    expect(describeRate({ maxBytesPerSecond: 20 * mib, maxRowsPerSecond: null, bytesPerSecond: 19.6 * mib, rowsPerSecond: 5000 })).toBe('20.0 MiB/s limit, 19.6 MiB/s reached');
    expect(describeRate({ maxBytesPerSecond: null, maxRowsPerSecond: 50_000, bytesPerSecond: null, rowsPerSecond: null })).toBe('50,000 rows/s limit, not measured yet');
    expect(describeRate({ maxBytesPerSecond: 20 * mib, maxRowsPerSecond: 50_000, bytesPerSecond: 19.6 * mib, rowsPerSecond: 48_120 })).toBe(
      '20.0 MiB/s limit, 19.6 MiB/s reached; 50,000 rows/s limit, 48,120 rows/s reached',
    );
    expect(describeRate({ maxBytesPerSecond: null, maxRowsPerSecond: null, bytesPerSecond: mib, rowsPerSecond: 10 })).toBe('no byte limit, 1.0 MiB/s reached; no row limit, 10 rows/s reached');
    const throttled = { ...copying(), rate: { maxBytesPerSecond: 20 * mib, maxRowsPerSecond: null, bytesPerSecond: 19.6 * mib, rowsPerSecond: 100 } };
    expect(formatState(throttled, NOW)).toContain('  rate:       20.0 MiB/s limit, 19.6 MiB/s reached');
    expect(plainProgressLine(throttled, NO_RATES, NOW)).toMatch(/partitions 10\/40; 20\.0 MiB\/s limit, 19\.6 MiB\/s reached$/);
  });

  it('a state without these fields (a run started before them) shows none of them', () => {
    const text = formatState(copying(), NOW);
    expect(text).not.toMatch(/scope:|rate:|window/);
  });
});
