import { existingDatabases, listTables } from '../clickhouse/catalog';
import type { ClickHouseConnection } from '../clickhouse/connection';
import { rewriteCreateStatement } from '../clickhouse/ddl';
import { ClickHouseQueryError } from '../clickhouse/errors';
import { createDatabaseSql, execDdlOn } from '../clickhouse/on-cluster';
import { firstLines } from '../workflows/bounded';
import { objectKey, splitTableKey } from '../workflows/table-key';
import { DETAIL_LIMIT, FAILURE_TYPES, MANIFEST_LISTS, type ConflictPolicy, type IntentEntry, type PlannedObject, type RestorePointTable, type TransferMode } from '../workflows/types';
import { DDL_CONCURRENCY, forEachConcurrently, permanent } from './context';
import { holdsData, isView } from './inventory';
import type { Manifest } from './manifest';

/** Passes over views that failed because a view they read from did not exist yet. */
const MAX_VIEW_PASSES = 10;

/** ClickHouse's codes for "that table (or database) already exists". */
const ALREADY_EXISTS_CODES = new Set([57, 82]);

/** `db.name` of an object of the plan or of the target, for people to read (never a key: see `objectKey`). */
export function objectName(object: { database: string; name: string }): string {
  return `${object.database}.${object.name}`;
}

/** `db.name` of an object's key (see `objectKey`); a database's name as it stands. */
export function nameOfKey(key: string): string {
  if (!key.includes('\u0000')) return key;
  const { database, table } = splitTableKey(key);
  return objectName({ database, name: table });
}

/**
 * Creates the databases and objects of the plan (see `createSchema`), `ON CLUSTER` `cluster` when
 * one is given; returns those that did not exist before.
 */
export async function createSchemaOf(target: ClickHouseConnection, objects: PlannedObject[], cluster?: string): Promise<string[]> {
  const databases = [...new Set(objects.map((o) => o.database))];
  for (const database of databases) await execDdlOn(target, createDatabaseSql(database, cluster), cluster);
  const before = new Set((await listTables(target, databases)).map(objectKey));
  const toCreate = objects.filter((o) => !o.inner);
  await createInOrder(target, toCreate, { ifNotExists: true, onCluster: cluster });
  return toCreate.filter((o) => !before.has(objectKey(o))).map(objectName);
}

/**
 * The schema step of a run with a manifest. Its first attempt checks the target once more (see
 * {@link checkConflictsAgain}) and records in the manifest what the run is about to create: the
 * databases and objects of the plan that the target lacks. Every attempt then creates what that
 * record names and the target still lacks, with plain `CREATE` (an object someone else made in
 * the meantime is an error, not silently taken as the run's). With `cluster`, everything is
 * created `ON CLUSTER` it, and the record says so (its rollback drops there too). Returns the
 * recorded objects. A `data` run records and creates nothing.
 */
export async function createRecordedSchema(manifest: Manifest, onConflict: ConflictPolicy | undefined, mode?: TransferMode, cluster?: string): Promise<string[]> {
  const target = manifest.conn;
  const objects = await manifest.read<PlannedObject>(MANIFEST_LISTS.objects);
  const databases = [...new Set(objects.map((o) => o.database))];
  let intent = await manifest.readIfAny<IntentEntry>(MANIFEST_LISTS.intent);
  if (!intent) {
    await checkConflictsAgain(manifest, objects, onConflict);
    const presentDatabases = new Set(await existingDatabases(target, databases));
    const present = new Set((await listTables(target, databases)).map(objectKey));
    // A data run creates nothing: its tables exist (configure proved it), and it copies into them.
    const on = cluster === undefined ? {} : { cluster };
    intent = mode === 'data' ? [] : [
      ...databases.filter((d) => !presentDatabases.has(d)).map((database) => ({ database, ...on })),
      ...objects.filter((o) => !o.inner && !present.has(objectKey(o))).map((o) => ({ database: o.database, name: o.name, ...on })),
    ];
    await manifest.publish(MANIFEST_LISTS.intent, intent);
  }
  const entries = intent;
  const intended = new Set(entries.filter((e) => e.name !== undefined).map((e) => objectKey(e as Required<IntentEntry>)));
  const conflicts: string[] = [];
  const existing = new Set(await existingDatabases(target, databases));
  for (const { database } of entries.filter((e) => e.name === undefined && !existing.has(e.database))) {
    await createOrNote(() => execDdlOn(target, createDatabaseSql(database, cluster, false), cluster), database, conflicts);
  }
  if (conflicts.length === 0) {
    const present = new Set((await listTables(target, databases)).map(objectKey));
    const toCreate = objects.filter((o) => intended.has(objectKey(o)) && !present.has(objectKey(o)));
    await createInOrder(target, toCreate, { ifNotExists: false, onCluster: cluster, alreadyExists: (o) => conflicts.push(objectKey(o)) });
  }
  if (conflicts.length > 0) await refuseTaken(manifest, entries, conflicts);
  return [...intended];
}

/**
 * What someone else created while the run created its schema is not the run's: the record stops
 * naming it, so no rollback drops it, and the run fails as a conflict.
 */
async function refuseTaken(manifest: Manifest, entries: IntentEntry[], taken: string[]): Promise<never> {
  const theirs = new Set(taken);
  const entryKey = (e: IntentEntry) => (e.name === undefined ? e.database : objectKey(e as Required<IntentEntry>));
  await manifest.publish(MANIFEST_LISTS.intent, entries.filter((e) => !theirs.has(entryKey(e))));
  throw permanent(FAILURE_TYPES.targetConflict, `someone else created ${firstLines(taken.map(nameOfKey), DETAIL_LIMIT).join(', ')} on the target while the run was creating its schema; nothing of theirs was changed`);
}

/**
 * The target once more, as the migration step starts: a table of the plan that appeared after the
 * restore point was taken cannot be restored, so the run refuses to write into it; under
 * `onConflict: "fail"`, a table of the plan that holds rows (it may have been empty when
 * configure looked) is a conflict too.
 */
async function checkConflictsAgain(manifest: Manifest, objects: PlannedObject[], onConflict: ConflictPolicy | undefined): Promise<void> {
  const target = manifest.conn;
  const restorePoint = await manifest.read<RestorePointTable>(MANIFEST_LISTS.restore);
  const captured = new Map(restorePoint.map((t) => [objectKey(t), t]));
  const present = new Set((await listTables(target, [...new Set(objects.map((o) => o.database))])).map(objectKey));
  const problems: string[] = [];
  for (const object of objects.filter(holdsData)) {
    const name = objectName(object);
    const table = captured.get(objectKey(object));
    const rows = table?.partitions.reduce((n, p) => n + p.rows, 0) ?? 0;
    if (!table && present.has(objectKey(object))) problems.push(`${name} appeared on the target after the restore point was taken, so a rollback could not restore it`);
    else if (onConflict === 'fail' && rows > 0) problems.push(`${name} holds ${rows} rows on the target since configure checked it (set "onConflict": "replace" to overwrite them)`);
  }
  if (problems.length > 0) throw permanent(FAILURE_TYPES.targetConflict, `the target changed after configure: ${firstLines(problems, DETAIL_LIMIT).join('; ')}`);
}

/** Runs `create`; an "already exists" answer is noted as `name`, any other error is thrown. */
async function createOrNote(create: () => Promise<unknown>, name: string, conflicts: string[]): Promise<void> {
  try {
    await create();
  } catch (err) {
    if (!(err instanceof ClickHouseQueryError && err.code !== undefined && ALREADY_EXISTS_CODES.has(err.code))) throw err;
    conflicts.push(name);
  }
}

/** Tables first, a few at once (they do not depend on one another); then views one at a time, in plan order. */
async function createInOrder(target: ClickHouseConnection, objects: PlannedObject[], how: CreateHow): Promise<void> {
  await createAll(target, objects.filter((o) => !isView(o)), DDL_CONCURRENCY, how);
  await createAll(target, objects.filter(isView), 1, how);
}

interface CreateHow {
  ifNotExists: boolean;
  /** The cluster every statement runs `ON CLUSTER`; absent: the target server alone. */
  onCluster?: string;
  /** Hears of an object that already exists (with `ifNotExists` false); it is not tried again. */
  alreadyExists?: (object: PlannedObject) => void;
}

/**
 * Creates `objects`, `concurrency` statements at a time, in passes: what failed is tried again
 * (a view may read one created later in the same pass) until a pass creates nothing.
 */
async function createAll(target: ClickHouseConnection, objects: PlannedObject[], concurrency: number, how: CreateHow): Promise<void> {
  let pending = objects;
  for (let pass = 0; pending.length > 0; pass++) {
    const failed: { object: PlannedObject; error: Error }[] = [];
    await forEachConcurrently(pending, concurrency, async (object) => {
      const noted: string[] = [];
      try {
        const sql = rewriteCreateStatement(object.createTableQuery, object.database, object.name, how).sql;
        await createOrNote(() => execDdlOn(target, sql, how.onCluster), objectName(object), noted);
        if (noted.length > 0) how.alreadyExists?.(object);
      } catch (err) {
        failed.push({ object, error: err as Error });
      }
    });
    if (failed.length === 0) return;
    if (failed.length === pending.length || pass >= MAX_VIEW_PASSES) throw failed[0].error;
    const again = new Set(failed.map((f) => f.object));
    pending = pending.filter((o) => again.has(o));
  }
}
