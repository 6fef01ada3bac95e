/**
 * The one home of the names the migrator gives its own objects on a target. Every name starts
 * with {@link INTERNAL_PREFIX} and holds the run key, so catalogue reads skip them, the API refuses
 * them as user databases, and a run's cleanup finds exactly its own.
 */
import { createHash } from 'node:crypto';
import type { ClickHouseConnection } from './connection';
import { quoteIdentifier } from './sql';

/** Databases and tables whose names start with this are the migrator's own. */
export const INTERNAL_PREFIX = '__migrator_';

/**
 * The database that holds the server's identity marker (table `server`, one row: a random id the
 * first run to reach the server created). It belongs to no run: {@link parseScratchName} does
 * not read it as a run's object, so no cleanup drops it.
 */
export const IDENTITY_DATABASE = `${INTERNAL_PREFIX}identity`;

/** The table of {@link IDENTITY_DATABASE} that holds the server's id. */
export const IDENTITY_TABLE = 'server';

/** The database that holds a run's restore point. */
export function restorePointDatabase(runKey: string): string {
  return `${INTERNAL_PREFIX}restore_${runKey}`;
}

/**
 * The table of a restore point's database that holds the snapshot of `database`.`table`: named
 * from the table, so a copy finds the snapshot of the table it is about to write without a lookup.
 */
export function snapshotTableName(database: string, table: string): string {
  return `s_${shortHash(database, table)}`;
}

/** The database where the configure step asks the target to create each object. */
export function probeDatabase(runKey: string): string {
  return `${INTERNAL_PREFIX}probe_${runKey}`;
}

/** The database where the validation step copies and fingerprints a few rows of each table. */
export function trialDatabase(runKey: string): string {
  return `${INTERNAL_PREFIX}trial_${runKey}`;
}

/**
 * The database where a run of schema changes stages them: the same tables, a sample of their rows,
 * and every pending statement, before any of them touches the real database.
 */
export function shadowDatabase(runKey: string): string {
  return `${INTERNAL_PREFIX}shadow_${runKey}`;
}

/**
 * The database that holds a run's manifest: its plan (objects with their DDL, units of copy, the
 * restore point's tables and digests, what verification found), kept here rather than in the
 * workflow's history. It lives as long as the restore point it describes.
 */
export function manifestDatabase(runKey: string): string {
  return `${INTERNAL_PREFIX}manifest_${runKey}`;
}

/** The scratch databases of a run, for cleanup. */
export function scratchDatabases(runKey: string): string[] {
  return [probeDatabase(runKey), trialDatabase(runKey), shadowDatabase(runKey)];
}

/** Prefix of a run's staging tables (inside the migrated databases); cleanup drops all that start with it. */
export function stagingPrefix(runKey: string): string {
  return `${INTERNAL_PREFIX}stage_${runKey}_`;
}

/** The staging table that one unit of copy (named by `parts`, the attempt among them) lands in. */
export function stagingTable(runKey: string, ...parts: string[]): string {
  return `${stagingPrefix(runKey)}${shortHash(...parts)}`;
}

/** Where a whole table's previous version waits while its replacement is renamed in (`parts` name the table and the attempt). */
export function retiredTable(runKey: string, ...parts: string[]): string {
  return `${stagingPrefix(runKey)}old_${shortHash(...parts)}`;
}

/** A short, stable hex name part for `parts`. */
function shortHash(...parts: string[]): string {
  return createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 12);
}

/** Runs `body` with a fresh, empty database `name` on `conn`, and drops the database afterwards, however `body` ends. */
export async function withScratchDatabase<T>(conn: ClickHouseConnection, name: string, body: () => Promise<T>): Promise<T> {
  const database = quoteIdentifier(name);
  await conn.exec(`DROP DATABASE IF EXISTS ${database}`);
  await conn.exec(`CREATE DATABASE ${database}`);
  try {
    return await body();
  } finally {
    await conn.exec(`DROP DATABASE IF EXISTS ${database}`);
  }
}

/** The kinds of scratch objects, as their names say. */
export type ScratchKind = 'restore' | 'manifest' | 'probe' | 'trial' | 'shadow' | 'stage';

/** The run key a scratch object's name holds, and what kind of object it is; null for other names (and {@link IDENTITY_DATABASE}). */
export function parseScratchName(name: string): { runKey: string; kind: ScratchKind } | null {
  const match = new RegExp(`^${INTERNAL_PREFIX}(restore|manifest|probe|trial|shadow|stage)_([0-9a-f]{16})(?:_|$)`).exec(name);
  return match ? { kind: match[1] as ScratchKind, runKey: match[2] } : null;
}
