import { currentDetails } from '../../src/workflows/details';
import { copyLabel, countLabel, rangesOf } from '../../src/workflows/ranges';
import { initialState } from '../../src/workflows/state';
import type { ChangesState } from '../../src/workflows/changes-types';
import type { CopyUnit, MigrationInput } from '../../src/workflows/types';

const input: MigrationInput = {
  id: 'shop-move',
  source: { url: 'http://127.0.0.1:8123', username: 'default', password: null },
  target: { url: 'http://127.0.0.1:8124', username: 'default', password: null },
  databases: ['shop'],
  approvals: { required: true },
  requestedBy: 'olivia_ops',
  options: { onConflict: 'fail', parallelism: 2, syncPasses: 3 },
};

const unit = (table: string, partitionId: string, rows: number, extra: Partial<CopyUnit> = {}): CopyUnit => ({
  database: 'shop',
  table,
  partitionId,
  partitioned: true,
  rows,
  bytes: rows * 10,
  ...extra,
});

describe('the current details the Web UI shows', () => {
  it('for a run of changes, show the version and statement at work and the parts its mutation has left, not copy progress', () => {
    const state: ChangesState = {
      ...initialState(input, 'run-2'),
      kind: 'changes',
      changes: { database: 'shop', versionsTotal: 3, versionsDone: 1, current: { version: '002', name: 'add_|region', statement: 2, statements: 4, sql: 'ALTER TABLE t UPDATE …', mutationPartsLeft: 7 }, stopped: null },
    };
    state.status = 'running';
    state.currentStep = 'migration';
    const details = currentDetails(state);
    expect(details).toContain('| versions done | 1 of 3 in the change set |');
    expect(details).toContain('| version | 002 (add\\_\\|region) |');
    expect(details).toContain('| statement | 2 of 4 |');
    expect(details).toContain('| mutation parts left | 7 |');
    expect(details).not.toContain('No copy has started yet.');
  });

  it('when the run waits at a gate, name the step, who may approve it (not the starter, under four eyes) and how', () => {
    const state = initialState(input, 'run-1');
    state.awaitingApproval = { step: 'configure' };
    state.steps[0].status = 'completed';
    state.steps[1].status = 'awaiting_approval';
    const details = currentDetails(state);
    expect(details).toContain('**Waiting for approval of `configure`.**');
    expect(details).toContain('approver or admin, other than olivia\\_ops who started it (four eyes)');
    expect(details).toContain('`clickhouse-migrator approve shop-move configure`');
    expect(details).toContain('| backup | completed |');
    expect(details).toContain('| configure | awaiting approval |');
    expect(details).toContain('No copy has started yet.');
  });

  it('while the copy runs, show progress as a table', () => {
    const state = initialState(input, 'run-1');
    state.currentStep = 'migration';
    state.progress = { tablesTotal: 4, tablesDone: 1, unitsTotal: 12, unitsDone: 5, rowsTotal: 1000, rowsCopied: 400, bytesCopied: 4096 };
    const details = currentDetails(state);
    expect(details.split('\n')[0]).toBe('**Running `migration`.**');
    expect(details).toContain('| tables | 1 | 4 |');
    expect(details).toContain('| units | 5 | 12 |');
    expect(details).toContain('| rows | 400 | 1000 |');
  });

  it('once the run ended, say how, with the first line of its error', () => {
    const state = initialState(input, 'run-1');
    state.status = 'rolled_back';
    state.error = { type: 'ClickHouseUnavailable', message: 'source ClickHouse: connect ECONNREFUSED 127.0.0.1:9\nstack' };
    expect(currentDetails(state).split('\n')[0]).toBe('**rolled back**: source ClickHouse: connect ECONNREFUSED 127.0.0.1:9');
  });
});

describe('the summaries of copy activities', () => {
  it('name the first table with its partition span, count the other tables and the rows', () => {
    expect(copyLabel([unit('events', '202401', 600_000, { partitionIds: ['202401', '202402', '202403'] }), unit('events', '202406', 600_000)])).toBe(
      'copy shop.events 202401–202406 (1.2 M rows)',
    );
    expect(copyLabel([unit('a', 'all', 10, { partitioned: false }), unit('b', 'all', 20, { partitioned: false }), unit('c', 'all', 30, { partitioned: false })])).toBe(
      'copy shop.a and 2 more tables (60 rows)',
    );
    expect(copyLabel([unit('my_table', '1', 5)])).toBe('copy shop.my_table 1 (5 rows)');
  });

  it('count as people read numbers', () => {
    expect([0, 950, 999, 1_000, 12_345, 99_960, 999_999, 1_200_000, 3_400_000_000].map(countLabel)).toEqual(['0', '950', '999', '1 k', '12 k', '100 k', '1 M', '1.2 M', '3.4 G']);
  });

  it('come one per range, in the order the workflow schedules them', () => {
    const ranges = rangesOf([{ list: 'units', count: 1_000 }]);
    expect(ranges.length).toBeLessThanOrEqual(200);
    expect(ranges[0]).toEqual({ list: 'units', from: 0, to: 5 });
    expect(ranges[ranges.length - 1].to).toBe(1_000);
  });

  it('when the approved step waits for its window, say when it opens; show the scope and the rate limits as tables', () => {
    const state = initialState(input, 'run-1');
    state.status = 'running';
    state.currentStep = 'migration';
    state.waitingForWindow = { opensAt: '2026-12-07T22:00:00.000Z' };
    state.scope = { tables: 12, rows: 5000, bytes: 1_048_576, excluded: 2 };
    state.rate = { maxBytesPerSecond: 20_971_520, maxRowsPerSecond: null, bytesPerSecond: null, rowsPerSecond: null };
    const details = currentDetails(state);
    expect(details).toContain('**Waiting for its window: opens at 2026-12-07T22:00:00.000Z.**');
    expect(details).toContain('| tables | 12 |');
    expect(details).toContain('| tables left out by include/exclude | 2 |');
    expect(details).toContain('| bytes per second | 20971520 | not yet |');
    expect(details).toContain('| rows per second | none | not yet |');
    state.waitingForWindow = null;
    state.rate = { ...state.rate, bytesPerSecond: 20_560_000.4, rowsPerSecond: 90.2 };
    expect(currentDetails(state)).toContain('**Running `migration`.**');
    expect(currentDetails(state)).toContain('| bytes per second | 20971520 | 20560000 |');
  });

  it('a run without scope, window or rate shows none of their tables', () => {
    expect(currentDetails(initialState(input, 'run-1'))).not.toMatch(/in scope|rate \||window/);
  });
});
