/**
 * Shared pieces of the tests of schema changes: the workflow input for the test target, a run
 * driven through its approvals, and a small shop database with rows.
 */
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { ClickHouseConnection } from '../../src/clickhouse/connection';
import { qualifiedName, quoteIdentifier, quoteString } from '../../src/clickhouse/sql';
import { seal } from '../../src/secrets';
import { CHANGES_WORKFLOW_TYPE, SAMPLE_ROWS_PER_PARTITION, type Change, type ChangesInput, type ChangesState, type TrackedVersion } from '../../src/workflows/changes-types';
import { STEPS, TASK_QUEUE } from '../../src/workflows/types';
import { holdsRows, tableDigest } from './corpus/compare';
import { queryState, TEST_KEY, waitFor } from './harness';
import { testStack } from './stack-env';

export function changesInput(id: string, database: string, changes: Change[], overrides: Partial<ChangesInput> = {}): ChangesInput {
  const { target } = testStack();
  return {
    id,
    target: { url: target.url, username: target.username, password: seal(target.password, TEST_KEY) },
    database,
    changes,
    approvals: { required: true },
    options: { onFailure: 'rollback' },
    ...overrides,
  };
}

export function startChanges(client: Client, input: ChangesInput): Promise<WorkflowHandle> {
  return client.workflow.start(CHANGES_WORKFLOW_TYPE, { taskQueue: TASK_QUEUE, workflowId: input.id, args: [input] });
}

export async function changesState(handle: WorkflowHandle): Promise<ChangesState> {
  return (await queryState(handle)) as ChangesState;
}

/** Approves every step as it comes, up to `last`, and waits for the run to end; returns its final state. */
export async function approveThrough(handle: WorkflowHandle, last: (typeof STEPS)[number] = 'migration'): Promise<ChangesState> {
  for (const step of STEPS.slice(1, STEPS.indexOf(last) + 1)) {
    const state = await waitFor(() => changesState(handle), (s) => s.awaitingApproval?.step === step || !['running', 'awaiting_approval'].includes(s.status), `approval of ${step}`);
    if (state.awaitingApproval?.step !== step) break;
    await handle.signal('approve', { step, by: 'reviewer' });
  }
  return ended(handle);
}

/** Waits for the run to end (whatever way) and returns its final state. */
export async function ended(handle: WorkflowHandle): Promise<ChangesState> {
  await handle.result().catch(() => undefined);
  return changesState(handle);
}

/**
 * A small shop: `orders` partitioned by month, with `amount` as text (one row of it is `n/a`),
 * `customers`, and a `legacy_events` table.
 */
export async function createShop(conn: ClickHouseConnection, database: string, options: { badAmount: boolean }): Promise<void> {
  await conn.exec(`CREATE DATABASE IF NOT EXISTS ${quoteIdentifier(database)}`);
  await conn.exec(`CREATE TABLE ${qualifiedName(database, 'orders')} (id UInt64, day Date, customer UInt32, amount String) ENGINE = MergeTree PARTITION BY toYYYYMM(day) ORDER BY id`);
  await conn.exec(
    `INSERT INTO ${qualifiedName(database, 'orders')} SELECT number, toDate('2024-01-01') + (number % 90), number % 50, ${options.badAmount ? "if(number = 4321, 'n/a', toString(number * 3))" : 'toString(number * 3)'} FROM system.numbers LIMIT 6000`,
  );
  await conn.exec(`CREATE TABLE ${qualifiedName(database, 'customers')} (id UInt32, name String) ENGINE = MergeTree ORDER BY id`);
  await conn.exec(`INSERT INTO ${qualifiedName(database, 'customers')} SELECT number, concat('customer ', toString(number)) FROM system.numbers LIMIT 50`);
  await conn.exec(`CREATE TABLE ${qualifiedName(database, 'legacy_events')} (at DateTime, what String) ENGINE = MergeTree ORDER BY at`);
  await conn.exec(`INSERT INTO ${qualifiedName(database, 'legacy_events')} SELECT toDateTime('2024-01-01 00:00:00') + number, 'click' FROM system.numbers LIMIT 100`);
}

/**
 * `readings`, one partition with more rows than staging samples and its one value that `UInt64`
 * cannot take last: a `MODIFY COLUMN value UInt64` passes on the staging copy and fails on the
 * real table.
 */
export async function createReadings(conn: ClickHouseConnection, database: string): Promise<void> {
  await conn.exec(`CREATE DATABASE ${quoteIdentifier(database)}`);
  await conn.exec(`CREATE TABLE ${qualifiedName(database, 'readings')} (id UInt64, value String) ENGINE = MergeTree ORDER BY id`);
  const rows = SAMPLE_ROWS_PER_PARTITION + 2000;
  await conn.exec(`INSERT INTO ${qualifiedName(database, 'readings')} SELECT number, if(number = ${rows - 1}, 'n/a', toString(number)) FROM system.numbers LIMIT ${rows}`);
}

/**
 * `accounts` partitioned by region with `balance` as text, `audit` (a Log table), and `ledger`,
 * 24 parts of 8,000 rows (see {@link SLOW_LEDGER_UPDATE}).
 */
export async function createAccounts(conn: ClickHouseConnection, database: string): Promise<void> {
  await conn.exec(`CREATE DATABASE ${quoteIdentifier(database)}`);
  await conn.exec(`CREATE TABLE ${qualifiedName(database, 'accounts')} (id UInt64, balance String, region String) ENGINE = MergeTree PARTITION BY region ORDER BY id`);
  await conn.exec(`INSERT INTO ${qualifiedName(database, 'accounts')} SELECT number, toString(number * 7), if(number % 2 = 0, 'eu', 'us') FROM system.numbers LIMIT 4000`);
  await conn.exec(`CREATE TABLE ${qualifiedName(database, 'audit')} (at DateTime, what String) ENGINE = Log`);
  await conn.exec(`INSERT INTO ${qualifiedName(database, 'audit')} SELECT toDateTime('2024-01-01 00:00:00') + number, 'login' FROM system.numbers LIMIT 300`);
  await conn.exec(`CREATE TABLE ${qualifiedName(database, 'ledger')} (id UInt64, amount UInt64) ENGINE = MergeTree PARTITION BY intDiv(id, 8000) ORDER BY id`);
  // 24 partitions of one part of 8,000 rows each, which no merge joins: a mutation that sleeps 0.25 ms a row takes 2 s a
  // part (18.16 refuses more than 3 s of sleep in one block, and mutates a part this small as one block).
  for (let part = 0; part < 24; part++) {
    await conn.exec(`INSERT INTO ${qualifiedName(database, 'ledger')} SELECT number, number FROM system.numbers LIMIT ${part * 8000}, 8000`);
  }
}

/** A mutation of every part of `ledger` (see {@link createAccounts}) that takes seconds and rewrites every row. */
export const SLOW_LEDGER_UPDATE = 'ALTER TABLE ledger UPDATE amount = amount + 1 + sleepEachRow(0.00025) WHERE 1';

/** Rows of `ledger` that {@link SLOW_LEDGER_UPDATE} has rewritten so far. */
export async function ledgerRowsRewritten(conn: ClickHouseConnection, database: string): Promise<number> {
  return Number((await conn.rows<{ n: string }>(`SELECT count() AS n FROM ${qualifiedName(database, 'ledger')} WHERE amount != id`))[0].n);
}

/**
 * Waits until the run waits for its slow `ledger` mutation with some of it done and parts left
 * (or the run left its steps); returns that state and the rows rewritten then.
 */
export async function midMutation(handle: WorkflowHandle, conn: ClickHouseConnection, database: string): Promise<{ state: ChangesState; rewritten: number }> {
  return waitFor(
    async () => ({ state: await changesState(handle), rewritten: await ledgerRowsRewritten(conn, database) }),
    ({ state: s, rewritten: n }) => ((s.changes.current?.mutationPartsLeft ?? 0) > 0 && n > 0) || !['running', 'awaiting_approval'].includes(s.status),
    'the run waiting for its mutation, some of it done',
    120_000,
  );
}

/** Three versions: a new table with seed rows, a new column, and a type change of `orders.amount`. */
export const THREE_VERSIONS: Change[] = [
  {
    version: '001',
    name: 'create_regions',
    sql: `CREATE TABLE regions (code String, name String) ENGINE = MergeTree ORDER BY code;
-- seed rows; the ';' in this comment and in 'Cote d;Ivoire' do not end a statement
INSERT INTO regions VALUES ('eu', 'Europe'), ('ci', 'Cote d;Ivoire');`,
  },
  { version: '002', name: 'add_region_to_customers', sql: "ALTER TABLE customers ADD COLUMN region String DEFAULT 'eu'" },
  { version: '003', name: 'amount_as_number', sql: 'ALTER TABLE orders MODIFY COLUMN amount UInt32;\nDROP TABLE legacy_events' },
];

/** The tracking table as the test reads it: the latest record of each version, by its own query. */
export async function trackedVersions(conn: ClickHouseConnection, database: string): Promise<Pick<TrackedVersion, 'version' | 'name' | 'statementsApplied' | 'dirty' | 'checksum'>[]> {
  const exists = await conn.rows<{ n: string }>(`SELECT count() AS n FROM system.tables WHERE database = '${database}' AND name = 'schema_migrations'`);
  if (exists[0].n === '0') return [];
  const rows = await conn.rows<{ version: string; name: string; applied: string; dirty: string; checksum: string }>(
    `SELECT version, name, statements_applied AS applied, dirty, checksum FROM ${qualifiedName(database, 'schema_migrations')} FINAL ORDER BY version`,
  );
  return rows.map((r) => ({ version: r.version, name: r.name, statementsApplied: Number(r.applied), dirty: Number(r.dirty) === 1, checksum: r.checksum }));
}

/** The type of a column now. */
export async function columnType(conn: ClickHouseConnection, database: string, table: string, column: string): Promise<string | null> {
  const rows = await conn.rows<{ type: string }>(
    `SELECT type FROM system.columns WHERE database = '${database}' AND table = '${table}' AND name = '${column}'`,
  );
  return rows[0]?.type ?? null;
}

/** Engines whose rows a SELECT reads without reaching outside the server: their own, or those of another table of it. */
const READABLE_ENGINES = ['View', 'MaterializedView', 'Merge', 'Buffer', 'Distributed', 'Null'];

/** One object of {@link snapshotOf}: its DDL, and for what can be read, its rows by the test's own digest. */
export interface ObjectSnapshot {
  ddl: string;
  rows?: number;
  sha256?: string;
}

/**
 * Everything a user reads of a database: each object's DDL, and the rows of every object that
 * can be read (the corpus's text digest, states finalized). Objects that cannot be read back
 * (Set, the engines of outside systems, Dictionary) are compared by their DDL alone.
 */
export async function snapshotOf(conn: ClickHouseConnection, database: string): Promise<Record<string, ObjectSnapshot>> {
  const objects = await conn.rows<{ name: string; create_table_query: string; engine: string }>(
    `SELECT name, create_table_query, engine FROM system.tables WHERE database = ${quoteString(database)} ORDER BY name`,
  );
  const out: Record<string, ObjectSnapshot> = {};
  for (const o of objects) {
    const readable = holdsRows(o.engine) || READABLE_ENGINES.includes(o.engine);
    out[o.name] = { ddl: o.create_table_query, ...(readable ? await tableDigest(conn, conn, database, o.name) : {}) };
  }
  return out;
}
