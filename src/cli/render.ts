/**
 * Human-readable text for the CLI: a run's state, the list of runs, progress lines and API
 * errors. Pure functions of their inputs (time is passed in), so tests can pin the output.
 */
import type { ChangesState } from '../workflows/changes-types';
import type { MigrationState, StepState, TableProgress } from '../workflows/types';
import { ApiError, ApiUnreachableError, type ListedMigration, type StartAnswer } from './api-client';
import { UsageError } from './exit-codes';
import { etaSeconds, percent, type Rates } from './rates';

const numberFormat = new Intl.NumberFormat('en-US');

export function formatCount(n: number): string {
  return numberFormat.format(Math.round(n));
}

/** Bytes in binary units with one decimal: `512 B`, `1.5 KiB`, `3.2 GiB`. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = n;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${Math.round(value)} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** A duration in seconds as `45s`, `3m05s` or `2h07m`. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export function formatEta(seconds: number | null): string {
  return seconds === null ? 'ETA unknown' : seconds === 0 ? 'done' : `ETA ${formatDuration(seconds)}`;
}

/** Who may decide the step a run waits for: an approver, and under four eyes not its starter. */
export function whoMayApprove(state: Pick<MigrationState, 'fourEyes' | 'requestedBy'>): string {
  return state.fourEyes && state.requestedBy ? `anyone with the approver role except ${state.requestedBy} (four eyes)` : 'anyone with the approver role';
}

/**
 * What the run is doing now, in one line; null once it has ended (its status says how). With
 * `now`, a wait for the maintenance window says how long it has left.
 */
export function describeNow(state: MigrationState, now?: Date): string | null {
  if (state.awaitingApproval) return `waiting for approval of "${state.awaitingApproval.step}" by ${whoMayApprove(state)}`;
  if (state.status === 'running' && state.waitingForWindow) return describeWindowWait(state.waitingForWindow, now);
  if (state.status === 'running') return state.currentStep ? `running step "${state.currentStep}"` : 'starting';
  return null;
}

/** `waiting for its window: opens at 2026-12-07T22:00:00Z, in 28s` (the countdown only with `now`). */
export function describeWindowWait(wait: { opensAt: string }, now?: Date): string {
  const at = `waiting for its window: opens at ${wait.opensAt}`;
  if (!now) return at;
  const seconds = (Date.parse(wait.opensAt) - now.getTime()) / 1000;
  if (Number.isNaN(seconds)) return at;
  return `${at}, ${seconds >= 1 ? `in ${formatDuration(seconds)}` : 'any moment now'}`;
}

/** What is in scope: `12 tables (1,234 rows, 3.2 GiB) in scope, 2 left out by include/exclude`. */
export function describeScope(scope: NonNullable<MigrationState['scope']>): string {
  const tables = (n: number) => `${formatCount(n)} ${n === 1 ? 'table' : 'tables'}`;
  return `${tables(scope.tables)} (${formatCount(scope.rows)} rows, ${formatBytes(scope.bytes)}) in scope, ${scope.excluded === 0 ? 'none' : formatCount(scope.excluded)} left out by include/exclude`;
}

/** The copy's limits and what it reached: `20.0 MiB/s limit, 19.6 MiB/s reached; 50,000 rows/s limit, 48,120 rows/s reached`. */
export function describeRate(rate: NonNullable<MigrationState['rate']>): string {
  const part = (limit: number | null, reached: number | null, format: (n: number) => string, unlimited: string) =>
    `${limit === null ? unlimited : `${format(limit)}/s limit`}, ${reached === null ? 'not measured yet' : `${format(reached)}/s reached`}`;
  const bytes = part(rate.maxBytesPerSecond, rate.bytesPerSecond, formatBytes, 'no byte limit');
  const rows = part(rate.maxRowsPerSecond, rate.rowsPerSecond, (n) => `${formatCount(n)} rows`, 'no row limit');
  // A limit on one measure only: the other says nothing the operator asked for.
  if (rate.maxRowsPerSecond === null && rate.maxBytesPerSecond !== null) return bytes;
  if (rate.maxBytesPerSecond === null && rate.maxRowsPerSecond !== null) return rows;
  return `${bytes}; ${rows}`;
}

/** The source's replication during the copy against before it: `largest delay 2 s during the copy (before it: 0 s), largest queue 3, 14 samples`. */
export function describeSourceReplication(r: NonNullable<MigrationState['sourceReplication']>): string {
  const before = r.baselineMaxDelaySeconds === null ? 'not measured' : `${r.baselineMaxDelaySeconds} s`;
  return `largest delay ${r.maxDelaySecondsDuringCopy} s during the copy (before it: ${before}), largest queue ${r.maxQueueDuringCopy}, ${r.samples} samples`;
}

/** The copy's progress in one line: rows with percent, bytes, rates and ETA, tables and partitions. */
export function describeProgress(state: MigrationState, rates: Rates): string | null {
  const p = state.progress;
  if (p.unitsTotal === 0) return null;
  const rate = (perSecond: number | null, format: (n: number) => string) => (perSecond === null ? '' : ` (${format(perSecond)}/s)`);
  return [
    `rows ${formatCount(p.rowsCopied)}/${formatCount(p.rowsTotal)} (${percent(p.rowsCopied, p.rowsTotal)}%)${rate(rates.rowsPerSecond, formatCount)}`,
    `${formatBytes(p.bytesCopied)}${rate(rates.bytesPerSecond, formatBytes)}`,
    formatEta(etaSeconds(p.rowsCopied, p.rowsTotal, rates.rowsPerSecond)),
    `tables ${p.tablesDone}/${p.tablesTotal}`,
    `partitions ${p.unitsDone}/${p.unitsTotal}`,
  ].join(', ');
}

/** Whether a state document is a run of changes (its own progress) rather than a transfer (the copy's). */
export function isChangesState(state: MigrationState): state is ChangesState {
  return (state as Partial<ChangesState>).kind === 'changes' && (state as Partial<ChangesState>).changes !== undefined;
}

/** The statement a run of changes applies now: `version 002 (add status): statement 2 of 3`, and the mutation parts it has left. */
export function describeCurrentChange(state: ChangesState): string | null {
  const current = state.changes.current;
  if (!current) return null;
  const at = `version ${current.version} (${current.name}): statement ${current.statement} of ${current.statements}`;
  return current.mutationPartsLeft === null ? at : `${at}, mutation parts left: ${formatCount(current.mutationPartsLeft)}`;
}

/** A run of changes' progress in one line: versions done, the statement it applies, or the version it stopped at. */
export function describeChangesProgress(state: ChangesState): string {
  const c = state.changes;
  const parts = [`versions ${c.versionsDone}/${c.versionsTotal} done in ${c.database}`];
  const current = describeCurrentChange(state);
  if (current) parts.push(current);
  if (c.stopped) parts.push(`stopped at version ${c.stopped.version} after ${c.stopped.applied} of ${c.stopped.statements} statements (recorded dirty: a later run resumes after them)`);
  return parts.join('; ');
}

/** What a poll shows of a run's progress: the changes' for a run of changes, the copy's for a transfer. */
function progressOf(state: MigrationState, rates: Rates): string | null {
  return isChangesState(state) ? describeChangesProgress(state) : describeProgress(state, rates);
}

/** Followed tables `watch` shows at once, the started ones first. */
export const TABLES_SHOWN = 5;

/** The followed tables still copying (see `MigrationState.tableProgress`): started ones first, then in plan order, at most `limit`. */
export function tablesCopying(state: Pick<MigrationState, 'tableProgress'>, limit = TABLES_SHOWN): TableProgress[] {
  const open = (state.tableProgress ?? []).filter((t) => t.rowsCopied < t.rows);
  return [...open.filter((t) => t.rowsCopied > 0), ...open.filter((t) => t.rowsCopied === 0)].slice(0, limit);
}

/** One followed table's copy: rows with percent, bytes, rates and ETA. */
export function describeTable(table: TableProgress, rates: Rates | undefined): string {
  const rate = (perSecond: number | null | undefined, format: (n: number) => string) => (perSecond == null ? '' : ` at ${format(perSecond)}/s`);
  return [
    `${table.database}.${table.table} ${percent(table.rowsCopied, table.rows)}% rows ${formatCount(table.rowsCopied)}/${formatCount(table.rows)}${rate(rates?.rowsPerSecond, formatCount)}`,
    `${formatBytes(table.bytesCopied)}/${formatBytes(table.bytes)}${rate(rates?.bytesPerSecond, formatBytes)}`,
    formatEta(etaSeconds(table.rowsCopied, table.rows, rates?.rowsPerSecond ?? null)),
  ].join(', ');
}

/**
 * One plain line per poll, for `watch` when stdout is not a terminal. `countdown` false leaves out
 * the time left to a window, so that lines which differ only by it can be told apart as the same.
 */
export function plainProgressLine(state: MigrationState, rates: Rates, at: Date, countdown = true): string {
  const copying = state.status === 'running' && state.currentStep === 'migration';
  const progress = copying ? progressOf(state, rates) : null;
  const rate = copying && state.rate && !state.waitingForWindow ? describeRate(state.rate) : null;
  const doing = describeNow(state, countdown ? at : undefined);
  return `${at.toISOString().replace(/\.\d+Z$/, 'Z')} ${state.id} ${state.status}${doing ? `: ${doing}` : ''}${progress ? `; ${progress}` : ''}${rate ? `; ${rate}` : ''}`;
}

function elapsed(step: StepState, now: Date): string {
  if (!step.startedAt) return '';
  const end = step.finishedAt ? Date.parse(step.finishedAt) : now.getTime();
  return formatDuration((end - Date.parse(step.startedAt)) / 1000);
}

const list = (value: unknown) => (Array.isArray(value) ? value : []);

/** A few words on what a step found, from its result (for the person deciding on the next step). */
export function summarizeResult(step: StepState, changes = false): string | null {
  const r = step.result as Record<string, unknown> | undefined;
  if (!r || typeof r !== 'object') return null;
  if (changes && step.name !== 'backup') return summarizeChangesResult(step.name, r);
  switch (step.name) {
    case 'backup':
      return typeof r.totalRows === 'number' ? `restore point rehearsed: ${typeof r.tableCount === 'number' ? r.tableCount : list(r.tables).length} tables, ${formatCount(r.totalRows)} rows` : null;
    case 'configure': {
      const parts = [`target ${String(r.version)}`];
      if (typeof r.requiredBytes === 'number') parts.push(`needs ${formatBytes(r.requiredBytes)}, free ${typeof r.freeBytes === 'number' ? formatBytes(r.freeBytes) : 'unknown'}`);
      parts.push(`${list(r.conflicts).length} conflicts`, `${list(r.warnings).length} warnings`, `${list(r.problems).length} problems`);
      const topology = r.topology as { target?: { summary?: string } } | undefined;
      return `${parts.join(', ')}${topology?.target?.summary ? `; target topology: ${topology.target.summary}` : ''}`;
    }
    case 'validation': {
      const t = r.totals as Record<string, number> | undefined;
      const transfer = r.transfer as { path?: string } | undefined;
      if (!t) return null;
      const topology = r.topology as { summary?: string } | undefined;
      return `${t.tables} tables, ${t.views} views, ${formatCount(t.partitions)} partitions, ${formatCount(t.rows)} rows, ${formatBytes(t.bytesOnDisk)} on disk; transfer via ${transfer?.path ?? '?'}; ${list(r.unsupported).length} unsupported${topology?.summary ? `; source topology: ${topology.summary}` : ''}`;
    }
    case 'migration': {
      const copied = r.copied as { rows?: number; bytes?: number } | undefined;
      const verified = list(r.verification) as { match?: boolean }[];
      // Runs with a manifest list the first tables only, and count them all.
      const counts = (r.counts as { verified: number; matched: number } | undefined) ?? { verified: verified.length, matched: verified.filter((v) => v.match).length };
      return `copied ${formatCount(copied?.rows ?? 0)} rows (${formatBytes(copied?.bytes ?? 0)}); ${counts.matched}/${counts.verified} tables verified`;
    }
  }
}

/** What a step of a run of changes found: the plan, the staging, what was applied. */
function summarizeChangesResult(step: Exclude<StepState['name'], 'backup'>, r: Record<string, unknown>): string {
  const n = (value: unknown) => formatCount(typeof value === 'number' ? value : 0);
  switch (step) {
    case 'configure': {
      const versions = list(r.versions) as { status?: string; pending?: { heavy?: unknown }[] }[];
      const count = (status: string) => versions.filter((v) => v.status === status).length;
      const heavy = versions.flatMap((v) => list(v.pending) as { heavy?: unknown }[]).filter((s) => s.heavy).length;
      return `${n(r.pendingVersions)} versions to apply (${n(r.pendingStatements)} statements, ${heavy} rewriting data), ${count('applied')} applied before, ${count('drift')} drifted, ${list(r.untracked).length} untracked changes, ${list(r.problems).length} problems`;
    }
    case 'validation':
      return `staged ${n(r.statements)} statements on a shadow of ${n(r.tables)} tables with ${n(r.sampledRows)} real rows (at most ${n(r.rowsPerPartition)} per partition); ${list(r.notStaged).length} objects not staged`;
    case 'migration':
      return `applied ${n(r.statements)} statements of ${list(r.applied).length} versions`;
  }
}

/** The per-table verification of a finished migration step: source and target rows, match. */
export function formatVerification(state: MigrationState): string[] {
  const step = state.steps.find((s) => s.name === 'migration');
  const result = step?.result as { verification?: unknown; counts?: { verified: number } } | undefined;
  const tables = (result?.verification ?? []) as { database: string; table: string; sourceRows: number; targetRows: number; match: boolean; final?: { match: boolean } }[];
  if (!Array.isArray(tables) || tables.length === 0) return [];
  const width = Math.max(...tables.map((t) => `${t.database}.${t.table}`.length));
  const lines = tables.map((t) => `  ${`${t.database}.${t.table}`.padEnd(width)}  ${formatCount(t.targetRows).padStart(12)} rows  ${t.match ? 'verified' : t.final ? 'DIFFERS as read with FINAL' : `DIFFERS (source ${formatCount(t.sourceRows)})`}`);
  const more = (result?.counts?.verified ?? tables.length) - tables.length;
  return more > 0 ? [...lines, `  … and ${formatCount(more)} more tables (GET /migrations/${state.id}/tables)`] : lines;
}

/** The state document for a person: status, what it waits for, steps, progress, decisions, errors. */
export function formatState(state: MigrationState, now: Date, rates: Rates = { rowsPerSecond: null, bytesPerSecond: null }): string {
  const lines = [`${state.id}: ${state.status}`, `  run:        ${state.runId}`];
  const doing = describeNow(state, now);
  if (doing) lines.push(`  now:        ${doing}`);
  if (state.requestedBy) lines.push(`  started by: ${state.requestedBy}${state.fourEyes ? ' (four eyes: may not approve)' : ''}`);
  if (state.transferPath) lines.push(`  transfer:   ${state.transferPath}`);
  if (state.scope) {
    lines.push(`  scope:      ${describeScope(state.scope)}`);
    for (const out of state.scope.leftOut ?? []) lines.push(`    left out: ${out.database}.${out.name} (${out.field} "${out.pattern}")`);
    for (const problem of state.scope.problems ?? []) lines.push(`    problem:  ${problem}`);
  }
  if (state.rate) lines.push(`  rate:       ${describeRate(state.rate)}`);
  if (state.sourceReplication) lines.push(`  source replication: ${describeSourceReplication(state.sourceReplication)}`);
  lines.push('  steps:');
  for (const step of state.steps) {
    const took = elapsed(step, now);
    lines.push(`    ${step.name.padEnd(11)} ${step.status.padEnd(18)} ${took}`.trimEnd());
    const summary = summarizeResult(step, isChangesState(state));
    if (summary) lines.push(`      ${summary}`);
    if (step.error) lines.push(`      error ${step.error.type}: ${step.error.message}`);
  }
  const progress = isChangesState(state) ? (state.currentStep === 'migration' || state.changes.versionsDone > 0 || state.changes.stopped ? describeChangesProgress(state) : null) : describeProgress(state, rates);
  if (progress) lines.push(`  progress:   ${progress}`);
  if (state.approvals.length > 0) {
    lines.push('  approvals:');
    for (const a of state.approvals) lines.push(`    ${a.step.padEnd(11)} by ${a.by ?? '(unnamed)'} at ${a.at} via ${a.via}${a.comment ? `: ${a.comment}` : ''}`);
  }
  if (state.rejection) lines.push(`  rejected:   "${state.rejection.step}" by ${state.rejection.by ?? '(unnamed)'} at ${state.rejection.at}: ${state.rejection.reason}`);
  if (state.error) lines.push(`  error:      ${state.error.type}: ${state.error.message}`);
  if (state.rollback) {
    const r = state.rollback;
    const c = r.counts ?? { dropped: r.dropped.length, restored: r.restored.length, verified: r.verified.length, matched: r.verified.filter((v) => v.match).length };
    lines.push(`  rollback:   dropped ${c.dropped} objects, restored ${c.restored} tables, ${c.matched}/${c.verified} verified against the restore point`);
  }
  if (state.ignoredSignals.length > 0) {
    const earlier = state.ignoredSignalsDropped ? ` (and ${state.ignoredSignalsDropped} earlier)` : '';
    lines.push(`  ignored signals: ${state.ignoredSignals.map((s) => `${s.name} ${s.step} (${s.reason})`).join('; ')}${earlier}`);
  }
  for (const w of state.warnings) lines.push(`  warning:    ${w}`);
  const verification = formatVerification(state);
  if (verification.length > 0) lines.push('  tables:', ...verification.map((l) => `  ${l}`));
  return lines.join('\n');
}

/** The runs of `GET /migrations` as a table. */
export function formatList(migrations: ListedMigration[]): string {
  if (migrations.length === 0) return 'No migrations.';
  const rows = [['ID', 'STATUS', 'STEP', 'STARTED', 'CLOSED'], ...migrations.map((m) => [m.id, m.status, m.currentStep ?? '-', m.startedAt, m.closedAt ?? '-'])];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i])).join('  ').trimEnd()).join('\n');
}

export function formatStarted(answer: StartAnswer, apiUrl: string): string {
  return [
    `Started migration ${answer.id} (run ${answer.runId}): ${answer.status}`,
    `  state:    ${apiUrl}${answer.links.self}`,
    `  Temporal: ${answer.links.temporalUi}`,
    `Follow it with: clickhouse-migrator watch ${answer.id}`,
  ].join('\n');
}

/** A failed request for a person: status and code, each refused field with its reason, and the details the API gave. */
export function formatError(err: unknown): string {
  if (err instanceof ApiUnreachableError) return `error: ${err.message}`;
  if (!(err instanceof ApiError)) return `error: ${err instanceof Error ? err.message : String(err)}`;
  const { error, message, issues, ...details } = err.body;
  const lines = [`error: the API answered ${err.status} ${error}${message ? `: ${message}` : ''} (${err.method} ${err.url})`];
  for (const issue of issues ?? []) lines.push(`  ${issue.path === '' ? '(request body)' : issue.path}: ${issue.message}`);
  for (const [key, value] of Object.entries(details)) lines.push(`  ${key}: ${typeof value === 'string' ? value : JSON.stringify(value)}`);
  if (err.status === 401) lines.push('  check --token or MIGRATOR_TOKEN');
  return lines.join('\n');
}

/** A failed request as the JSON document `--json` prints. */
export function errorDocument(err: unknown): Record<string, unknown> {
  if (err instanceof ApiError) return { ...err.body, status: err.status };
  if (err instanceof ApiUnreachableError) return { error: 'unreachable', url: err.url, message: err.message };
  return { error: err instanceof UsageError ? 'usage' : 'internal', message: err instanceof Error ? err.message : String(err) };
}
