/**
 * The tracking table of a database under versioned changes (`schema_migrations`), and the schema
 * fingerprint recorded in it after every statement applied.
 */
import { createHash } from 'node:crypto';
import type { ClickHouseConnection } from '../../clickhouse/connection';
import { INTERNAL_PREFIX } from '../../clickhouse/scratch';
import { qualifiedName, quoteString } from '../../clickhouse/sql';
import { TRACKING_TABLE, type TrackedVersion, type TrackingRecord, type UntrackedChange } from '../../workflows/changes-types';

/** The sha256 of a text, as hex; line endings do not count (a file checked out on Windows is the same version). */
export function sha256(text: string): string {
  return createHash('sha256').update(text.replace(/\r\n/g, '\n')).digest('hex');
}

/**
 * Every change of a version is a new row; the latest (`recorded_at`) is the version's record, so
 * progress is recorded without ALTER … UPDATE, which is a mutation. Read it with `FINAL`, or
 * through {@link readTracking}.
 */
function trackingDdl(database: string): string {
  return `CREATE TABLE IF NOT EXISTS ${qualifiedName(database, TRACKING_TABLE)} (
  version String,
  name String,
  checksum String,
  statement_checksums Array(String),
  statements_applied UInt32,
  statements_total UInt32,
  dirty UInt8,
  approved_by String,
  run_id String,
  started_at DateTime,
  finished_at Nullable(DateTime),
  schema_fingerprint String,
  schema String,
  recorded_at UInt64
) ENGINE = ReplacingMergeTree(recorded_at) ORDER BY version`;
}

export async function ensureTracking(conn: ClickHouseConnection, database: string): Promise<void> {
  await conn.exec(trackingDdl(database));
}

export async function trackingExists(conn: ClickHouseConnection, database: string): Promise<boolean> {
  const rows = await conn.rows<{ n: string }>(
    `SELECT count() AS n FROM system.tables WHERE database = ${quoteString(database)} AND name = ${quoteString(TRACKING_TABLE)}`,
  );
  return Number(rows[0]?.n ?? 0) > 0;
}

interface TrackingRow {
  version: string;
  name: string;
  checksum: string;
  statement_checksums: string[];
  statements_applied: string | number;
  dirty: string | number;
  approved_by: string;
  run_id: string;
  started_at: string;
  finished_at: string;
  schema: string;
  latest: string;
}

/** The latest record of every version, and the schema recorded last (null when nothing is tracked yet). */
export async function readTracking(conn: ClickHouseConnection, database: string): Promise<{ versions: Map<string, TrackedVersion>; schema: SchemaShape | null }> {
  const versions = new Map<string, TrackedVersion>();
  if (!(await trackingExists(conn, database))) return { versions, schema: null };
  const rows = await conn.rows<TrackingRow>(
    `SELECT version, argMax(name, recorded_at) AS name, argMax(checksum, recorded_at) AS checksum,
            argMax(statement_checksums, recorded_at) AS statement_checksums, argMax(statements_applied, recorded_at) AS statements_applied,
            argMax(dirty, recorded_at) AS dirty, argMax(approved_by, recorded_at) AS approved_by, argMax(run_id, recorded_at) AS run_id,
            toString(argMax(started_at, recorded_at)) AS started_at, argMax(ifNull(toString(finished_at), ''), recorded_at) AS finished_at,
            argMax(schema, recorded_at) AS schema, toString(max(recorded_at)) AS latest
     FROM ${qualifiedName(database, TRACKING_TABLE)} GROUP BY version`,
  );
  let latest: TrackingRow | null = null;
  for (const row of rows) {
    versions.set(row.version, {
      version: row.version,
      name: row.name,
      checksum: row.checksum,
      statementChecksums: row.statement_checksums,
      statementsApplied: Number(row.statements_applied),
      dirty: Number(row.dirty) === 1,
      approvedBy: row.approved_by,
      runId: row.run_id,
      startedAt: row.started_at,
      finishedAt: row.finished_at || null,
    });
    if (!latest || BigInt(row.latest) > BigInt(latest.latest)) latest = row;
  }
  return { versions, schema: latest?.schema ? (JSON.parse(latest.schema) as SchemaShape) : null };
}

let sequence = 0;

/** Records a version's progress, with the schema as it is now. */
export async function recordVersion(conn: ClickHouseConnection, database: string, record: TrackingRecord): Promise<void> {
  const schema = await schemaShape(conn, database);
  const text = JSON.stringify(schema);
  // Microseconds and a counter: two records of one worker never tie, and a later attempt's record wins.
  const recordedAt = BigInt(Date.now()) * 1000n + BigInt(sequence++ % 1000);
  const values = [
    quoteString(record.version),
    quoteString(record.name),
    quoteString(record.checksum),
    `[${record.statementChecksums.map(quoteString).join(', ')}]`,
    String(record.applied),
    String(record.statementChecksums.length),
    record.dirty ? '1' : '0',
    quoteString(record.approvedBy),
    quoteString(record.runId),
    `toDateTime(${record.startedAt})`,
    record.finishedAt === null ? 'NULL' : `toDateTime(${record.finishedAt})`,
    quoteString(sha256(text)),
    quoteString(text),
    recordedAt.toString(),
  ];
  await conn.exec(`INSERT INTO ${qualifiedName(database, TRACKING_TABLE)} VALUES (${values.join(', ')})`);
}

/** The schema of a database as the catalogue describes it: each object's engine and columns (name → type and default). */
export interface SchemaShape {
  [object: string]: { engine: string; columns: Record<string, string> };
}

/** The database's schema now, from `system.tables` and `system.columns` (the tracking table and the migrator's own objects left out). */
export async function schemaShape(conn: ClickHouseConnection, database: string): Promise<SchemaShape> {
  const db = quoteString(database);
  const own = `name != ${quoteString(TRACKING_TABLE)} AND NOT startsWith(name, ${quoteString(INTERNAL_PREFIX)})`;
  const tables = await conn.rows<{ name: string; engine: string }>(`SELECT name, engine FROM system.tables WHERE database = ${db} AND ${own} ORDER BY name`);
  const columns = await conn.rows<{ table: string; name: string; type: string; default_kind: string; default_expression: string }>(
    `SELECT table, name, type, default_kind, default_expression FROM system.columns WHERE database = ${db} AND table != ${quoteString(TRACKING_TABLE)}`,
  );
  const shape: SchemaShape = {};
  for (const t of tables) shape[t.name] = { engine: t.engine, columns: {} };
  for (const c of columns) {
    const entry = shape[c.table];
    if (entry) entry.columns[c.name] = c.default_kind ? `${c.type} ${c.default_kind} ${c.default_expression}` : c.type;
  }
  return shape;
}

/** What differs between the schema recorded after the last version and the live one, object by object and column by column. */
export function untrackedChanges(recorded: SchemaShape, live: SchemaShape): UntrackedChange[] {
  const changes: UntrackedChange[] = [];
  for (const [object, was] of Object.entries(recorded)) {
    const now = live[object];
    if (!now) {
      changes.push({ object, change: 'removed', detail: `${object} (${was.engine}) was removed` });
      continue;
    }
    if (now.engine !== was.engine) changes.push({ object, change: 'changed', detail: `${object}: engine ${was.engine} became ${now.engine}` });
    for (const [column, type] of Object.entries(was.columns)) {
      if (!(column in now.columns)) changes.push({ object, column, change: 'removed', detail: `${object}.${column} (${type}) was removed` });
      else if (now.columns[column] !== type) changes.push({ object, column, change: 'changed', detail: `${object}.${column}: ${type} became ${now.columns[column]}` });
    }
    for (const [column, type] of Object.entries(now.columns)) {
      if (!(column in was.columns)) changes.push({ object, column, change: 'added', detail: `${object}.${column} (${type}) was added` });
    }
  }
  for (const [object, now] of Object.entries(live)) {
    if (!(object in recorded)) changes.push({ object, change: 'added', detail: `${object} (${now.engine}) was added` });
  }
  return changes;
}
