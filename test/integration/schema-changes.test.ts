/**
 * Versioned schema changes against the real target: the plan, staging on a shadow with real rows,
 * apply and re-run, drift, untracked changes, resume after a stop.
 */
import { qualifiedName } from '../../src/clickhouse/sql';
import { approveThrough, changesInput, columnType, createShop, startChanges, THREE_VERSIONS, trackedVersions } from './changes-helpers';
import { tableDigest, uniqueName, useTestServers } from './harness';

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
});
