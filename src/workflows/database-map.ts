/**
 * The one home of database renames (`MigrationInput.renames`): which name a source database has
 * on the target, and where an object or unit of the plan is read from. Pure, so that workflow
 * code and activities share it. The plan names objects as the TARGET has them (`database`) and
 * keeps the source's name in `sourceDatabase` only where the two differ, so everything that
 * writes, records, locks or rolls back on the target reads `database` as before.
 */
import type { MigrationInput } from './types';

/** Source database → target database, for the databases copied under another name. */
export type Renames = Readonly<Record<string, string>>;

/** The name the source database `database` has on the target. */
export function targetDatabaseOf(input: Pick<MigrationInput, 'renames'>, database: string): string {
  return input.renames?.[database] ?? database;
}

/** The target names of the run's databases, in the order of `databases`. */
export function targetDatabasesOf(input: Pick<MigrationInput, 'databases' | 'renames'>): string[] {
  return input.databases.map((database) => targetDatabaseOf(input, database));
}

/** Where an object or unit of the plan is read from on the source. */
export function sourceDatabaseOf(item: { database: string; sourceDatabase?: string }): string {
  return item.sourceDatabase ?? item.database;
}

/**
 * `item` (named as the source has it) named as the target has it: `database` renamed, and the
 * source's name kept in `sourceDatabase` when it differs. Without a rename, `item` itself.
 */
export function onTargetSide<T extends { database: string }>(item: T, renames: Renames | undefined): T & { sourceDatabase?: string } {
  const target = renames?.[item.database];
  if (target === undefined || target === item.database) return item;
  return { ...item, database: target, sourceDatabase: item.database };
}
