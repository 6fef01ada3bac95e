/**
 * The configure step of a run of changes: which versions are pending, which were applied, which
 * drifted, what changed by hand since the last one, and what each pending statement touches.
 */
import { changeSetProblems, compareVersions, statementsOf, type Change } from '../../changes/change-set';
import { countRows, listTables } from '../../clickhouse/catalog';
import type { ClickHouseConnection } from '../../clickhouse/connection';
import { describeStatement, maskSecrets, type StatementInfo } from '../../clickhouse/statements';
import { quoteString } from '../../clickhouse/sql';
import { permanent } from '../context';
import { CHANGES_FAILURE_TYPES, TRACKING_TABLE, type ChangesPlan, type PlannedStatement, type PlannedVersion, type TouchedTable, type TrackedVersion } from '../../workflows/changes-types';
import { readTracking, schemaShape, sha256, untrackedChanges } from './tracking';

/** A version of the change set with its checksums: what the plan compares with the tracking table. */
export interface ChecksummedChange extends Change {
  checksum: string;
  statements: string[];
  statementChecksums: string[];
}

export function checksummed(change: Change): ChecksummedChange {
  const statements = statementsOf(change);
  return { ...change, checksum: sha256(change.sql), statements, statementChecksums: statements.map(sha256) };
}

/**
 * Statement `index` (from 1) of a version as configure planned it: the text must still give the
 * statement with the checksum the plan recorded, or nothing runs.
 */
export function plannedStatement(change: Change | undefined, version: Pick<PlannedVersion, 'version' | 'statementChecksums'>, index: number): string {
  const statement = change ? statementsOf(change)[index - 1] : undefined;
  if (statement === undefined || sha256(statement) !== version.statementChecksums[index - 1]) {
    throw permanent(CHANGES_FAILURE_TYPES.drift, `drift: statement ${index} of version ${version.version} is not the one configure planned`);
  }
  return statement;
}

/** Reads the target and plans the change set against it. */
export async function planChanges(target: ClickHouseConnection, database: string, changes: readonly Change[]): Promise<ChangesPlan> {
  const { version } = await target.server();
  const problems = changeSetProblems(changes, database).map((p) => p.message);
  const exists = (await target.rows<{ n: string }>(`SELECT count() AS n FROM system.databases WHERE name = ${quoteString(database)}`))[0]?.n !== '0';
  if (!exists) problems.push(`the database ${database} does not exist on the target: create it first (a restore point cannot undo creating a database)`);
  const plan: ChangesPlan = { version, database, tracked: false, versions: [], pendingVersions: 0, pendingStatements: 0, untracked: [], problems, warnings: [] };
  if (problems.length > 0 || !exists) return plan;

  const tracking = await readTracking(target, database);
  plan.tracked = tracking.schema !== null || tracking.versions.size > 0;
  const sizes = await tableSizes(target, database);
  const tracked = [...tracking.versions.values()];
  const latestApplied = tracked.filter((t) => !t.dirty).sort((a, b) => compareVersions(b.version, a.version))[0];
  for (const change of changes.map(checksummed)) {
    const record = tracked.find((t) => compareVersions(t.version, change.version) === 0);
    const planned = planVersion(change, record, sizes);
    if (planned.status === 'pending' && latestApplied && compareVersions(change.version, latestApplied.version) < 0) {
      plan.problems.push(`version ${change.version} is pending, but the later version ${latestApplied.version} is already applied: versions apply in order, so give it a number after ${latestApplied.version}`);
    }
    if (planned.drift) plan.problems.push(planned.drift);
    for (const s of planned.pending.filter((p) => p.touches.some((t) => t.table === TRACKING_TABLE))) {
      plan.problems.push(`statement ${s.index} of version ${change.version} writes ${TRACKING_TABLE}, which only the migrator writes`);
    }
    plan.versions.push(planned);
  }
  for (const record of tracked) {
    if (!changes.some((c) => compareVersions(c.version, record.version) === 0)) {
      plan.warnings.push(`version ${record.version} (${record.name}) is recorded in ${TRACKING_TABLE} but is not in this change set`);
    }
  }
  if (tracking.schema) {
    plan.untracked = untrackedChanges(tracking.schema, await schemaShape(target, database));
    if (plan.untracked.length > 0) {
      plan.warnings.push(`the schema changed outside tracked versions since the last one: ${plan.untracked.map((u) => u.detail).join('; ')}`);
    }
  }
  const pending = plan.versions.filter((v) => v.status === 'pending' || v.status === 'resume');
  plan.pendingVersions = pending.length;
  plan.pendingStatements = pending.reduce((n, v) => n + v.pending.length, 0);
  const heavy = pending.flatMap((v) => v.pending.filter((s) => s.heavy).map((s) => `version ${v.version} statement ${s.index} (${s.heavy?.reason})`));
  if (heavy.length > 0) plan.warnings.push(`statements that rewrite stored data: ${heavy.join('; ')}`);
  return plan;
}

function planVersion(change: ChecksummedChange, record: TrackedVersion | undefined, sizes: Map<string, TableSize>): PlannedVersion {
  const base = { version: change.version, name: change.name, statements: change.statements.length, checksum: change.checksum, statementChecksums: change.statementChecksums };
  if (!record) return { ...base, status: 'pending', from: 1, pending: plannedStatements(change, 1, sizes) };
  if (!record.dirty) {
    if (record.checksum === change.checksum) return { ...base, status: 'applied', from: change.statements.length + 1, pending: [] };
    return {
      ...base,
      status: 'drift',
      from: 1,
      pending: [],
      drift: `drift: version ${change.version} (${change.name}) was applied by run ${record.runId} with sha256 ${record.checksum.slice(0, 12)}…, and its text now has sha256 ${change.checksum.slice(0, 12)}…: an applied version is never changed; put the change in a new version`,
    };
  }
  const applied = record.statementsApplied;
  const changed = record.statementChecksums.slice(0, applied).findIndex((sum, i) => change.statementChecksums[i] !== sum);
  if (changed >= 0 || change.statements.length < applied) {
    const which = changed >= 0 ? `statement ${changed + 1}` : `it has ${change.statements.length} statements`;
    return {
      ...base,
      status: 'drift',
      from: 1,
      pending: [],
      drift: `drift: version ${change.version} (${change.name}) is dirty with ${applied} statements applied, and ${which} of its text is not what was applied: only the statements after ${applied} may change before it resumes`,
    };
  }
  return { ...base, status: 'resume', from: applied + 1, pending: plannedStatements(change, applied + 1, sizes) };
}

interface TableSize {
  /** Null where the server cannot tell without reading (views, engines that hold no rows). */
  rows: number | null;
  bytes: number | null;
  columns: Map<string, { type: string; bytes: number }>;
}

function plannedStatements(change: ChecksummedChange, from: number, sizes: Map<string, TableSize>): PlannedStatement[] {
  return change.statements.slice(from - 1).map((sql, i) => {
    const info = describeStatement(sql);
    const touches: TouchedTable[] = info.writes.map((w) => {
      const size = sizes.get(w.name);
      return { table: w.name, rows: size?.rows ?? null, bytes: size?.bytes ?? null };
    });
    return { index: from + i, sql: maskSecrets(sql), kind: info.kind, touches, heavy: heavyOf(info, sizes) };
  });
}

/** What a statement rewrites: a mutation rewrites its table's parts, a type change its column. */
function heavyOf(info: StatementInfo, sizes: Map<string, TableSize>): PlannedStatement['heavy'] {
  const table = info.writes[0] ? sizes.get(info.writes[0].name) : undefined;
  if (info.heavy === 'mutation') return { reason: `a mutation of ${info.writes[0]?.name ?? 'its table'}, rewriting the parts it matches`, bytes: table?.bytes ?? 0 };
  if (info.heavy !== 'modify-column') return null;
  const retyped = info.modifiedColumns.filter((c) => c.type !== '' && table?.columns.get(c.name)?.type !== c.type);
  if (retyped.length === 0) return null;
  const bytes = retyped.reduce((n, c) => n + (table?.columns.get(c.name)?.bytes ?? 0), 0);
  return { reason: `a type change of ${retyped.map((c) => `${c.name} to ${c.type}`).join(', ')}, rewriting the column`, bytes };
}

/** Rows and bytes of every table of the database, and each column's type and compressed bytes. */
async function tableSizes(target: ClickHouseConnection, database: string): Promise<Map<string, TableSize>> {
  const db = quoteString(database);
  const parts = await target.rows<{ table: string; rows: string; bytes: string }>(
    `SELECT table, sum(rows) AS rows, sum(bytes_on_disk) AS bytes FROM system.parts WHERE database = ${db} AND active GROUP BY table`,
  );
  const columns = await target.rows<{ table: string; name: string; type: string; bytes: string }>(
    `SELECT table, name, type, data_compressed_bytes AS bytes FROM system.columns WHERE database = ${db}`,
  );
  const sizes = new Map<string, TableSize>();
  for (const c of columns) {
    const size = sizes.get(c.table) ?? { rows: null, bytes: null, columns: new Map() };
    size.columns.set(c.name, { type: c.type, bytes: Number(c.bytes) });
    sizes.set(c.table, size);
  }
  for (const p of parts) {
    const size = sizes.get(p.table);
    if (size) Object.assign(size, { rows: Number(p.rows), bytes: Number(p.bytes) });
  }
  // Log and Memory tables have no parts: their rows are counted (they are small, or they would not be Log tables).
  for (const t of await listTables(target, [database])) {
    const size = sizes.get(t.name);
    if (size && t.kind === 'whole-table') size.rows = await countRows(target, database, t.name);
    else if (size && t.kind === 'partitioned' && size.rows === null) Object.assign(size, { rows: 0, bytes: 0 });
  }
  return sizes;
}
