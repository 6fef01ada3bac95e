/**
 * The validation step of a run of changes: a shadow of the database on the target itself, with the
 * same tables and a sample of their real rows, where every pending statement runs first.
 */
import { execDdl } from '../../clickhouse/capabilities';
import { listTables, partitionSizes, type TableInfo } from '../../clickhouse/catalog';
import type { ClickHouseConnection } from '../../clickhouse/connection';
import { refusedStatement } from '../../clickhouse/errors';
import { shadowDatabase, withScratchDatabase } from '../../clickhouse/scratch';
import { qualifiedName, quoteString } from '../../clickhouse/sql';
import { redirectDatabase } from '../../clickhouse/statements';
import { CHANGES_FAILURE_TYPES, SAMPLE_ROWS_PER_PARTITION, TRACKING_TABLE, type Change, type ChangesPlan, type StagingReport } from '../../workflows/changes-types';
import { plannedStatement } from './plan';
import { DDL_CONCURRENCY, forEachConcurrently, heartbeatNow, permanent } from '../context';
import { mutationProgress, mutationsOf, parseMutationKey } from './mutations';
import { statementFailure } from './failures';

/** How long staging waits for the mutations a statement starts on the sample, before it calls the statement failed. */
const STAGING_MUTATION_TIMEOUT_MS = 120_000;

/** Engines whose tables the shadow builds: their rows stay inside the server, so staging cannot write anywhere else. */
function stageable(table: TableInfo): boolean {
  return table.kind === 'partitioned' || table.kind === 'whole-table' || table.kind === 'view' || table.kind === 'materialized-view' || table.engine === 'Null';
}

/**
 * Builds the shadow, loads the sample, and runs every pending statement of `plan` in it, names of
 * the database redirected to the shadow. A statement that fails ends the step without retrying,
 * naming the version, the statement and the server's words. The shadow is dropped either way.
 */
export async function stageChanges(target: ClickHouseConnection, runKey: string, database: string, plan: ChangesPlan, changes: readonly Change[]): Promise<StagingReport> {
  const shadow = shadowDatabase(runKey);
  return withScratchDatabase(target, shadow, async () => {
    const report: StagingReport = { shadowDatabase: shadow, tables: 0, sampledRows: 0, rowsPerPartition: SAMPLE_ROWS_PER_PARTITION, statements: 0, notStaged: [] };
    const all = (await listTables(target, [database])).filter((t) => !t.inner && t.name !== TRACKING_TABLE);
    const staged = all.filter(stageable);
    for (const t of all.filter((t) => !stageable(t))) report.notStaged.push({ object: t.name, reason: `the ${t.engine} engine reads or writes outside the database, so staging does not build it` });
    const shadowDdl = (t: TableInfo) => redirectDatabase(t.createTableQuery, database, shadow);
    // Tables first, loaded with their sample before any view exists: a materialized view would count the sample twice.
    const tables = staged.filter((t) => t.kind !== 'view' && t.kind !== 'materialized-view');
    await forEachConcurrently(tables, DDL_CONCURRENCY, async (t) => {
      await execDdl(target, shadowDdl(t));
      report.sampledRows += await loadSample(target, database, shadow, t);
      heartbeatNow({ step: 'staging', table: t.name });
    });
    await createViews(target, staged.filter((t) => t.kind === 'view' || t.kind === 'materialized-view'), shadowDdl, report);
    report.tables = staged.length;
    for (const version of plan.versions) {
      const change = changes.find((c) => c.version === version.version);
      for (const { index } of version.pending) {
        heartbeatNow({ step: 'staging', version: version.version, statement: index });
        const where = `version ${version.version} (${version.name}), statement ${index}`;
        const sql = plannedStatement(change, version, index);
        const before = await mutationsOf(target, shadow);
        try {
          await target.exec(redirectDatabase(sql, database, shadow), { database: shadow });
        } catch (err) {
          if (!refusedStatement(err)) throw err;
          throw stagingFailure(where, sql, database, err.message);
        }
        const failure = await awaitMutations(target, shadow, before);
        if (failure) throw stagingFailure(where, sql, database, failure);
        report.statements++;
      }
    }
    return report;
  });
}

function stagingFailure(where: string, sql: string, database: string, reason: string) {
  return permanent(CHANGES_FAILURE_TYPES.stagingFailed, statementFailure(`${where} failed on the staging copy of ${database}, so nothing real was changed`, sql, reason));
}

/** Copies up to SAMPLE_ROWS_PER_PARTITION rows of each partition (of the whole table, for engines without partitions) into the shadow. */
async function loadSample(target: ClickHouseConnection, database: string, shadow: string, table: TableInfo): Promise<number> {
  const from = qualifiedName(database, table.name);
  const into = qualifiedName(shadow, table.name);
  if (table.kind === 'partitioned') {
    let rows = 0;
    for (const p of await partitionSizes(target, database, table.name)) {
      await target.exec(`INSERT INTO ${into} SELECT * FROM ${from} WHERE _partition_id = ${quoteString(p.partitionId)} LIMIT ${SAMPLE_ROWS_PER_PARTITION}`);
      rows += Math.min(p.rows, SAMPLE_ROWS_PER_PARTITION);
    }
    return rows;
  }
  if (table.kind !== 'whole-table') return 0;
  await target.exec(`INSERT INTO ${into} SELECT * FROM ${from} LIMIT ${SAMPLE_ROWS_PER_PARTITION}`);
  const [row] = await target.rows<{ n: string }>(`SELECT count() AS n FROM ${into}`);
  return Number(row?.n ?? 0);
}

/** Creates the views in the shadow; one that reads another view waits for it (a few rounds, as many as the chain is long). */
async function createViews(target: ClickHouseConnection, views: TableInfo[], ddl: (t: TableInfo) => string, report: StagingReport): Promise<void> {
  let waiting = views;
  while (waiting.length > 0) {
    const refused: { view: TableInfo; reason: string }[] = [];
    for (const view of waiting) {
      await execDdl(target, ddl(view)).catch((err: unknown) => refused.push({ view, reason: err instanceof Error ? err.message : String(err) }));
    }
    if (refused.length === waiting.length) {
      for (const r of refused) report.notStaged.push({ object: r.view.name, reason: `the shadow refused it: ${r.reason}` });
      return;
    }
    waiting = refused.map((r) => r.view);
  }
}

/** Waits for the mutations a statement started in the shadow; returns why one failed, or null. */
async function awaitMutations(target: ClickHouseConnection, shadow: string, before: Set<string>): Promise<string | null> {
  const started = [...(await mutationsOf(target, shadow))].filter((id) => !before.has(id));
  if (started.length === 0) return null;
  const deadline = Date.now() + STAGING_MUTATION_TIMEOUT_MS;
  for (;;) {
    const progress = await mutationProgress(target, shadow, started.map(parseMutationKey));
    if (progress.failed) return `its mutation of ${progress.failed.table} failed: ${progress.failed.reason}`;
    if (progress.running === 0) return null;
    if (Date.now() > deadline) {
      return `its mutation did not finish within ${STAGING_MUTATION_TIMEOUT_MS / 1000} s on the sample (${progress.partsLeft} parts left); servers before 20.x give no reason for a mutation that keeps failing`;
    }
    heartbeatNow({ step: 'staging', mutations: progress.partsLeft });
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
