import { ApplicationFailure } from '@temporalio/activity';
import { createDemoLike, DEMO_DATA_TABLES } from './fixtures';
import { migrationInput, startMigration, startWorker, tableDigest, uniqueName, useTestServers } from './harness';
import { restorePointDatabase } from '../../src/clickhouse/scratch';
import { quoteIdentifier, quoteString } from '../../src/clickhouse/sql';
import { runKeyOf } from '../../src/workflows/state';
import type { MigrationState } from '../../src/workflows/types';

const servers = useTestServers({ worker: false });
let dropAttempts = 0;
let worker: { stop(): Promise<void> };

beforeAll(async () => {
  // A real worker whose restore-point clean-up breaks off, as a dropped connection would, once the
  // migration has run: the first drop (of the backup step's rehearsal) goes through.
  let drops = 0;
  worker = await startWorker((activities) => ({
    ...activities,
    async dropRestorePoint(req) {
      if (++drops === 1) return activities.dropRestorePoint(req);
      dropAttempts++;
      throw ApplicationFailure.retryable('target ClickHouse: ECONNRESET: socket hang up', 'ClickHouseUnavailable');
    },
  }));
});

afterAll(() => worker.stop());

describe('clean endings', () => {
  it('when the clean-up fails after verification has passed, the run still ends completed, with a warning, and the data stays', async () => {
    const db = servers.database('cleanup');
    await createDemoLike(servers.source, db, 5_000);
    const handle = await startMigration(servers.client, migrationInput(uniqueName('cleanup'), [db], { approvals: { required: false } }));

    const final = (await handle.result()) as MigrationState;

    expect(final.status).toBe('completed');
    expect(final.rollback).toBeNull();
    expect(final.warnings).toEqual([expect.stringMatching(/verified, but its clean-up failed after retries: .*ECONNRESET/)]);
    expect(dropAttempts).toBe(5);
    for (const table of DEMO_DATA_TABLES) {
      expect({ table, ...(await tableDigest(servers.target, db, table)) }).toEqual({ table, ...(await tableDigest(servers.source, db, table)) });
    }
    // What the clean-up could not drop is left for the janitor; this test removes it itself.
    const leftover = restorePointDatabase(runKeyOf(final.runId));
    expect(await servers.target.rows(`SELECT name FROM system.databases WHERE name = ${quoteString(leftover)}`)).toEqual([{ name: leftover }]);
    await servers.target.exec(`DROP DATABASE ${quoteIdentifier(leftover)}`);
  });
});
