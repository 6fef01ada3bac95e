/**
 * Mutation test of order-keeping: a copy that lands a partition's parts in reverse order leaves
 * the same rows on the target (the raw fingerprint cannot tell) but another row wins on merge. The
 * run must see it, by what `SELECT … FINAL` reads, and must never end `completed`. The same
 * rewrite in the source's order is the control: it completes.
 */
import type { ClickHouseConnection } from '../../src/clickhouse/connection';
import { manifestDatabase, restorePointDatabase } from '../../src/clickhouse/scratch';
import { qualifiedName, quoteIdentifier, quoteString } from '../../src/clickhouse/sql';
import { runKeyOf } from '../../src/workflows/state';
import type { MigrationState } from '../../src/workflows/types';
import { connect, migrationInput, queryState, startMigration, startWorker, testClient, uniqueName } from './harness';
import { testStack } from './stack-env';
import type { Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';

/** How the worker's copies are rewritten after they ran: not at all, or part by part in an order of the test's choosing. */
let rewrite: { database: string; order: 'reverse' | 'source' } | null = null;
let rewrites = 0;
/** Set, the verification fails without retrying, so that the run rolls back. */
let failVerification = false;
/** Set, this is done to the target just before the rollback's proof runs. */
let beforeProof: (() => Promise<void>) | null = null;
let worker: { stop(): Promise<void> };
let client: Client;
let source: ClickHouseConnection;
let target: ClickHouseConnection;
const databases: string[] = [];

/**
 * Rewrites every partition of `database.table` on the target from the source's parts, one
 * statement per part in `order`, through the test's own SQL: the rows stay the rows the source
 * holds, only the order in which they reach the target changes.
 */
async function rewriteParts(database: string, table: string, order: 'reverse' | 'source'): Promise<void> {
  const { source: from } = testStack();
  const parts = await source.rows<{ name: string; partition_id: string }>(
    `SELECT name, partition_id FROM system.parts WHERE active AND database = ${quoteString(database)} AND table = ${quoteString(table)} ORDER BY partition_id, min_block_number`,
  );
  const live = qualifiedName(database, table);
  const scratch = qualifiedName(database, `${table}_rewrite`);
  for (const partition of [...new Set(parts.map((p) => p.partition_id))]) {
    const ofPartition = parts.filter((p) => p.partition_id === partition);
    if (order === 'reverse') ofPartition.reverse();
    await target.exec(`DROP TABLE IF EXISTS ${scratch}`);
    await target.exec(`CREATE TABLE ${scratch} AS ${live}`);
    for (const part of ofPartition) {
      await target.exec(
        `INSERT INTO ${scratch} SELECT * FROM remote(${quoteString(`127.0.0.1:${from.nativePort}`)}, ${quoteString(database)}, ${quoteString(table)}, ${quoteString(from.username)}, ${quoteString(from.password)})
         WHERE _part = ${quoteString(part.name)} SETTINGS max_threads = 1`,
      );
    }
    await target.exec(`ALTER TABLE ${live} REPLACE PARTITION ID ${quoteString(partition)} FROM ${scratch}`);
    await target.exec(`DROP TABLE ${scratch}`);
  }
  rewrites++;
}

beforeAll(async () => {
  worker = await startWorker((activities) => ({
    ...activities,
    async copyUnitRange(req) {
      const result = await activities.copyUnitRange(req);
      if (rewrite) await rewriteParts(rewrite.database, 'latest', rewrite.order);
      return result;
    },
    async verifyPage(req) {
      if (failVerification) throw ApplicationFailure.nonRetryable('verification failed (injected by the test)', 'InjectedFailure');
      return activities.verifyPage(req);
    },
    async proveRollback(req) {
      await beforeProof?.();
      return activities.proveRollback(req);
    },
  }));
  client = await testClient();
  source = connect(testStack().source, 'source');
  target = connect(testStack().target, 'target');
});

afterAll(async () => {
  for (const db of databases) {
    await source.exec(`DROP DATABASE IF EXISTS ${quoteIdentifier(db)}`);
    await target.exec(`DROP DATABASE IF EXISTS ${quoteIdentifier(db)}`);
  }
  await Promise.all([source.close(), target.close(), client.connection.close()]);
  await worker.stop();
});

/**
 * A table where the last insert wins: 4 partitions, merges stopped on the source, each key
 * inserted as 'old', then 'mid', then 'new', each insert its own part.
 */
async function lastWinsTable(): Promise<string> {
  const db = uniqueName('mo');
  databases.push(db);
  await source.exec(`CREATE DATABASE ${db}`);
  const table = qualifiedName(db, 'latest');
  await source.exec(`CREATE TABLE ${table} (k UInt32, v String) ENGINE = ReplacingMergeTree PARTITION BY k % 4 ORDER BY k`);
  await source.exec(`SYSTEM STOP MERGES ${table}`);
  for (const v of ['old', 'mid', 'new']) await source.exec(`INSERT INTO ${table} SELECT number, '${v}' FROM numbers(20000)`);
  return db;
}

/**
 * Runs a migration of `db` without gates to its end. On the `worker` path the data streams
 * through the worker: the target cannot reach the source's native port (a closed loopback port).
 */
async function runToEnd(db: string, onConflict: 'fail' | 'replace' = 'fail', path: 'server' | 'worker' = 'server'): Promise<MigrationState> {
  const input = migrationInput(uniqueName('mo-run'), [db], { approvals: { required: false }, options: { syncPasses: 2, onConflict } });
  if (path === 'worker') input.source.nativePort = 1;
  const handle = await startMigration(client, input);
  await handle.result().catch(() => undefined);
  return queryState(handle);
}

/** What users read on a server: how many keys read each value, with FINAL. */
async function finalReads(conn: ClickHouseConnection, db: string): Promise<Record<string, number>> {
  const rows = await conn.rows<{ v: string; n: string }>(`SELECT v, count() AS n FROM ${qualifiedName(db, 'latest')} FINAL GROUP BY v ORDER BY v`);
  return Object.fromEntries(rows.map((r) => [r.v, Number(r.n)]));
}

describe('a copy that reverses the order of parts', () => {
  it('is never verified: FINAL reads differently, the run does not complete, and the target is rolled back', async () => {
    const db = await lastWinsTable();
    expect(await finalReads(source, db)).toEqual({ new: 20000 });
    rewrite = { database: db, order: 'reverse' };
    rewrites = 0;
    const state = await runToEnd(db).finally(() => (rewrite = null));
    expect(rewrites).toBeGreaterThan(1); // the bulk copy and at least one sync pass were reversed
    expect(state.status).not.toBe('completed');
    expect(state.status).toBe('rolled_back');
    // The same 60,000 rows, but another row wins each key: only what FINAL reads tells them apart.
    expect(state.error?.message).toMatch(/latest \(reads differently with FINAL: 20000 vs 20000 rows; stored 60000 vs \d+\)/);
    const [exists] = await target.rows<{ n: string }>(`SELECT count() AS n FROM system.databases WHERE name = ${quoteString(db)}`);
    expect(Number(exists.n)).toBe(0);
  });

  it('in the source order (the control), completes and reads the same as the source', async () => {
    const db = await lastWinsTable();
    rewrite = { database: db, order: 'source' };
    rewrites = 0;
    const state = await runToEnd(db).finally(() => (rewrite = null));
    expect(rewrites).toBeGreaterThan(0);
    expect(state.status).toBe('completed');
    expect(await finalReads(target, db)).toEqual(await finalReads(source, db));
    expect(await finalReads(target, db)).toEqual({ new: 20000 });
  });
});

describe('a rollback of a table whose engine merges rows by their order', () => {
  /**
   * The target already holds `latest`, merges stopped: each key inserted as 'tA', then as 'tB', so
   * FINAL reads 'tB'. The run replaces it with the source's rows, then fails and rolls back.
   */
  async function targetHoldingLatest(): Promise<string> {
    const db = await lastWinsTable();
    await target.exec(`CREATE DATABASE ${db}`);
    const table = qualifiedName(db, 'latest');
    await target.exec(`CREATE TABLE ${table} (k UInt32, v String) ENGINE = ReplacingMergeTree PARTITION BY k % 4 ORDER BY k`);
    await target.exec(`SYSTEM STOP MERGES ${table}`);
    for (const v of ['tA', 'tB']) await target.exec(`INSERT INTO ${table} SELECT number, '${v}' FROM numbers(20000)`);
    return db;
  }

  async function failedRun(db: string): Promise<MigrationState> {
    failVerification = true;
    try {
      return await runToEnd(db, 'replace');
    } finally {
      failVerification = false;
      beforeProof = null;
    }
  }

  it('restores what FINAL read on the target, and its proof compares what FINAL reads', async () => {
    const db = await targetHoldingLatest();
    const state = await failedRun(db);
    expect(state.status).toBe('rolled_back');
    expect(await finalReads(target, db)).toEqual({ tB: 20000 });
    const verdict = state.rollback?.verified.find((v) => v.table === 'latest');
    expect(verdict?.match).toBe(true);
    expect(verdict?.final?.after).toEqual(verdict?.final?.before);
    expect(verdict?.final?.before.reduce((n, p) => n + p.rows, 0)).toBe(20000);
  });

  it('when the restored rows read differently with FINAL before the proof runs (same rows, another order), the run ends rollback_incomplete', async () => {
    const db = await targetHoldingLatest();
    const live = qualifiedName(db, 'latest');
    const scratch = qualifiedName(db, 'latest_mutant');
    beforeProof = async () => {
      // Each partition again, from its own rows, 'tA' after 'tB': the same rows, but 'tA' wins.
      const partitions = await target.rows<{ id: string }>(`SELECT DISTINCT partition_id AS id FROM system.parts WHERE active AND database = ${quoteString(db)} AND table = 'latest'`);
      await target.exec(`CREATE TABLE ${scratch} AS ${live}`);
      for (const { id } of partitions) {
        await target.exec(`INSERT INTO ${scratch} SELECT * FROM ${live} WHERE _partition_id = ${quoteString(id)} ORDER BY k, v = 'tA'`);
        await target.exec(`ALTER TABLE ${live} REPLACE PARTITION ID ${quoteString(id)} FROM ${scratch}`);
        await target.exec(`TRUNCATE TABLE ${scratch}`);
      }
      await target.exec(`DROP TABLE ${scratch}`);
    };
    const state = await failedRun(db);
    expect(state.status).toBe('rollback_incomplete');
    expect(state.error?.message).toContain(`${db}.latest differs from the restore point`);
    expect(await finalReads(target, db)).toEqual({ tA: 20000 });
    const verdict = state.rollback?.verified.find((v) => v.table === 'latest');
    expect(verdict).toMatchObject({ match: false });
    // The rows are the restore point's; only what FINAL reads tells them apart.
    expect(verdict?.after).toEqual(verdict?.before);
    const runKey = runKeyOf(state.runId);
    await target.exec(`DROP DATABASE IF EXISTS ${quoteIdentifier(restorePointDatabase(runKey))}`);
    await target.exec(`DROP DATABASE IF EXISTS ${quoteIdentifier(manifestDatabase(runKey))}`);
  });
});

describe('an ordered copy while the source merges', () => {
  it.each(['server', 'worker'] as const)('when the source merges the parts being copied, the run (%s path) still completes and reads the same as the source', async (path) => {
    const db = await lastWinsTable();
    const table = qualifiedName(db, 'latest');
    // More inserts, so that every partition has parts to merge while the run copies them.
    for (const v of ['later', 'newest']) await source.exec(`INSERT INTO ${table} SELECT number, '${v}' FROM numbers(20000)`);
    await source.exec(`SYSTEM START MERGES ${table}`);
    let merging = true;
    let merges = 0;
    const merger = (async () => {
      for (let p = 0; merging; p = (p + 1) % 4) {
        await source.exec(`OPTIMIZE TABLE ${table} PARTITION ${p} FINAL`);
        merges++;
        await source.exec(`INSERT INTO ${table} SELECT number * 4 + ${p}, 'newest' FROM numbers(100)`);
      }
    })();
    const state = await runToEnd(db, 'fail', path).finally(() => (merging = false));
    await merger;
    expect(state.transferPath).toBe(path);
    expect(merges).toBeGreaterThan(0);
    expect({ status: state.status, error: state.error }).toEqual({ status: 'completed', error: null });
    expect(await finalReads(target, db)).toEqual(await finalReads(source, db));
  });
});
