/**
 * The one key of a table in maps, sets and stored lists: database and table joined by NUL, a
 * character no ClickHouse name holds. `db.table` is not a key: `a.b`.`c` and `a`.`b.c` both read
 * `a.b.c`. Pure, so that workflow code and activities share it.
 */
export function tableKey(database: string, table: string): string {
  return `${database}${SEPARATOR}${table}`;
}

/** The key of an object of the catalogue or of a plan (`{ database, name }`). */
export function objectKey(object: { database: string; name: string }): string {
  return tableKey(object.database, object.name);
}

/** The database and table of a key made by {@link tableKey}. */
export function splitTableKey(key: string): { database: string; table: string } {
  const at = key.indexOf(SEPARATOR);
  return { database: key.slice(0, at), table: key.slice(at + 1) };
}

/**
 * Whether `names` (a stored list of keys, or of `db.table` names as runs before {@link tableKey}
 * stored them) names the table. A list of keys is exact; one of dotted names is read as it was.
 */
export function namesTable(names: ReadonlySet<string>, database: string, table: string): boolean {
  return names.has(tableKey(database, table)) || names.has(`${database}.${table}`);
}

const SEPARATOR = '\u0000';
