import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { decodeFromPayloadsAtIndex } from '@temporalio/common/lib/internal-non-workflow';
import { qualifiedName, quoteIdentifier, quoteString } from '../../src/clickhouse/sql';
import { runKeyOf } from '../../src/workflows/state';
import type { MigrationReport, MigrationState, UnitRange } from '../../src/workflows/types';
import {
  migrationInput,
  queryState,
  startMigration,
  startWorker,
  tableDigest,
  TEST_SECRET_KEY,
  uniqueName,
  useTestServers,
  waitFor,
} from './harness';
import { testStack } from './stack-env';

const root = join(__dirname, '..', '..');
const servers = useTestServers({ worker: false });

/** A source table of `months` monthly partitions with `rowsPerMonth` rows each. */
async function monthlyTable(months: number, rowsPerMonth: number): Promise<string> {
  const db = servers.database('resume');
  await servers.source.exec(`CREATE DATABASE ${quoteIdentifier(db)}`);
  await servers.source.exec(
    `CREATE TABLE ${qualifiedName(db, 'events')} (day Date, id UInt64, payload String)
     ENGINE = MergeTree PARTITION BY toYYYYMM(day) ORDER BY (day, id)`,
  );
  for (let m = 0; m < months; m++) {
    await servers.source.exec(
      `INSERT INTO ${qualifiedName(db, 'events')}
       SELECT addMonths(toDate('2024-01-01'), ${m}) + (number % 28), number, concat('row-', toString(number)) FROM system.numbers LIMIT ${rowsPerMonth}`,
    );
  }
  return db;
}

/** The worker as its own process, the way `npm start` and deployments run it. */
function spawnWorker(): ChildProcess {
  const stack = testStack();
  return spawn(join(root, 'node_modules', '.bin', 'tsx'), [join(root, 'src', 'worker.ts')], {
    cwd: root,
    env: { ...process.env, TEMPORAL_ADDRESS: stack.temporalAddress, TEMPORAL_NAMESPACE: 'default', MIGRATOR_SECRET_KEY: TEST_SECRET_KEY },
    stdio: 'ignore',
    // Its own process group: tsx runs node as a child, and a kill must reach both.
    detached: true,
  });
}

function killed(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    process.kill(-(child.pid as number), 'SIGKILL');
  });
}

/** Units named in the copy activities that the history scheduled, and how often each was started. */
/**
 * Per unit, the attempts of the copy activities that carried it (a range of small units shares
 * one activity); and how many copy activities ran more than once.
 */
async function copyAttempts(workflowId: string): Promise<{ units: Map<string, number>; retriedActivities: number }> {
  const history = await servers.client.workflow.getHandle(workflowId).fetchHistory();
  const unitsBySchedule = new Map<string, string[]>();
  const starts = new Map<string, number>();
  const retried = new Set<string>();
  for (const event of history.events ?? []) {
    const scheduled = event.activityTaskScheduledEventAttributes;
    if (scheduled?.activityType?.name === 'copyUnitRange') {
      // Payloads are encrypted in history: the client's codec opens them. A range names its units by their index in a manifest list.
      const req = await decodeFromPayloadsAtIndex<{ range: UnitRange }>(servers.client.options.loadedDataConverter, 0, scheduled.input?.payloads);
      const { list, from, to } = req.range;
      unitsBySchedule.set(String(event.eventId), Array.from({ length: to - from }, (_, i) => `${list}/${from + i}`));
    }
    const started = event.activityTaskStartedEventAttributes;
    if (started) {
      const units = unitsBySchedule.get(String(started.scheduledEventId)) ?? [];
      if (units.length > 0 && Number(started.attempt ?? 1) > 1) retried.add(String(started.scheduledEventId));
      for (const unit of units) starts.set(unit, (starts.get(unit) ?? 0) + Number(started.attempt ?? 1));
    }
  }
  return { units: starts, retriedActivities: retried.size };
}

describe('resume and state synchronisation', () => {
  it('when the worker process is killed mid-transfer, a new worker finishes the run without copying done units again', async () => {
    const db = await monthlyTable(16, 150_000);
    const input = migrationInput(uniqueName('kill'), [db], { approvals: { required: false }, options: { parallelism: 1, unitBytes: 1 } });
    const first = spawnWorker();
    let second: ChildProcess | undefined;
    try {
      const handle = await startMigration(servers.client, input);
      const before = await waitFor(() => queryState(handle), (s) => s.progress.unitsDone >= 3, 'three units copied', 120_000);
      await killed(first);
      const doneAtKill = (await queryState(handle).catch(() => before)).progress.unitsDone;
      expect(doneAtKill).toBeLessThan(16);

      second = spawnWorker();
      const final = (await handle.result()) as MigrationState;
      expect(final.status).toBe('completed');
      expect(await tableDigest(servers.target, db, 'events')).toEqual(await tableDigest(servers.source, db, 'events'));
      expect(final.progress).toMatchObject({ unitsDone: 16, unitsTotal: 16, rowsCopied: 16 * 150_000 });

      const { units, retriedActivities } = await copyAttempts(input.id);
      const attempts = [...units.entries()];
      expect(attempts).toHaveLength(16);
      // The units done before the kill were never started again; at most the copy activity in
      // flight was (with one lane, one range of units: see `rangeCuts`).
      expect(attempts.slice(0, doneAtKill).filter(([, n]) => n > 1)).toEqual([]);
      expect(retriedActivities).toBeLessThanOrEqual(1);
    } finally {
      await killed(first);
      if (second) await killed(second);
    }
  });

  it('when rows arrive on the source during the copy, a sync pass brings the target level', async () => {
    const db = await monthlyTable(12, 100_000);
    const worker = await startWorker();
    try {
      const handle = await startMigration(servers.client, migrationInput(uniqueName('sync'), [db], { approvals: { required: false }, options: { parallelism: 1, unitBytes: 1 } }));
      await waitFor(() => queryState(handle), (s) => s.progress.unitsDone >= 2, 'two units copied');
      // January 2024 is copied by now: these rows can only reach the target through a sync pass.
      await servers.source.exec(`INSERT INTO ${qualifiedName(db, 'events')} SELECT toDate('2024-01-15'), 1000000 + number, 'late' FROM system.numbers LIMIT 777`);
      const final = (await handle.result()) as MigrationState;
      const report = final.steps.find((s) => s.name === 'migration')?.result as MigrationReport;

      expect(final.status).toBe('completed');
      expect(report.resynced.length).toBeGreaterThanOrEqual(1);
      expect(report.resynced[0]).toMatchObject({ pass: 1, partitions: expect.arrayContaining([expect.objectContaining({ partitionId: '202401' })]) });
      expect(await tableDigest(servers.target, db, 'events')).toEqual(await tableDigest(servers.source, db, 'events'));
      expect((await tableDigest(servers.target, db, 'events')).rows).toBe(12 * 100_000 + 777);
    } finally {
      await worker.stop();
    }
  });

  it('when a run is cancelled mid-transfer, its copies stop, staging is dropped and the target is rolled back', async () => {
    const db = await monthlyTable(16, 150_000);
    const worker = await startWorker();
    try {
      const handle = await startMigration(servers.client, migrationInput(uniqueName('cancel'), [db], { approvals: { required: false }, options: { parallelism: 2, unitBytes: 1 } }));
      await waitFor(() => queryState(handle), (s) => s.progress.unitsDone >= 2, 'two units copied');
      await handle.cancel();

      await expect(handle.result()).rejects.toThrow();
      const final = await queryState(handle);
      expect(final.status).toBe('cancelled');
      expect(final.progress.unitsDone).toBeLessThan(16);
      expect(final.rollback?.dropped).toEqual(expect.arrayContaining([`${db}.events`, db]));
      // Only this run's scratch objects: other suites may leave runs of their own open on the shared target.
      const runKey = runKeyOf(final.runId);
      const left = await servers.target.rows<{ name: string }>(
        `SELECT name FROM system.databases WHERE name = '${db}' OR (startsWith(name, '__migrator_') AND position(name, '${runKey}') > 0)
         UNION ALL SELECT name FROM system.tables WHERE database = '${db}' OR position(name, '${runKey}') > 0`,
      );
      expect(left).toEqual([]);
      // Statements are stopped on the servers, not only abandoned by the client.
      const running = async () =>
        (
          await Promise.all(
            [servers.source, servers.target].map((conn) =>
              conn.rows<{ query_id: string }>(`SELECT query_id FROM system.processes WHERE startsWith(query_id, ${quoteString(`${handle.workflowId}/`)})`),
            ),
          )
        ).flat();
      expect(await waitFor(running, (queries) => queries.length === 0, 'no statement of the run still running', 10_000)).toEqual([]);
    } finally {
      await worker.stop();
    }
  });
});
