/**
 * Versioned schema changes across runs, against the real target: an applied version whose text
 * changed (drift), changes made by hand between runs, the same plan read from each folder layout,
 * and a run started and approved through the API.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { readChangesDir, type ChangeLayout } from '../../src/changes/layouts';
import { qualifiedName, quoteString } from '../../src/clickhouse/sql';
import { CHANGES_FAILURE_TYPES, type Change, type ChangesPlan, type ChangesState } from '../../src/workflows/changes-types';
import { approveThrough, changesInput, changesState, columnType, createShop, startChanges, THREE_VERSIONS, trackedVersions } from './changes-helpers';
import { apiEndpoint, listenTestApi, uniqueName, useTestServers, waitFor } from './harness';
import { testStack } from './stack-env';

const servers = useTestServers({ worker: true });

/** The first two versions of THREE_VERSIONS: a new table and a new column, no rewrite of stored data. */
const FIRST_TWO = THREE_VERSIONS.slice(0, 2);
/** A third version for the runs after FIRST_TWO. */
const NOTES: Change = { version: '003', name: 'create_notes', sql: 'CREATE TABLE notes (id UInt64, text String) ENGINE = MergeTree ORDER BY id' };

/** Tables, columns, types and defaults of a database, as the catalogue has them. */
async function schemaOf(db: string): Promise<string[]> {
  const rows = await servers.target.rows<{ table: string; name: string; type: string; default_expression: string }>(
    `SELECT table, name, type, default_expression FROM system.columns WHERE database = ${quoteString(db)} ORDER BY table, name`,
  );
  return rows.map((r) => `${r.table}.${r.name} ${r.type} ${r.default_expression}`);
}

const configureOf = (state: ChangesState) => state.steps.find((s) => s.name === 'configure');

/** A database with the shop and FIRST_TWO applied by a completed run. */
async function shopWithFirstTwo(prefix: string): Promise<string> {
  const db = servers.database(prefix);
  await createShop(servers.target, db, { badAmount: false });
  const first = await approveThrough(await startChanges(servers.client, changesInput(uniqueName('chg'), db, FIRST_TWO)));
  expect([first.status, first.error]).toEqual(['completed', null]);
  return db;
}

describe('schema changes across runs', () => {
  it('when the text of an applied version changed, configure fails naming it as drift, and neither the tracking table nor the schema changes', async () => {
    const db = await shopWithFirstTwo('chg_drift');
    const trackedBefore = await trackedVersions(servers.target, db);
    const schemaBefore = await schemaOf(db);
    const edited = [FIRST_TWO[0], { ...FIRST_TWO[1], sql: FIRST_TWO[1].sql.replace("DEFAULT 'eu'", "DEFAULT 'us'") }, NOTES];

    const state = await approveThrough(await startChanges(servers.client, changesInput(uniqueName('chg'), db, edited)));

    expect(state.status).toBe('failed');
    const configure = configureOf(state);
    expect(configure?.status).toBe('failed');
    expect(configure?.error?.type).toBe(CHANGES_FAILURE_TYPES.drift);
    expect(configure?.error?.message).toMatch(/version 002 \(add_region_to_customers\) was applied by run .*an applied version is never changed/);
    expect(state.error).toEqual(configure?.error);
    expect(state.steps.find((s) => s.name === 'migration')?.status).not.toBe('completed');
    expect(await trackedVersions(servers.target, db)).toEqual(trackedBefore);
    expect(await schemaOf(db)).toEqual(schemaBefore);
    expect(await columnType(servers.target, db, 'notes', 'id')).toBeNull();
  });

  it('when the schema was changed by hand since the last version, the plan lists it as a warning and the run still completes', async () => {
    const db = await shopWithFirstTwo('chg_hand');
    await servers.target.exec(`ALTER TABLE ${qualifiedName(db, 'customers')} ADD COLUMN nickname String`);
    await servers.target.exec(`DROP TABLE ${qualifiedName(db, 'legacy_events')}`);

    const state = await approveThrough(await startChanges(servers.client, changesInput(uniqueName('chg'), db, [...FIRST_TWO, NOTES])));

    expect([state.status, state.error]).toEqual(['completed', null]);
    const plan = configureOf(state)?.result as ChangesPlan;
    expect(plan.problems).toEqual([]);
    expect(plan.versions.map((v) => [v.version, v.status])).toEqual([
      ['001', 'applied'],
      ['002', 'applied'],
      ['003', 'pending'],
    ]);
    expect(plan.untracked).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ object: 'customers', column: 'nickname', change: 'added' }),
        expect.objectContaining({ object: 'legacy_events', change: 'removed' }),
      ]),
    );
    expect(plan.untracked).toHaveLength(2);
    const warnings = plan.warnings.join('\n');
    expect(warnings).toMatch(/customers\.nickname \(String\) was added/);
    expect(warnings).toMatch(/legacy_events \(MergeTree\) was removed/);
    expect((await trackedVersions(servers.target, db)).map((t) => [t.version, t.dirty])).toEqual([
      ['001', false],
      ['002', false],
      ['003', false],
    ]);
    expect(await columnType(servers.target, db, 'customers', 'nickname')).toBe('String');
    expect(await columnType(servers.target, db, 'notes', 'text')).toBe('String');
  });

  it('plans the same statements whichever folder layout (numbered, golang-migrate, goose, dbmate) holds the versions', async () => {
    const folders = await Promise.all(LAYOUTS.map(async (layout) => ({ layout, dir: await writeFolder(layout) })));
    try {
      const runs = folders.map(async ({ layout, dir }) => {
        const read = await readChangesDir(dir);
        expect(read.layout).toBe(layout);
        const db = servers.database(`chg_${layout.replace('-', '_')}`);
        await createShop(servers.target, db, { badAmount: false });
        const state = await planThenReject(await startChanges(servers.client, changesInput(uniqueName('chg'), db, read.changes)));
        expect(state.status).toBe('rejected');
        return { layout, plan: configureOf(state)?.result as ChangesPlan, tracked: await trackedVersions(servers.target, db) };
      });

      const results = await Promise.all(runs);

      // The checksum of a version's whole text differs between layouts (goose and dbmate files
      // carry marker lines, golang-migrate a file per direction), so the plans are compared on the
      // checksums of their statements, which is what a resumed version is checked against.
      const comparable = (plan: ChangesPlan) =>
        plan.versions.map((v) => ({
          version: v.version,
          name: v.name,
          status: v.status,
          statements: v.statements,
          statementChecksums: v.statementChecksums,
          pending: v.pending.map((s) => ({ index: s.index, kind: s.kind, sql: s.sql })),
        }));
      const [numbered, ...others] = results;
      expect(comparable(numbered.plan).map((v) => [v.version, v.name, v.status, v.statements])).toEqual([
        ['001', 'create_regions', 'pending', 2],
        ['002', 'add_region_to_customers', 'pending', 1],
        ['003', 'amount_as_number', 'pending', 2],
      ]);
      for (const other of others) expect({ layout: other.layout, versions: comparable(other.plan) }).toEqual({ layout: other.layout, versions: comparable(numbered.plan) });
      expect(results.map((r) => r.tracked)).toEqual([[], [], [], []]);
    } finally {
      await Promise.all(folders.map(({ dir }) => rm(dir, { recursive: true, force: true })));
    }
  });

  describe('through the API', () => {
    const PEOPLE = { operator: { subject: 'olivia', roles: ['operator' as const] }, approver: { subject: 'ana', roles: ['approver' as const] } };
    const TOKENS = { operator: randomBytes(24).toString('hex'), approver: randomBytes(24).toString('hex') };
    let api: Server;
    let apiUrl: string;

    beforeAll(async () => {
      const tokens = (['operator', 'approver'] as const).map((who) => ({ token: TOKENS[who], ...PEOPLE[who] }));
      ({ server: api, url: apiUrl } = await listenTestApi(servers.client, { auth: { mode: 'tokens', tokens, fourEyes: true }, logger: { error: () => undefined } }));
    });

    afterAll(() => new Promise<void>((resolve) => api.close(() => resolve())));

    async function call(who: keyof typeof TOKENS, method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
      const res = await fetch(`${apiUrl}${path}`, {
        method,
        headers: { authorization: `Bearer ${TOKENS[who]}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    }

    const startBody = (database: string, changes: Change[]) => ({ target: apiEndpoint(testStack().target), database, changes });

    it.each([
      ['a version given twice', [FIRST_TWO[0], FIRST_TWO[0]], 'changes.1.version', /version 001 appears twice/],
      ['versions out of order', [FIRST_TWO[1], FIRST_TWO[0]], 'changes.1.version', /version 001 comes after 002/],
      ['a version without SQL', [{ ...FIRST_TWO[0], sql: '' }], 'changes.0.sql', /version 001 has no statements/],
      ['a statement writing to another database', [{ ...FIRST_TWO[0], sql: 'CREATE TABLE elsewhere.t (x UInt8) ENGINE = Memory' }], 'changes.0.sql', /writes to elsewhere\.t/],
    ] as const)('refuses %s with a 400 naming the field', async (_what, changes, path, message) => {
      const db = servers.database('chg_api_bad');

      const res = await call('operator', 'POST', '/migrations', startBody(db, [...changes]));

      expect(res.status).toBe(400);
      expect(res.body.error).toBe('invalid_request');
      expect(res.body.issues).toEqual(expect.arrayContaining([{ path, message: expect.stringMatching(message) as unknown }]));
    });

    it('starts a run of changes that another person approves step by step, and records every version', async () => {
      const db = servers.database('chg_api');
      await createShop(servers.target, db, { badAmount: false });

      const started = await call('operator', 'POST', '/migrations', startBody(db, FIRST_TWO));
      expect(started.status).toBe(201);
      const id = String(started.body.id);
      const read = async () => (await call('approver', 'GET', `/migrations/${id}`)).body as unknown as ChangesState;
      for (const step of ['configure', 'validation', 'migration'] as const) {
        await waitFor(read, (s) => s.awaitingApproval?.step === step || !['running', 'awaiting_approval'].includes(s.status), `approval of ${step}`);
        const approved = await call('approver', 'POST', `/migrations/${id}/approve`, { step });
        expect([step, approved.status]).toEqual([step, 202]);
      }
      const state = await waitFor(read, (s) => !['running', 'awaiting_approval'].includes(s.status), 'the end of the run');

      expect([state.status, state.error, state.kind]).toEqual(['completed', null, 'changes']);
      expect(state.approvals.map((a) => [a.step, a.by])).toEqual([
        ['configure', 'ana'],
        ['validation', 'ana'],
        ['migration', 'ana'],
      ]);
      expect((await trackedVersions(servers.target, db)).map((t) => [t.version, t.name, t.dirty])).toEqual([
        ['001', 'create_regions', false],
        ['002', 'add_region_to_customers', false],
      ]);
    });
  });
});

const LAYOUTS: ChangeLayout[] = ['numbered', 'golang-migrate', 'goose', 'dbmate'];

/** THREE_VERSIONS with its up statements (its texts end each statement but the last with `;` and a new line), and a down statement that must never run. */
const FOLDER_PLAN = THREE_VERSIONS.map((v, i) => ({
  ...v,
  up: v.sql.replace(/;$/, '').split(';\n'),
  down: ['DROP TABLE regions', 'ALTER TABLE customers DROP COLUMN region', 'ALTER TABLE orders MODIFY COLUMN amount String'][i],
}));

/** Each file of a layout's folder holding FOLDER_PLAN: name → text. */
function folderFiles(layout: ChangeLayout): [string, string][] {
  return FOLDER_PLAN.flatMap((v): [string, string][] => {
    const base = `${v.version}_${v.name}`;
    const up = v.up.map((s) => `${s};\n`).join('');
    switch (layout) {
      case 'numbered':
        return [[`${base}.sql`, up]];
      case 'golang-migrate':
        return [
          [`${base}.up.sql`, up],
          [`${base}.down.sql`, `${v.down};\n`],
        ];
      case 'goose': {
        // A statement with a comment inside goes in a StatementBegin/End block, as goose users write them.
        const blocks = v.up.map((s) => (s.includes('\n') ? `-- +goose StatementBegin\n${s};\n-- +goose StatementEnd` : `${s};`));
        return [[`${base}.sql`, ['-- +goose Up', ...blocks, '', '-- +goose Down', `${v.down};`, ''].join('\n')]];
      }
      case 'dbmate':
        return [[`${base}.sql`, `-- migrate:up\n${up}\n-- migrate:down\n${v.down};\n`]];
    }
  });
}

async function writeFolder(layout: ChangeLayout): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `changes-${layout}-`));
  for (const [name, text] of folderFiles(layout)) await writeFile(join(dir, name), text);
  return dir;
}

/** Approves the configure step, then rejects validation once the run waits for it; returns the final state. */
async function planThenReject(handle: WorkflowHandle): Promise<ChangesState> {
  const ended = approveThrough(handle, 'configure');
  const state = await waitFor(() => changesState(handle), (s) => s.awaitingApproval?.step === 'validation' || !['running', 'awaiting_approval'].includes(s.status), 'approval of validation');
  if (state.awaitingApproval?.step === 'validation') await handle.signal('reject', { step: 'validation', by: 'reviewer', reason: 'only the plan is compared' });
  return ended;
}
