import { hasTypeFamily, typeFamiliesOf } from '../clickhouse/capabilities';
import { countRows, freeDiskBytes, INTERNAL_PREFIX, listAllColumns, listTables, partitionSizes } from '../clickhouse/catalog';
import type { ClickHouseConnection } from '../clickhouse/connection';
import { DDL_FEATURES, ddlFeaturesOf, probeDdlFeatures, type DdlFeature } from '../clickhouse/ddl-features';
import { FAILURE_TYPES, type ConflictPolicy, type EndpointRef, type PlannedObject, type TableConflict, type TargetReport } from '../workflows/types';
import { permanent, withConnections, type ActivityDeps } from './context';
import { holdsData, takeInventory } from './inventory';

/** Headroom on top of the source's on-disk size: merges and replaced parts need room while they settle. */
const DISK_HEADROOM = 1.2;

/** The configure step: is the target ready for what the source will send? */
export function createConfigureActivities(deps: ActivityDeps) {
  return {
    /**
     * Reports the target's version, capabilities, free disk, the space the data needs and the
     * conflicts with what is already there. Fails, without retrying, when anything blocks.
     */
    async checkTarget(req: {
      runKey: string;
      source: EndpointRef;
      target: EndpointRef;
      databases: string[];
      onConflict: ConflictPolicy;
    }): Promise<TargetReport> {
      return withConnections(deps, { source: req.source, target: req.target }, async ({ source, target }) => {
        const [targetInfo] = await Promise.all([target.server(), source.server()]);
        const problems: string[] = [];
        const warnings: string[] = [];
        const [{ value: readonly }] = await target.rows<{ value: string }>("SELECT value FROM system.settings WHERE name = 'readonly'");
        if (readonly !== '0') problems.push(`the target user "${req.target.username}" is read-only (readonly=${readonly})`);

        const { objects, unsupported } = await takeInventory(source, req.databases);
        const sourceColumns = await listAllColumns(source, req.databases);
        const caps = targetInfo.capabilities;
        for (const object of objects) {
          if (!caps.engines.has(object.engine)) problems.push(`the target has no ${object.engine} engine, used by ${object.database}.${object.name}`);
          for (const column of sourceColumns.get(`${object.database}\u0000${object.name}`) ?? []) {
            const missing = typeFamiliesOf(column.type).filter((family) => !hasTypeFamily(caps, family));
            if (missing.length > 0) {
              problems.push(`the target does not know type ${missing.join(', ')}, used by ${object.database}.${object.name}.${column.name} (${column.type})`);
            }
          }
        }
        const ddlFeatures = await checkDdlFeatures(target, probeDatabase(req.runKey), objects);
        for (const [feature, check] of Object.entries(ddlFeatures)) {
          if (check.supported) continue;
          problems.push(
            `the target (ClickHouse ${targetInfo.version}) does not accept ${DDL_FEATURES[feature as DdlFeature].label}, ` +
              `used by ${check.usedBy.join(', ')}: ${check.detail ?? 'rejected'}`,
          );
        }
        for (const object of unsupported) warnings.push(`${object.database}.${object.name} (${object.engine}) will not be migrated: ${object.unsupportedReason}`);

        const conflicts = await findConflicts(target, objects, sourceColumns, req.databases);
        for (const conflict of conflicts) {
          const name = `${conflict.database}.${conflict.table}`;
          if (!conflict.sameSchema) problems.push(`${name} exists on the target with a different schema and ${conflict.rows} rows`);
          else if (req.onConflict === 'fail') problems.push(`${name} already holds ${conflict.rows} rows on the target (set "onConflict": "replace" to overwrite them)`);
          else warnings.push(`${name} holds ${conflict.rows} rows on the target that will be replaced by the source's`);
        }

        const sourceBytes = objects.reduce((n, o) => n + o.bytesOnDisk, 0);
        const requiredBytes = Math.ceil(sourceBytes * DISK_HEADROOM);
        const free = await freeDiskBytes(target);
        if (free === null) warnings.push(`the target (ClickHouse ${targetInfo.version}) cannot report free disk; make sure ${requiredBytes} bytes are free`);
        else if (free < requiredBytes) problems.push(`the target has ${free} bytes free and the data needs about ${requiredBytes}`);

        const report: TargetReport = {
          version: targetInfo.version,
          capabilities: {
            systemDisks: caps.systemDisks,
            remote: caps.remote,
            remoteSecure: caps.remoteSecure,
            maxInsertThreads: caps.maxInsertThreads,
          },
          ddlFeatures,
          freeBytes: free ?? 'unknown',
          requiredBytes,
          conflicts,
          problems,
          warnings,
        };
        if (problems.length > 0) throw permanent(FAILURE_TYPES.targetNotReady, `the target is not ready: ${problems.join('; ')}`, report);
        return report;
      });
    },
  };
}

/** Name of the scratch database the configure step probes the target's DDL support in. */
export function probeDatabase(runKey: string): string {
  return `${INTERNAL_PREFIX}probe_${runKey}`;
}

/** For each version-dependent DDL feature the source uses: does the target accept it, and who uses it. */
async function checkDdlFeatures(
  target: ClickHouseConnection,
  scratch: string,
  objects: PlannedObject[],
): Promise<TargetReport['ddlFeatures']> {
  const usedBy = new Map<DdlFeature, string[]>();
  for (const object of objects) {
    for (const feature of ddlFeaturesOf(object.createTableQuery)) usedBy.set(feature, [...(usedBy.get(feature) ?? []), `${object.database}.${object.name}`]);
  }
  const probed = await probeDdlFeatures(target, scratch, [...usedBy.keys()]);
  const report: TargetReport['ddlFeatures'] = {};
  for (const [feature, names] of usedBy) report[feature] = { usedBy: names, ...(probed.get(feature) ?? { supported: false }) };
  return report;
}

async function findConflicts(
  target: Parameters<typeof countRows>[0],
  objects: Awaited<ReturnType<typeof takeInventory>>['objects'],
  sourceColumns: Map<string, { name: string; type: string }[]>,
  databases: string[],
): Promise<TableConflict[]> {
  const existing = await listTables(target, databases);
  const targetColumns = await listAllColumns(target, databases);
  const conflicts: TableConflict[] = [];
  for (const object of objects.filter(holdsData)) {
    const match = existing.find((t) => t.database === object.database && t.name === object.name);
    if (!match) continue;
    const rows =
      match.kind === 'partitioned'
        ? (await partitionSizes(target, match.database, match.name)).reduce((n, p) => n + p.rows, 0)
        : match.kind === 'whole-table'
          ? await countRows(target, match.database, match.name)
          : 0;
    const key = `${object.database}\u0000${object.name}`;
    const sameSchema =
      match.engine === object.engine && JSON.stringify(targetColumns.get(key)) === JSON.stringify(sourceColumns.get(key));
    if (rows > 0 || !sameSchema) conflicts.push({ database: object.database, table: object.name, rows, sameSchema });
  }
  return conflicts;
}
