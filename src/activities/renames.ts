/**
 * Renamed databases on the activities' side: the plan as the target names it, and what the
 * configure step reports that a rename cannot carry safely. The mapping itself is pure, in
 * src/workflows/database-map.ts; the DDL rewrite in src/clickhouse/ddl-rename.ts.
 */
import type { ClickHouseConnection } from '../clickhouse/connection';
import { renameDatabasesIn } from '../clickhouse/ddl-rename';
import { INTERNAL_PREFIX } from '../clickhouse/scratch';
import { quoteString, quoteStringList } from '../clickhouse/sql';
import { onTargetSide, type Renames } from '../workflows/database-map';
import { namedList } from '../workflows/markdown';
import { FAILURE_TYPES, type PlannedObject } from '../workflows/types';
import { permanent } from './context';

/** The plan's objects as the target names them, and what of their DDL could not be rewritten safely. */
export interface PlanOnTarget {
  objects: PlannedObject[];
  /** `db.name: why`, for each place that may name a renamed database and was left as it was. */
  unsafe: string[];
  /** The clusters of Distributed tables that read a renamed database, with the tables. */
  clusters: Map<string, string[]>;
}

/**
 * `objects` (as the source names them) as the target will name them: renamed databases get their
 * target name, the source's kept in `sourceDatabase`, and every CREATE statement (of any database
 * of the run: a view may read a renamed one) names the target databases. Without renames, as they are.
 */
export function planOnTarget(objects: PlannedObject[], renames: Renames | undefined): PlanOnTarget {
  const clusters = new Map<string, string[]>();
  if (!renames) return { objects, unsafe: [], clusters };
  const unsafe: string[] = [];
  const mapped = objects.map((object) => {
    const ddl = renameDatabasesIn(object.createTableQuery, renames);
    const name = `${object.database}.${object.name}`;
    unsafe.push(...ddl.unsafe.map((why) => `${name}: ${why}`));
    for (const cluster of ddl.clusters) clusters.set(cluster, [...(clusters.get(cluster) ?? []), name]);
    return { ...onTargetSide(object, renames), createTableQuery: ddl.sql };
  });
  return { objects: mapped, unsafe, clusters };
}

/** The validation step's plan on the target; a rename that configure would have refused fails here too. */
export function requireSafePlan(objects: PlannedObject[], renames: Renames | undefined): PlannedObject[] {
  const plan = planOnTarget(objects, renames);
  if (plan.unsafe.length > 0) throw permanent(FAILURE_TYPES.sourceInvalid, `a renamed database cannot be rewritten safely: ${plan.unsafe.slice(0, 10).join('; ')}`);
  return plan.objects;
}

/**
 * What blocks a renamed transfer, for the configure step's problems: DDL the rewriter cannot
 * place, Distributed tables whose cluster is not the target alone (their other servers keep the
 * old name), and objects of the source outside the run that read a renamed database (they would
 * not follow it).
 */
export async function renameProblems(source: ClickHouseConnection, target: ClickHouseConnection, plan: PlanOnTarget, databases: readonly string[], renames: Renames | undefined): Promise<string[]> {
  if (!renames) return [];
  const problems = plan.unsafe.map((u) => `cannot rename safely: ${u}`);
  for (const [cluster, tables] of plan.clusters) {
    const [nodes] = await target.rows<{ nodes: string; local: string }>(
      `SELECT count() AS nodes, toUInt64(sum(is_local)) AS local FROM system.clusters WHERE cluster = ${quoteString(cluster)}`,
    );
    if (Number(nodes?.nodes ?? 0) === 0) problems.push(`cannot rename safely: the target has no cluster ${cluster}, which the Distributed table ${namedList(tables)} reads`);
    else if (Number(nodes.local) < Number(nodes.nodes)) {
      problems.push(`cannot rename safely: the cluster ${cluster} of the Distributed table ${namedList(tables)} reaches other servers, whose databases keep their old names`);
    }
  }
  for (const outside of await readersOutsideRun(source, databases, renames)) {
    problems.push(`cannot rename safely: ${outside} on the source reads a renamed database but is not part of the run, so it would not follow the rename`);
  }
  return problems;
}

/** Objects of other source databases whose DDL names a renamed database where a database stands. */
async function readersOutsideRun(source: ClickHouseConnection, databases: readonly string[], renames: Renames): Promise<string[]> {
  const mention = Object.keys(renames).map((db) => `position(create_table_query, ${quoteString(db)}) > 0`).join(' OR ');
  const rows = await source.rows<{ database: string; name: string; create_table_query: string }>(
    `SELECT database, name, create_table_query FROM system.tables
     WHERE database NOT IN (${quoteStringList([...databases, 'system'])}) AND NOT startsWith(database, ${quoteString(INTERNAL_PREFIX)}) AND (${mention})`,
  );
  return rows.filter((r) => renameDatabasesIn(r.create_table_query, renames).sql !== r.create_table_query).map((r) => `${r.database}.${r.name}`);
}
