import { CancelledFailure } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { decodeFromPayloadsAtIndex } from '@temporalio/common/lib/internal-non-workflow';
import { INTERNAL_PREFIX, parseScratchName } from '../clickhouse/scratch';
import { qualifiedName, quoteIdentifier, quoteString } from '../clickhouse/sql';
import { legacyRunKeyOf, runKeyOf } from '../workflows/state';
import { listedStatus } from '../temporal';
import { RUN_TYPES_CLAUSE } from '../workflows/run-types';
import { type EndpointRef, type JanitorReport, type MigrationInput } from '../workflows/types';
import { heartbeating, withConnections, type ActivityDeps } from './context';

/** How far back the janitor looks for closed runs whose targets it sweeps. */
const WINDOW_DAYS = 14;
/** How a run ended, when it ended cleanly: its restore point is no longer needed. */
const CLEAN_ENDINGS = new Set(['completed', 'rejected', 'rolled_back', 'cancelled']);

/** What the janitor knows of a run: whether it is open, how it ended, and its target (null when its input is sealed under a key this worker lacks). */
interface KnownRun {
  id: string;
  open: boolean;
  status: string;
  target: EndpointRef | null;
}

/** The janitor: finds the scratch objects of closed runs on their targets and removes them. */
export function createJanitorActivities(deps: ActivityDeps) {
  return {
    /**
     * Sweeps the targets of the runs of the last WINDOW_DAYS days. Staging tables and scratch
     * databases of runs that are no longer open are dropped. A restore point is dropped only when
     * its run ended cleanly; one whose run failed or was terminated may be the only way back, so
     * it is kept and listed. An object whose run key names none of the namespace's runs (another
     * namespace's run on a shared target, or a run older than the window) is kept and listed.
     */
    async sweepScratch(): Promise<JanitorReport> {
      if (!deps.temporal) throw new Error('the janitor needs a Temporal client in the worker');
      const namespace = deps.temporal.options.namespace;
      const runs = await knownRuns(deps.temporal);
      const report: JanitorReport = { targets: 0, removed: [], kept: [], unreachable: [] };
      for (const candidates of targetServers([...runs.values()])) {
        report.targets++;
        const swept = await firstThatConnects(candidates, (target) =>
          withConnections(deps, { target }, ({ target: conn }) =>
            heartbeating(() => report, async () => {
              const prefix = quoteString(INTERNAL_PREFIX);
              const databases = await conn.rows<{ name: string }>(`SELECT name FROM system.databases WHERE startsWith(name, ${prefix})`);
              const tables = await conn.rows<{ database: string; name: string }>(
                `SELECT database, name FROM system.tables WHERE startsWith(name, ${prefix}) AND NOT startsWith(database, ${prefix})`,
              );
              for (const object of [...tables, ...databases.map((d) => ({ database: d.name, name: '' }))]) await sweepOne(conn, object, runs, namespace, target.url, report);
            }),
          ),
        );
        if (swept !== true) report.unreachable.push({ target: candidates[0].url, reason: swept });
      }
      return report;
    },
  };
}

async function sweepOne(
  conn: { exec(sql: string): Promise<void> },
  object: { database: string; name: string },
  runs: Map<string, KnownRun>,
  namespace: string,
  url: string,
  report: JanitorReport,
): Promise<void> {
  const scratch = parseScratchName(object.name || object.database);
  if (!scratch) return;
  const run = runs.get(scratch.runKey);
  if (run?.open) return;
  const where = `${url} ${object.name ? `${object.database}.${object.name}` : object.database}`;
  // Only a run this namespace knows is attributed: the target may be shared with the runs of
  // another namespace, whose objects (open runs' among them) are theirs to sweep.
  if (!run) {
    report.kept.push({ object: where, reason: unattributed(namespace, scratch.runKey) });
    return;
  }
  // A manifest names the tables of its run's restore point: the two are kept, or dropped, together.
  if ((scratch.kind === 'restore' || scratch.kind === 'manifest') && !CLEAN_ENDINGS.has(run.status)) {
    report.kept.push({ object: where, reason: `run ${run.id} ended ${run.status}: the restore point may be the only way back` });
    return;
  }
  await conn.exec(object.name ? `DROP TABLE IF EXISTS ${qualifiedName(object.database, object.name)}` : `DROP DATABASE IF EXISTS ${quoteIdentifier(object.database)}`);
  report.removed.push(where);
}

/** Why an object whose run key names no run of the namespace's window is kept. */
function unattributed(namespace: string, runKey: string): string {
  return `no run of namespace ${namespace} has run key ${runKey}: it may belong to another namespace or to a run older than ${WINDOW_DAYS} days`;
}

/** The runs of the window, keyed by run key, with their status and target (read from their input). */
async function knownRuns(client: Client): Promise<Map<string, KnownRun>> {
  const since = new Date(Date.now() - WINDOW_DAYS * 86_400_000).toISOString();
  const runs = new Map<string, KnownRun>();
  const query = `${RUN_TYPES_CLAUSE} AND (ExecutionStatus = 'Running' OR CloseTime > ${quoteString(since)})`;
  for await (const info of client.workflow.list({ query })) {
    // A run whose input this worker cannot read still owns its objects: an open one's are left alone.
    const input = await firstInput(client, info.workflowId, info.runId);
    const run = { id: info.workflowId, open: info.status.name === 'RUNNING', status: listedStatus(info), target: input?.target ?? null };
    // The run's objects are named by one of its two keys, whichever its workflow code used.
    for (const key of [runKeyOf(info.runId), legacyRunKeyOf(info.runId)]) runs.set(key, run);
  }
  return runs;
}

/** The input of a run, from the first event of its history (one event is fetched, not the whole history). */
async function firstInput(client: Client, workflowId: string, runId: string): Promise<MigrationInput | null> {
  const { history } = await client.workflowService.getWorkflowExecutionHistory({
    namespace: client.options.namespace,
    execution: { workflowId, runId },
    maximumPageSize: 1,
  });
  const payloads = history?.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads;
  if (!payloads?.length) return null;
  // A run encrypted under a key this worker lacks cannot be swept here: another worker will.
  return decodeFromPayloadsAtIndex<MigrationInput>(client.options.loadedDataConverter, 0, payloads).catch(() => null);
}

/**
 * The target servers of the runs, each with the distinct credentials its runs gave, newest run
 * first: one run's credentials may no longer work (or name a secret this worker lacks) where
 * another's still do.
 */
function targetServers(runs: KnownRun[]): EndpointRef[][] {
  const byServer = new Map<string, Map<string, EndpointRef>>();
  for (const { target } of runs) {
    if (!target) continue;
    const credentials = byServer.get(target.url) ?? new Map<string, EndpointRef>();
    credentials.set(JSON.stringify([target.username, target.password, target.passwordRef]), target);
    byServer.set(target.url, credentials);
  }
  return [...byServer.values()].map((credentials) => [...credentials.values()]);
}

/** Runs `sweep` with each candidate until one gets through; true, or the last failure's message. */
async function firstThatConnects(candidates: EndpointRef[], sweep: (target: EndpointRef) => Promise<void>): Promise<true | string> {
  let reason = 'no credentials';
  for (const candidate of candidates) {
    try {
      await sweep(candidate);
      return true;
    } catch (err) {
      if (err instanceof CancelledFailure) throw err;
      reason = err instanceof Error ? err.message : String(err);
    }
  }
  return reason;
}
