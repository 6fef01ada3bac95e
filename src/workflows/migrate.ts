import { ApplicationFailure } from '@temporalio/workflow';
import { long, scan } from './activity-stubs';
import { copyAll, progressOf, type CopyPass } from './copy-scheduler';
import { holdsData } from './objects';
import { objectKey } from './table-key';
import { replicationOf } from './replication';
import type { RunEnding } from './recovery';
import { FAILURE_TYPES, type MigrationInput, type MigrationReport, type MigrationState, type ValidationReport } from './types';

/**
 * The migration step of runs that predate the manifest (see `migrateDataPaged`): creates the schema, copies every unit, then verifies and re-copies what
 * differs, up to `syncPasses` times. Fails, without retrying, when the target still differs.
 */
export async function migrateData(
  run: { runKey: string; input: MigrationInput; state: MigrationState; ending: RunEnding },
  plan: ValidationReport,
): Promise<MigrationReport> {
  const { input, state } = run;
  const objects = plan.objects ?? [];
  const endpoints = { source: input.source, target: input.target };
  const path = plan.transfer.path;
  const began = Date.now();
  // What a rollback undoes: the tables copied into, and (once the schema is created) the new objects.
  run.ending.scope = { created: null, tables: objects.filter(holdsData).map(objectKey) };
  const created = await scan.createSchema({ target: input.target, objects, ...replicationOf(input) });
  run.ending.scope.created = created;
  const units = await scan.planCopy({ ...endpoints, objects, created, unitBytes: input.options.unitBytes });
  state.progress = progressOf(units);
  const pass: CopyPass = { runKey: run.runKey, ...endpoints, path, parallelism: input.options.parallelism };
  const copyBegan = Date.now();
  const copied = await copyAll(units, { ...pass, progress: state.progress });
  const copyEnded = Date.now();
  const resynced: MigrationReport['resynced'] = [];
  let report = await long.verifyData({ ...endpoints, objects, ...replicationOf(input) });
  for (let round = 1; round <= input.options.syncPasses && report.mismatched.length + report.extra.length > 0; round++) {
    const again = [...report.mismatched, ...report.extra];
    const recopied = await copyAll(again, pass);
    resynced.push({
      pass: round,
      units: again.length,
      rows: recopied.rows,
      partitions: again.map((u) => ({ database: u.database, table: u.table, partitionId: u.partitionId })).slice(0, 100),
    });
    report = await long.verifyData({ ...endpoints, objects, ...replicationOf(input) });
  }
  const differing = report.tables.filter((t) => !t.match);
  if (differing.length > 0) {
    throw ApplicationFailure.create({
      type: FAILURE_TYPES.verificationFailed,
      message: `source and target still differ after ${input.options.syncPasses} sync passes: ${differing
        .map((t) => `${t.database}.${t.table} (${t.sourceRows} vs ${t.targetRows} rows)`)
        .join(', ')}`,
      nonRetryable: true,
    });
  }
  return {
    transferPath: path,
    created,
    copied: { ...copied, units: units.length },
    resynced,
    verification: report.tables,
    ...(report.replicas ? { replicas: report.replicas } : {}),
    timings: { schemaMs: copyBegan - began, copyMs: copyEnded - copyBegan, verifyAndSyncMs: Date.now() - copyEnded },
    skipped: plan.unsupported.map(({ database, name, reason }) => ({ database, name, reason })),
  };
}
