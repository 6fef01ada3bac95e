/**
 * Runs of schema changes that fail or are cancelled in their migration step: a stop that leaves
 * a version dirty and a later run that resumes after what was applied, and a cancel during a
 * mutation that rolls back column types, a dropped table, rewritten rows and the tracking table.
 */
import { qualifiedName } from '../../src/clickhouse/sql';
import type { Change, ChangesPlan } from '../../src/workflows/changes-types';
import { approveThrough, changesInput, columnType, createAccounts, createReadings, ended, midMutation, SLOW_LEDGER_UPDATE, snapshotOf, startChanges, trackedVersions } from './changes-helpers';
import { uniqueName, useTestServers, RUN_DATABASES } from './harness';

const servers = useTestServers({ worker: true });

describe('schema changes that fail or are cancelled', () => {
  it('with onFailure "stop", a version whose fourth statement fails stays dirty at 3, and the next run resumes at statement 4', async () => {
    const db = servers.database('chg_stop');
    const t = servers.target;
    await createReadings(t, db);
    const statements = [
      "ALTER TABLE readings ADD COLUMN unit String DEFAULT 'kWh'",
      'CREATE TABLE sites (id UInt32, name String) ENGINE = MergeTree ORDER BY id',
      "INSERT INTO sites VALUES (1, 'north'), (2, 'south')",
      'ALTER TABLE readings MODIFY COLUMN value UInt64',
      'ALTER TABLE readings ADD COLUMN site UInt32 DEFAULT 1',
    ];
    const change = (fourth: string): Change[] => [{ version: '004', name: 'sites', sql: [...statements.slice(0, 3), fourth, statements[4]].join(';\n') }];

    const failed = await approveThrough(await startChanges(servers.client, changesInput(uniqueName('chg'), db, change(statements[3]), { options: { onFailure: 'stop' } })));
    expect(failed.status).toBe('failed');
    expect(failed.changes.stopped).toEqual({ version: '004', applied: 3, statements: 5 });
    expect(failed.error?.message).toMatch(/version 004 \(sites\), statement 4 failed/);
    expect(failed.error?.message).toMatch(/resumes at statement 4/);
    expect(failed.rollback).toBeNull();
    expect(await trackedVersions(t, db)).toEqual([expect.objectContaining({ version: '004', statementsApplied: 3, dirty: true })]);
    expect(await columnType(t, db, 'readings', 'unit')).toBe('String');
    expect(await columnType(t, db, 'readings', 'value')).toBe('String');
    expect(await columnType(t, db, 'readings', 'site')).toBeNull();

    const fixed = "ALTER TABLE readings ADD COLUMN value_number UInt64 MATERIALIZED toUInt64OrZero(value)";
    const resumed = await approveThrough(await startChanges(servers.client, changesInput(uniqueName('chg'), db, change(fixed), { options: { onFailure: 'stop' } })));
    expect([resumed.status, resumed.error]).toEqual(['completed', null]);
    const plan = resumed.steps.find((s) => s.name === 'configure')?.result as ChangesPlan;
    expect(plan.versions.map((v) => [v.version, v.status, v.from, v.pending.map((p) => p.index)])).toEqual([['004', 'resume', 4, [4, 5]]]);
    expect(await trackedVersions(t, db)).toEqual([expect.objectContaining({ version: '004', statementsApplied: 5, dirty: false })]);
    // Statements 1 to 3 ran once: the seed rows are not doubled.
    const sites = await t.rows<{ n: string }>(`SELECT count() AS n FROM ${qualifiedName(db, 'sites')}`);
    expect(sites[0].n).toBe('2');
    expect(await columnType(t, db, 'readings', 'value_number')).toBe('UInt64');
    expect(await columnType(t, db, 'readings', 'site')).toBe('UInt32');
  });

  it('cancelled while it waits for a mutation, the run restores the column type, the dropped table, the rewritten rows and the tracking table', async () => {
    const db = servers.database('chg_cancel');
    const t = servers.target;
    await createAccounts(t, db);
    const first: Change = { version: '001', name: 'baseline', sql: "ALTER TABLE accounts ADD COLUMN note String DEFAULT ''" };
    expect((await approveThrough(await startChanges(servers.client, changesInput(uniqueName('chg'), db, [first])))).status).toBe('completed');
    // Merged now, so that no background merge changes its stored rows between this snapshot and the run's restore point.
    await t.exec(`OPTIMIZE TABLE ${qualifiedName(db, 'schema_migrations')} FINAL`);
    const before = await snapshotOf(t, db);
    const trackingBefore = await t.rows(`SELECT * FROM ${qualifiedName(db, 'schema_migrations')} ORDER BY recorded_at`);

    const second: Change = {
      version: '002',
      name: 'reshape',
      sql: ['ALTER TABLE accounts MODIFY COLUMN balance UInt64', 'DROP TABLE audit', SLOW_LEDGER_UPDATE].join(';\n'),
    };
    const handle = await startChanges(servers.client, changesInput(uniqueName('chg'), db, [first, second]));
    const approving = approveThrough(handle);
    // Cancelled once the mutation has rewritten some parts and has others left.
    const waiting = await midMutation(handle, t, db);
    expect(waiting.state.changes.current).toEqual(expect.objectContaining({ version: '002', statement: 3 }));
    expect(waiting.state.changes.current?.mutationPartsLeft).toBeGreaterThan(0);
    expect(waiting.rewritten).toBeGreaterThan(0);
    expect(await columnType(t, db, 'accounts', 'balance')).toBe('UInt64');
    await handle.cancel();
    await approving;
    const state = await ended(handle);
    expect(state.status).toBe('cancelled');
    expect(state.rollback?.verified.every((v) => v.match)).toBe(true);

    expect(await snapshotOf(t, db)).toEqual(before);
    expect(await columnType(t, db, 'accounts', 'balance')).toBe('String');
    expect(await t.rows(`SELECT * FROM ${qualifiedName(db, 'schema_migrations')} ORDER BY recorded_at`)).toEqual(trackingBefore);
    const unfinished = await t.rows(`SELECT table FROM system.mutations WHERE database = '${db}' AND is_done = 0`);
    expect(unfinished).toEqual([]);
    const scratch = await t.rows<{ name: string }>(`SELECT name FROM system.databases WHERE ${RUN_DATABASES}`);
    expect(scratch).toEqual([]);
  });

  it('when a statement fails after a materialized view with its own storage was dropped, the rollback brings the view back with its rows', async () => {
    const db = servers.database('chg_mv');
    const t = servers.target;
    await createReadings(t, db);
    await t.exec(`CREATE TABLE ${qualifiedName(db, 'events')} (day Date, kind String) ENGINE = MergeTree PARTITION BY toYYYYMM(day) ORDER BY day`);
    await t.exec(
      `CREATE MATERIALIZED VIEW ${qualifiedName(db, 'kinds_per_day')} ENGINE = SummingMergeTree ORDER BY (day, kind) AS SELECT day, kind, count() AS n FROM ${qualifiedName(db, 'events')} GROUP BY day, kind`,
    );
    await t.exec(`INSERT INTO ${qualifiedName(db, 'events')} SELECT toDate('2024-01-01') + number % 40, ['a', 'b'][number % 2 + 1] FROM system.numbers LIMIT 3000`);
    const before = await snapshotOf(t, db);
    const version: Change = {
      version: '001',
      name: 'retire_view',
      // The second statement fails only on the real table: its one bad value is past what staging samples.
      sql: ['DROP TABLE kinds_per_day', 'ALTER TABLE readings MODIFY COLUMN value UInt64'].join(';\n'),
    };
    const state = await approveThrough(await startChanges(servers.client, changesInput(uniqueName('chg'), db, [version])));
    expect(state.status).toBe('rolled_back');
    expect(state.error?.message).toMatch(/version 001 \(retire_view\), statement 2 failed/);
    expect(state.rollback?.verified.every((v) => v.match)).toBe(true);
    expect(await snapshotOf(t, db)).toEqual(before);
  });
});
