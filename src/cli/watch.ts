/**
 * `watch`: polls a run's state until it ends and shows it as it goes, as live bars on a terminal,
 * as plain lines in a pipe or a log, or as one JSON line per poll. The exit code says whether the
 * run completed.
 */
import { MultiBar, type SingleBar } from 'cli-progress';
import type { MigrationState, TableProgress } from '../workflows/types';
import { ApiUnreachableError, type ApiClient } from './api-client';
import { EXIT, exitCodeForRun, isFinal } from './exit-codes';
import { etaSeconds, percent, RateWindow, type Rates } from './rates';
import { describeChangesProgress, describeNow, describeRate, describeScope, describeTable, isChangesState, formatBytes, formatCount, formatEta, formatState, plainProgressLine, TABLES_SHOWN, tablesCopying } from './render';

/** The run's rates, and each followed table's by `database.table` (see `MigrationState.tableProgress`). */
export interface WatchRates extends Rates {
  tables?: ReadonlyMap<string, Rates>;
}

/** How a poll is shown. */
export interface WatchView {
  update(state: MigrationState, rates: WatchRates, at: Date): void;
  /** A message outside the progress display (an unreachable API that is retried). */
  notice(message: string): void;
  /** The run ended, or the watch stopped: leave the display in a clean state and say how it ended. */
  finish(state: MigrationState | null, at: Date): void;
}

export interface WatchOptions {
  client: ApiClient;
  id: string;
  view: WatchView;
  /** Time between polls. @default 1000 */
  intervalMs?: number;
  /** Consecutive polls that may fail to reach the API before the watch gives up. @default 10 */
  unreachableRetries?: number;
  /** Ends the watch early (Ctrl-C): the result is then {@link EXIT.interrupted}. */
  signal?: AbortSignal;
  now?: () => Date;
}

/** Polls until the run ends; returns the exit code (0 only for a completed run). API errors other than unreachability are thrown. */
export async function watchRun(options: WatchOptions): Promise<number> {
  const { client, id, view, signal } = options;
  const intervalMs = options.intervalMs ?? 1000;
  const retries = options.unreachableRetries ?? 10;
  const now = options.now ?? (() => new Date());
  const window = new RateWindow();
  const tableWindows = new Map<string, RateWindow>();
  let last: MigrationState | null = null;
  let failures = 0;
  try {
    while (!signal?.aborted) {
      try {
        last = await client.get(id);
        failures = 0;
      } catch (err) {
        if (!(err instanceof ApiUnreachableError) || ++failures > retries) throw err;
        view.notice(`${err.message} (attempt ${failures} of ${retries}, retrying)`);
        await sleep(intervalMs, signal);
        continue;
      }
      const at = now();
      // Rates count from the start of the copy, not from the hours a run may wait at a gate.
      if (last.progress.unitsTotal > 0) window.add({ at: at.getTime(), rows: last.progress.rowsCopied, bytes: last.progress.bytesCopied });
      view.update(last, { ...window.rates(), tables: tableRates(tableWindows, last, at) }, at);
      if (isFinal(last.status)) return exitCodeForRun(last.status);
      await sleep(intervalMs, signal);
    }
    return EXIT.interrupted;
  } finally {
    view.finish(last, now());
  }
}

/** Adds this poll to each followed table's rate window; returns their rates. */
function tableRates(windows: Map<string, RateWindow>, state: MigrationState, at: Date): Map<string, Rates> {
  const rates = new Map<string, Rates>();
  for (const table of state.tableProgress ?? []) {
    const name = tableName(table);
    const window = windows.get(name) ?? new RateWindow();
    windows.set(name, window);
    window.add({ at: at.getTime(), rows: table.rowsCopied, bytes: table.bytesCopied });
    rates.set(name, window.rates());
  }
  return rates;
}

function tableName(table: Pick<TableProgress, 'database' | 'table'>): string {
  return `${table.database}.${table.table}`;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
  });
}

/** A writable the views print to. */
export interface Output {
  write(text: string): unknown;
}

/** One JSON line per poll: the state, with the rates and ETA the CLI computed. */
export function jsonView(out: Output, err: Output): WatchView {
  return {
    update(state, rates, at) {
      const eta = etaSeconds(state.progress.rowsCopied, state.progress.rowsTotal, rates.rowsPerSecond);
      out.write(`${JSON.stringify({ at: at.toISOString(), ...rates, etaSeconds: state.progress.unitsTotal > 0 ? eta : null, state })}\n`);
    },
    notice: (message) => err.write(`${message}\n`),
    finish: () => undefined,
  };
}

/**
 * Plain lines for a pipe or a log: one when what the line says changes, and one every
 * `heartbeatMs` regardless; then the final state.
 */
export function plainView(out: Output, err: Output, heartbeatMs = 15_000): WatchView {
  let lastKey = '';
  let lastAt = 0;
  return {
    update(state, rates, at) {
      const line = plainProgressLine(state, rates, at);
      // The same line but for its time (and a window's countdown) is not printed again before the heartbeat.
      const same = plainProgressLine(state, rates, at, false);
      const key = same.slice(same.indexOf(' ') + 1);
      if (key === lastKey && at.getTime() - lastAt < heartbeatMs) return;
      lastKey = key;
      lastAt = at.getTime();
      out.write(`${line}\n`);
      if (state.status === 'running') for (const table of tablesCopying(state)) out.write(`  ${describeTable(table, rates.tables?.get(tableName(table)))}\n`);
    },
    notice: (message) => err.write(`${message}\n`),
    finish(state, at) {
      if (state && isFinal(state.status)) out.write(`${formatState(state, at)}\n`);
    },
  };
}

/**
 * Live bars on a terminal: what the run does and waits for, then, once the copy has begun, rows
 * (with bytes, rates and ETA), tables and partitions for the whole run, and a bar for each of the
 * largest tables still copying (at most TABLES_SHOWN; smaller tables land whole).
 */
export function barsView(stream: NodeJS.WriteStream): WatchView {
  const multi = new MultiBar(
    { stream, hideCursor: true, clearOnComplete: false, autopadding: true, barsize: 30, format: ' {label} [{bar}] {detail}' },
  );
  const textLine = { format: '{line}' };
  const status = multi.create(1, 0, { line: '' }, textLine);
  const waiting = multi.create(1, 0, { line: '' }, textLine);
  let changesLine: SingleBar | null = null;
  let scopeLine: SingleBar | null = null;
  let bars: { rows: SingleBar; tables: SingleBar; partitions: SingleBar; perTable: (SingleBar | null)[] } | null = null;
  return {
    update(state, rates, at) {
      status.update(0, { line: `${state.id}: ${state.status}${state.currentStep ? `, step ${state.currentStep}` : ''} (${at.toISOString().slice(11, 19)} UTC)` });
      waiting.update(0, { line: `  ${describeNow(state, at) ?? 'ended'}` });
      const about = [state.scope && describeScope(state.scope), state.rate && describeRate(state.rate)].filter(Boolean).join('; ');
      if (about) {
        scopeLine ??= multi.create(1, 0, { line: '' }, textLine);
        scopeLine.update(0, { line: `  ${about}` });
      }
      if (isChangesState(state)) {
        changesLine ??= multi.create(1, 0, { line: '' }, textLine);
        changesLine.update(0, { line: `  ${describeChangesProgress(state)}` });
        return;
      }
      const p = state.progress;
      if (p.unitsTotal === 0) return;
      bars ??= {
        rows: multi.create(1, 0, { label: 'rows      ', detail: '' }),
        tables: multi.create(1, 0, { label: 'tables    ', detail: '' }),
        partitions: multi.create(1, 0, { label: 'partitions', detail: '' }),
        perTable: Array.from({ length: Math.min(TABLES_SHOWN, state.tableProgress?.length ?? 0) }, () => null),
      };
      const rate = (perSecond: number | null, format: (n: number) => string) => (perSecond === null ? '-' : `${format(perSecond)}/s`);
      bars.rows.setTotal(Math.max(1, p.rowsTotal));
      bars.rows.update(Math.min(p.rowsCopied, p.rowsTotal), {
        detail: `${percent(p.rowsCopied, p.rowsTotal)}% ${formatCount(p.rowsCopied)}/${formatCount(p.rowsTotal)} at ${rate(rates.rowsPerSecond, formatCount)}, ${formatBytes(p.bytesCopied)} at ${rate(rates.bytesPerSecond, formatBytes)}, ${formatEta(etaSeconds(p.rowsCopied, p.rowsTotal, rates.rowsPerSecond))}`,
      });
      bars.tables.setTotal(Math.max(1, p.tablesTotal));
      bars.tables.update(p.tablesDone, { detail: `${p.tablesDone}/${p.tablesTotal}` });
      bars.partitions.setTotal(Math.max(1, p.unitsTotal));
      bars.partitions.update(p.unitsDone, { detail: `${p.unitsDone}/${p.unitsTotal}` });
      // A bar per table still copying; a slot with no such table shows no line at all.
      const { perTable } = bars;
      const copying = tablesCopying(state, perTable.length);
      perTable.forEach((slot, i) => {
        const table = copying[i];
        if (!table) {
          if (slot) multi.remove(slot);
          perTable[i] = null;
          return;
        }
        const bar = slot ?? multi.create(1, 0, { label: ' table    ', detail: '' });
        perTable[i] = bar;
        bar.setTotal(Math.max(1, table.rows));
        bar.update(Math.min(table.rowsCopied, table.rows), { detail: describeTable(table, rates.tables?.get(tableName(table))) });
      });
    },
    notice: (message) => multi.log(`${message}\n`),
    finish(state, at) {
      multi.stop();
      if (state && isFinal(state.status)) stream.write(`\n${formatState(state, at)}\n`);
    },
  };
}
