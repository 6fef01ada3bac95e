/**
 * The transfer modes' own checks (see docs/modes.md): `data` copies rows into tables that exist on
 * the target, so configure proves each can take the source's rows and verification compares the
 * columns they share; `schema` creates the objects only, and verification compares their structure.
 * What is pure lives in src/clickhouse/column-compat.ts.
 */
import { classifyEngine, type TableName } from '../clickhouse/catalog';
import {
  compareColumns,
  columnProblems,
  convertedColumns,
  copyColumns,
  defaultMismatch,
  sourceValueOf,
  structureDifferences,
  type CatalogColumn,
  type ColumnComparison,
  type CopyColumns,
} from '../clickhouse/column-compat';
import type { ClickHouseConnection } from '../clickhouse/connection';
import { firstLine } from '../clickhouse/errors';
import type { StoredColumn } from '../clickhouse/fingerprint';
import { withScratchDatabase } from '../clickhouse/scratch';
import { qualifiedName, quoteIdentifier, quoteString, quoteStringList } from '../clickhouse/sql';
import { createTwin } from '../clickhouse/table-ops';
import { namedList } from '../workflows/markdown';
import { objectKey, tableKey } from '../workflows/table-key';
import { firstLines } from '../workflows/bounded';
import { DETAIL_LIMIT, FAILURE_TYPES, type PlannedObject, type TableVerification } from '../workflows/types';
import { forEachConcurrently, permanent } from './context';
import { holdsData, isView } from './inventory';

/** A table as `system.tables` describes it, for the modes' comparisons. */
interface TableShape {
  engine: string;
  partitionKey: string;
}

/** Every column (ALIAS ones included) of each table of `tables`, keyed by database NUL table, in table order. */
export async function catalogColumns(conn: ClickHouseConnection, tables: readonly TableName[]): Promise<Map<string, CatalogColumn[]>> {
  const byTable = new Map<string, CatalogColumn[]>();
  if (tables.length === 0) return byTable;
  const pairs = [...new Set(tables.map((t) => `(${quoteString(t.database)}, ${quoteString(t.table)})`))];
  const rows = await conn.rows<{ database: string; table: string; name: string; type: string; default_kind: string; default_expression: string }>(
    `SELECT database, table, name, type, default_kind, default_expression FROM system.columns
     WHERE database IN (${quoteStringList([...new Set(tables.map((t) => t.database))])}) AND (database, table) IN (${pairs.join(', ')})`,
  );
  for (const r of rows) {
    const key = tableKey(r.database, r.table);
    byTable.set(key, [...(byTable.get(key) ?? []), { name: r.name, type: r.type, defaultKind: r.default_kind, defaultExpression: r.default_expression }]);
  }
  return byTable;
}

async function tableShapes(conn: ClickHouseConnection, databases: readonly string[]): Promise<Map<string, TableShape>> {
  if (databases.length === 0) return new Map();
  const rows = await conn.rows<{ database: string; name: string; engine: string; partition_key: string }>(
    `SELECT database, name, engine, partition_key FROM system.tables WHERE database IN (${quoteStringList(databases)})`,
  );
  return new Map(rows.map((r) => [tableKey(r.database, r.name), { engine: r.engine, partitionKey: r.partition_key }]));
}

/** A table as the target names it, with its source database where the run renames it. */
export type RenamedTable = TableName & { sourceDatabase?: string };

const asTable = (o: PlannedObject): RenamedTable => ({ database: o.database, table: o.name, ...(o.sourceDatabase !== undefined ? { sourceDatabase: o.sourceDatabase } : {}) });

/** The table as the source names it. */
const onSource = (t: RenamedTable): TableName => ({ database: t.sourceDatabase ?? t.database, table: t.table });

/** A map keyed by the source's names of `tables`, keyed again by the target's. */
function keyedOnTarget<T>(bySource: Map<string, T>, tables: readonly RenamedTable[]): Map<string, T> {
  const keyed = new Map<string, T>();
  for (const t of tables) {
    const found = bySource.get(tableKey(t.sourceDatabase ?? t.database, t.table));
    if (found !== undefined) keyed.set(tableKey(t.database, t.table), found);
  }
  return keyed;
}

/** How each data table's columns meet its target table's (absent where the target lacks the table), keyed by the target's names. */
export async function compareTables(source: ClickHouseConnection, target: ClickHouseConnection, tables: readonly RenamedTable[]): Promise<Map<string, ColumnComparison>> {
  const [sourceColumns, onTarget] = await Promise.all([catalogColumns(source, tables.map(onSource)).then((m) => keyedOnTarget(m, tables)), catalogColumns(target, tables)]);
  const result = new Map<string, ColumnComparison>();
  for (const t of tables) {
    const key = tableKey(t.database, t.table);
    const targetColumns = onTarget.get(key);
    if (targetColumns) result.set(key, compareColumns(sourceColumns.get(key) ?? [], targetColumns));
  }
  return result;
}

/** Probes in flight at once: each is a round trip and no work. */
const PROBE_CONCURRENCY = 4;

/**
 * Configure's check of a `data` run: every table that holds rows exists on the target, is
 * copied the same way (partitioned alike, or whole), and takes the source's columns: none
 * missing, every type the servers convert (asked of both: the source converts on the worker's
 * path, the target on the server's), and every target column the source lacks has a default.
 * Views are neither created nor checked.
 */
export async function checkDataTargets(source: ClickHouseConnection, target: ClickHouseConnection, probe: string, objects: readonly PlannedObject[]) {
  const problems: string[] = [];
  const warnings: string[] = [];
  const tables = objects.filter(holdsData);
  const databases = [...new Set(objects.map((o) => o.database))];
  const [shapesOnSource, shapesOnTarget, comparisons] = await Promise.all([
    tableShapes(source, [...new Set(objects.map((o) => o.sourceDatabase ?? o.database))]).then((m) => keyedOnTarget(m, objects.map(asTable))),
    tableShapes(target, databases),
    compareTables(source, target, tables.map(asTable)),
  ]);
  const conversions: { object: PlannedObject; comparison: ColumnComparison }[] = [];
  for (const object of tables) {
    const name = `${object.database}.${object.name}`;
    const onTarget = shapesOnTarget.get(objectKey(object));
    const comparison = comparisons.get(objectKey(object));
    if (!onTarget || !comparison) {
      problems.push(`${name} does not exist on the target: a data run copies into existing tables only`);
      continue;
    }
    const kind = classifyEngine(onTarget.engine).kind;
    if (kind !== object.kind) problems.push(`${name} is a ${onTarget.engine} table on the target and ${object.engine} on the source: its rows cannot be copied the same way`);
    else if (kind === 'partitioned' && onTarget.partitionKey !== shapesOnSource.get(objectKey(object))?.partitionKey) {
      problems.push(`${name} is partitioned by (${onTarget.partitionKey}) on the target and by (${shapesOnSource.get(objectKey(object))?.partitionKey}) on the source: a data run copies partition by partition`);
    }
    problems.push(...columnProblems(name, comparison));
    if (convertedColumns(comparison).length > 0) conversions.push({ object, comparison });
    if (onTarget.engine !== object.engine) warnings.push(`${name} is ${onTarget.engine} on the target and ${object.engine} on the source: verification compares its rows as stored`);
  }
  problems.push(...(await probeConversions(source, target, probe, conversions)));
  const views = objects.filter(isView).filter((o) => !o.inner);
  if (views.length > 0) warnings.push(`a data run creates no objects: the views ${namedList(views.map((v) => `${v.database}.${v.name}`))} are neither created nor checked`);
  return { problems, warnings };
}

/**
 * Asks the servers whether each column whose type differs converts, without reading a row: the
 * source plans `SELECT CAST(c AS <target type>) … WHERE 0` over its table, and the target plans
 * an `INSERT` of such a cast from a table of the source's types into a copy of its own table,
 * both in the probe database. Each refusal names table and column, in the server's words.
 */
async function probeConversions(
  source: ClickHouseConnection,
  target: ClickHouseConnection,
  probe: string,
  tables: readonly { object: PlannedObject; comparison: ColumnComparison }[],
): Promise<string[]> {
  if (tables.length === 0) return [];
  const problems: string[] = [];
  await withScratchDatabase(target, probe, () =>
    forEachConcurrently(tables.map((t, i) => ({ ...t, i })), PROBE_CONCURRENCY, async ({ object, comparison, i }) => {
      const from = qualifiedName(probe, `s${i}`);
      const into = qualifiedName(probe, `t${i}`);
      const converted = convertedColumns(comparison);
      await target.exec(`CREATE TABLE ${from} (${converted.map((c) => `${quoteIdentifier(c.name)} ${c.sourceType}`).join(', ')}) ENGINE = Memory`);
      await createTwin(target, into, { database: object.database, table: object.name });
      for (const column of converted) {
        const cast = sourceValueOf(column) as string;
        const name = quoteIdentifier(column.name);
        const ask = async (server: string, run: () => Promise<unknown>) =>
          run().catch((err: unknown) =>
            problems.push(`${object.database}.${object.name}: the ${server} does not convert column ${column.name} from ${column.sourceType} to ${column.targetType}: ${firstLine(err, 300)}`),
          );
        await ask('source', () => source.rows(`SELECT ${cast} FROM ${qualifiedName(object.sourceDatabase ?? object.database, object.name)} WHERE 0`));
        await ask('target', () => target.exec(`INSERT INTO ${into} (${name}) SELECT ${cast} FROM ${from}`));
      }
    }),
  );
  return problems.sort();
}

/**
 * The copy's columns of each of `tables` in a `data` run: the columns the target shares with the
 * source, converted to its types. Fails, without retrying, where a table changed since configure
 * so that it can no longer take the source's rows (a source column dropped, say).
 */
export async function dataCopyColumns(source: ClickHouseConnection, target: ClickHouseConnection, tables: readonly RenamedTable[]): Promise<Map<string, CopyColumns>> {
  const comparisons = await compareTables(source, target, tables);
  const problems = tables.flatMap((t) => {
    const comparison = comparisons.get(tableKey(t.database, t.table));
    return comparison ? columnProblems(`${t.database}.${t.table}`, comparison) : [];
  });
  if (problems.length > 0) throw permanent(FAILURE_TYPES.targetConflict, `the tables changed since configure: ${firstLines(problems, DETAIL_LIMIT).join('; ')}`);
  return new Map([...comparisons].map(([key, comparison]) => [key, copyColumns(comparison)]));
}

/**
 * What a `data` run's verification fingerprints of a table, on each side: the common columns,
 * the source's in the target's types; and the target's extra columns, whose defaults it checks.
 */
export function dataFingerprintColumns(comparison: ColumnComparison): { onSource: StoredColumn[]; onTarget: StoredColumn[] } {
  return {
    onSource: comparison.common.map((c) => ({ name: c.name, type: c.targetType, ...(sourceValueOf(c) ? { expression: sourceValueOf(c) } : {}) })),
    onTarget: comparison.common.map((c) => ({ name: c.name, type: c.targetType })),
  };
}

/**
 * For a `data` run: the target's extra columns of a table, each with the rows that do not hold
 * what its default gives (null where that cannot be checked, see `defaultMismatch`). One scan.
 */
export async function extraColumnsCheck(target: ClickHouseConnection, database: string, table: string, comparison: ColumnComparison): Promise<NonNullable<TableVerification['extraColumns']>> {
  const checks = comparison.extra.map((c) => ({ column: c.name, condition: defaultMismatch(c) }));
  const checked = checks.filter((c) => c.condition !== null);
  const counts = new Map<string, number>();
  if (checked.length > 0) {
    const [row] = await target.rows<Record<string, string>>(
      `SELECT ${checked.map((c, i) => `countIf(${c.condition}) AS __m_${i}`).join(', ')} FROM ${qualifiedName(database, table)}`,
    );
    checked.forEach((c, i) => counts.set(c.column, Number(row[`__m_${i}`])));
  }
  return checks.map((c) => ({ column: c.column, differing: counts.get(c.column) ?? null }));
}

/**
 * A `schema` run's verification of a page of the plan: each object exists on the target with
 * the source's engine and columns (names, types, defaults, order). Rows are not compared.
 */
export async function verifyStructures(source: ClickHouseConnection, target: ClickHouseConnection, objects: readonly PlannedObject[]): Promise<TableVerification[]> {
  const databases = [...new Set(objects.map((o) => o.database))];
  const tables = objects.map(asTable);
  const [shapesOnSource, shapesOnTarget, columnsOnSource, onTarget] = await Promise.all([
    tableShapes(source, [...new Set(objects.map((o) => o.sourceDatabase ?? o.database))]).then((m) => keyedOnTarget(m, tables)),
    tableShapes(target, databases),
    catalogColumns(source, tables.map(onSource)).then((m) => keyedOnTarget(m, tables)),
    catalogColumns(target, tables),
  ]);
  return objects.map((object) => {
    const key = objectKey(object);
    const targetShape = shapesOnTarget.get(key);
    const differences = structureDifferences(
      { engine: shapesOnSource.get(key)?.engine ?? object.engine, columns: columnsOnSource.get(key) ?? [] },
      targetShape ? { engine: targetShape.engine, columns: onTarget.get(key) ?? [] } : undefined,
    );
    return { database: object.database, table: object.name, sourceRows: 0, targetRows: 0, sourceChecksum: '0', targetChecksum: '0', match: differences.length === 0, structure: { differences } };
  });
}
