/**
 * Versioned schema changes against the real target: the plan, staging on a shadow with real rows,
 * apply and re-run, drift, untracked changes, resume after a stop.
 */
import { qualifiedName } from '../../src/clickhouse/sql';
import { approveThrough, changesInput, changesState, columnType, createShop, ended, startChanges, THREE_VERSIONS, trackedVersions } from './changes-helpers';
import { tableDigest, uniqueName, useTestServers, waitFor } from './harness';

const servers = useTestServers({ worker: true });

describe('schema changes', () => {
  it('when version 3 changes a type that one real row cannot take, validation fails on the shadow and nothing real changes', async () => {
    const db = servers.database('chg_bad');
    await createShop(servers.target, db, { badAmount: true });
    const before = await tableDigest(servers.target, db, 'orders');
    const handle = await startChanges(servers.client, changesInput(uniqueName('chg'), db, THREE_VERSIONS));
    const state = await approveThrough(handle, 'validation');
    expect(state.status).toBe('failed');
    const validation = state.steps.find((s) => s.name === 'validation');
    expect(validation?.status).toBe('failed');
    expect(validation?.error?.message).toMatch(/version 003 \(amount_as_number\), statement 1 failed on the staging copy/);
    expect(validation?.error?.message).toMatch(/n\/a/);
    expect(await tableDigest(servers.target, db, 'orders')).toEqual(before);
    expect(await columnType(servers.target, db, 'orders', 'amount')).toBe('String');
    expect(await trackedVersions(servers.target, db)).toEqual([]);
    const left = await servers.target.rows<{ name: string }>(`SELECT name FROM system.databases WHERE name LIKE '__migrator_%'`);
    expect(left.filter((d) => d.name.includes('shadow'))).toEqual([]);
    const tables = await servers.target.rows<{ name: string }>(`SELECT name FROM system.tables WHERE database = '${db}' ORDER BY name`);
    expect(tables.map((t) => t.name)).toEqual(['customers', 'legacy_events', 'orders']);
  });

  it('applies every version with approvals, then a second run applies nothing and seeds no row twice', async () => {
    const db = servers.database('chg_ok');
    await createShop(servers.target, db, { badAmount: false });
    const first = await approveThrough(await startChanges(servers.client, changesInput(uniqueName('chg'), db, THREE_VERSIONS)));
    expect([first.status, first.error]).toEqual(['completed', null]);
    expect(await columnType(servers.target, db, 'orders', 'amount')).toBe('UInt32');
    expect(await columnType(servers.target, db, 'customers', 'region')).toBe('String');
    const tracked = await trackedVersions(servers.target, db);
    expect(tracked.map((t) => [t.version, t.name, t.statementsApplied, t.dirty])).toEqual([
      ['001', 'create_regions', 2, false],
      ['002', 'add_region_to_customers', 1, false],
      ['003', 'amount_as_number', 2, false],
    ]);
    const regions = await servers.target.rows<{ code: string; name: string }>(`SELECT code, name FROM ${qualifiedName(db, 'regions')} ORDER BY code`);
    expect(regions).toEqual([{ code: 'ci', name: 'Cote d;Ivoire' }, { code: 'eu', name: 'Europe' }]);

    const second = await approveThrough(await startChanges(servers.client, changesInput(uniqueName('chg'), db, THREE_VERSIONS)));
    expect([second.status, second.error]).toEqual(['completed', null]);
    const plan = second.steps.find((s) => s.name === 'configure')?.result as { pendingVersions: number };
    expect(plan.pendingVersions).toBe(0);
    const again = await servers.target.rows<{ n: string }>(`SELECT count() AS n FROM ${qualifiedName(db, 'regions')}`);
    expect(again[0].n).toBe('2');
  });

  it('when a version is recorded by someone else while the run waits for the migration approval, the migration step refuses to apply anything', async () => {
    const db = servers.database('chg_race');
    await createShop(servers.target, db, { badAmount: false });
    const changes = THREE_VERSIONS.slice(0, 2);
    // The tracking table exists (one version applied), so another tool can record the next one by hand.
    expect((await approveThrough(await startChanges(servers.client, changesInput(uniqueName('chg'), db, changes.slice(0, 1))))).status).toBe('completed');
    const handle = await startChanges(servers.client, changesInput(uniqueName('chg'), db, changes));
    for (const step of ['configure', 'validation'] as const) {
      await waitFor(() => changesState(handle), (s) => s.awaitingApproval?.step === step, `approval of ${step}`);
      await handle.signal('approve', { step, by: 'reviewer' });
    }
    await waitFor(() => changesState(handle), (s) => s.awaitingApproval?.step === 'migration', 'approval of migration');
    await servers.target.exec(
      `INSERT INTO ${qualifiedName(db, 'schema_migrations')} (version, name, checksum, statements_applied, statements_total, dirty, recorded_at) VALUES ('002', 'by hand', 'x', 1, 1, 0, 1)`,
    );
    const before = await tableDigest(servers.target, db, 'customers');
    await handle.signal('approve', { step: 'migration', by: 'reviewer' });
    const state = await ended(handle);
    expect(state.status).toBe('failed');
    expect(state.error?.type).toBe('ChangesDrift');
    expect(state.error?.message).toMatch(/version 002 \(add_region_to_customers\) was applied by run/);
    expect(await columnType(servers.target, db, 'customers', 'region')).toBeNull();
    expect(await tableDigest(servers.target, db, 'customers')).toEqual(before);
  });

  it('when a statement that names a password fails on the shadow, neither the state, the history nor the message holds the password', async () => {
    const db = servers.database('chg_secret');
    await createShop(servers.target, db, { badAmount: false });
    const password = 'hunter2-never-shown';
    // A closed loopback port: the statement fails with the server's words about the connection.
    const changes = [{ version: '001', name: 'pull_rows', sql: `INSERT INTO customers SELECT * FROM remote('127.0.0.1:1', 'other', 'customers', 'reader', '${password}')` }];
    const handle = await startChanges(servers.client, changesInput(uniqueName('chg'), db, changes));
    const state = await approveThrough(handle, 'validation');
    expect(state.status).toBe('failed');
    expect(state.error?.message).toMatch(/version 001 \(pull_rows\), statement 1 failed on the staging copy/);
    expect(state.error?.message).toContain("'***'");
    const history = JSON.stringify(await handle.fetchHistory());
    for (const text of [JSON.stringify(state), history]) expect(text).not.toContain(password);
  });
});
