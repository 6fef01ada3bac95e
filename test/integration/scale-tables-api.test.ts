import { randomBytes } from 'node:crypto';
import { qualifiedName, quoteIdentifier } from '../../src/clickhouse/sql';
import type { MigrationState } from '../../src/workflows/types';
import { migrationInput, startMigration, tableDigest, useTestServers, waitFor } from './harness';
import { allTablePages, useViewerApi } from './scale-helpers';

const servers = useTestServers({ worker: true });
const api = useViewerApi(servers);

describe("a run's per-table detail, by page", () => {
  it('when a run of five tables completes, GET /migrations/:id/tables serves each table once, two a page, with its rows and verdict; the state keeps the totals', async () => {
    const db = servers.database('tables_api');
    await servers.source.exec(`CREATE DATABASE ${quoteIdentifier(db)}`);
    for (let i = 0; i < 5; i++) {
      await servers.source.exec(`CREATE TABLE ${qualifiedName(db, `t${i}`)} (id UInt32) ENGINE = MergeTree ORDER BY id`);
      await servers.source.exec(`INSERT INTO ${qualifiedName(db, `t${i}`)} SELECT number FROM system.numbers LIMIT ${i + 1}`);
    }
    const handle = await startMigration(servers.client, migrationInput(`tables-${randomBytes(3).toString('hex')}`, [db], { approvals: { required: false } }));
    const final = (await handle.result()) as MigrationState;
    expect(final.status).toBe('completed');

    const tables = await allTablePages(api, handle.workflowId, 2);
    expect(tables.map((t) => [t.table, t.rowsCopied, t.sourceRows, t.targetRows, t.match])).toEqual(
      [0, 1, 2, 3, 4].map((i) => [`t${i}`, i + 1, i + 1, i + 1, true]),
    );
    for (let i = 0; i < 5; i++) expect(await tableDigest(servers.target, db, `t${i}`)).toEqual(await tableDigest(servers.source, db, `t${i}`));
    const migration = final.steps.find((s) => s.name === 'migration')?.result as { counts?: unknown };
    expect(migration.counts).toEqual({ created: 5, verified: 5, matched: 5 });
  });

  it('when the tables are asked for with a bad cursor or limit, the API answers 400 naming the field; for an unknown run, 404', async () => {
    const badCursor = await api.get('/migrations/any/tables', { cursor: 'x' });
    expect(badCursor.status).toBe(400);
    expect(badCursor.body.issues).toEqual([expect.objectContaining({ path: 'query.cursor' })]);
    const badLimit = await api.get('/migrations/any/tables', { limit: 0 });
    expect(badLimit.status).toBe(400);
    expect(badLimit.body.issues).toEqual([expect.objectContaining({ path: 'query.limit' })]);
    const unknown = await waitFor(() => api.get(`/migrations/no-such-run-${randomBytes(3).toString('hex')}/tables`), (res) => res.status !== 503, 'an answer from Temporal');
    expect(unknown.status).toBe(404);
  });
});
