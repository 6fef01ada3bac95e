import { setCurrentDetails } from '@temporalio/workflow';
import { markdownText } from './markdown';
import type { ChangesState } from './changes-types';
import type { MigrationState, ReplicaTopology } from './types';

/** Shows the run's {@link currentDetails} in the Web UI (no command: nothing reaches the history). */
export function showDetails(state: MigrationState): void {
  setCurrentDetails(currentDetails(state));
}

/**
 * The run's current details as the Temporal Web UI shows them (markdown, on the run's User
 * Metadata tab): the step, what the run waits for and who may give it, and progress. Pure: the
 * workflow sets it with `setCurrentDetails` whenever its state changes.
 */
export function currentDetails(state: MigrationState): string {
  const progress = 'changes' in state ? changesTable(state as ChangesState) : progressTable(state);
  return [headline(state), '', stepsTable(state), '', progress, ...transferLines(state)].join('\n');
}

function headline(state: MigrationState): string {
  if (state.awaitingApproval) {
    const { step } = state.awaitingApproval;
    const barred = state.fourEyes && state.requestedBy ? `, other than ${markdownText(state.requestedBy)} who started it (four eyes)` : '';
    return [
      `**Waiting for approval of \`${step}\`.**`,
      '',
      `- Who may approve: a token with the role approver or admin${barred}.`,
      `- How: \`clickhouse-migrator approve ${state.id} ${step}\`, \`POST /migrations/${state.id}/approve\` with \`{"step":"${step}"}\`, or the signal \`approve\` with the same payload.`,
    ].join('\n');
  }
  if (state.waitingForWindow && state.status === 'running') {
    return `**Waiting for its window: opens at ${markdownText(state.waitingForWindow.opensAt)}.**`;
  }
  if (state.currentStep && state.status === 'running') return `**Running \`${state.currentStep}\`.**`;
  const error = state.error ? `: ${state.error.message.split('\n')[0]}` : '';
  return `**${state.status.replace(/_/g, ' ')}**${error}`;
}

function stepsTable(state: MigrationState): string {
  return ['| step | status |', '|---|---|', ...state.steps.map((s) => `| ${s.name} | ${s.status.replace(/_/g, ' ')} |`)].join('\n');
}

function progressTable(state: MigrationState): string {
  const p = state.progress;
  if (p.unitsTotal === 0) return 'No copy has started yet.';
  return [
    '| progress | done | total |',
    '|---|---:|---:|',
    `| tables | ${p.tablesDone} | ${p.tablesTotal} |`,
    `| units | ${p.unitsDone} | ${p.unitsTotal} |`,
    `| rows | ${p.rowsCopied} | ${p.rowsTotal} |`,
    `| bytes copied | ${p.bytesCopied} | |`,
  ].join('\n');
}

/** The progress of a run of changes: versions done, and the statement (and mutation) at work. */
function changesTable(state: ChangesState): string {
  const c = state.changes;
  const rows = ['| changes | |', '|---|---|', `| database | ${markdownText(c.database)} |`, `| versions done | ${c.versionsDone} of ${c.versionsTotal} in the change set |`];
  if (c.current) {
    rows.push(`| version | ${markdownText(c.current.version)} (${markdownText(c.current.name)}) |`, `| statement | ${c.current.statement} of ${c.current.statements} |`);
    if (c.current.mutationPartsLeft !== null) rows.push(`| mutation parts left | ${c.current.mutationPartsLeft} |`);
  }
  if (c.stopped) rows.push(`| stopped | version ${markdownText(c.stopped.version)} dirty with ${c.stopped.applied} of ${c.stopped.statements} statements applied |`);
  return rows.join('\n');
}

/** What a transfer has in scope and its rate limits, when the run knows them (each a table after the progress). */
function transferLines(state: MigrationState): string[] {
  const lines: string[] = [];
  if (state.scope) {
    const { tables, rows, bytes, excluded } = state.scope;
    lines.push('', '| in scope | |', '|---|---:|', `| tables | ${tables} |`, `| rows | ${rows} |`, `| bytes on disk | ${bytes} |`, `| tables left out by include/exclude | ${excluded} |`);
    for (const out of state.scope.leftOut ?? []) lines.push(`| left out: ${markdownText(`${out.database}.${out.name}`)} | ${out.field} ${markdownText(out.pattern)} |`);
    for (const problem of state.scope.problems ?? []) lines.push(`| problem | ${markdownText(problem)} |`);
  }
  lines.push(...replicationLines(state));
  if (state.rate) {
    const r = state.rate;
    const cell = (n: number | null, none: string) => (n === null ? none : String(Math.round(n)));
    lines.push(
      '',
      '| rate | limit | reached |',
      '|---|---:|---:|',
      `| bytes per second | ${cell(r.maxBytesPerSecond, 'none')} | ${cell(r.bytesPerSecond, 'not yet')} |`,
      `| rows per second | ${cell(r.maxRowsPerSecond, 'none')} | ${cell(r.rowsPerSecond, 'not yet')} |`,
    );
  }
  return lines;
}

/** The topology configure and validation reported, and the source's replication during the copy (a table, when the run knows any). */
function replicationLines(state: MigrationState): string[] {
  const result = (name: string) => state.steps.find((s) => s.name === name)?.result as { topology?: ReplicaTopology | { target?: ReplicaTopology } } | undefined;
  const target = (result('configure')?.topology as { target?: ReplicaTopology } | undefined)?.target;
  const source = result('validation')?.topology as ReplicaTopology | undefined;
  const r = state.sourceReplication;
  const rows = [
    ...(target ? [`| target topology | ${markdownText(target.summary)} |`] : []),
    ...(source ? [`| source topology | ${markdownText(source.summary)} |`] : []),
    ...(r ? [`| source replication during the copy | largest delay ${r.maxDelaySecondsDuringCopy} s (before: ${r.baselineMaxDelaySeconds === null ? 'not measured' : `${r.baselineMaxDelaySeconds} s`}), largest queue ${r.maxQueueDuringCopy}, ${r.samples} samples |`] : []),
  ];
  return rows.length > 0 ? ['', '| replication | |', '|---|---|', ...rows] : [];
}
