import type { ClickHouseConnection } from '../../src/clickhouse/connection';
import { qualifiedName, quoteIdentifier, quoteString } from '../../src/clickhouse/sql';
import { createTransferActivities } from '../../src/activities/transfer';
import { takeInventory } from '../../src/activities/inventory';
import type { MigrationInput, MigrationState, PlannedObject, VerificationReport } from '../../src/workflows/types';
import { createTypesTable, planTypeColumns, storedColumns, valueOfEdgeRow, type StoredColumn } from './corpus/columns';
import { TYPES_ROWS, TYPES_TABLE } from './corpus/corpus';
import { ddl } from './corpus/server';
import { migrationInput, startMigration, TEST_KEY, uniqueName, useTestServers } from './harness';

const servers = useTestServers({ worker: true });

const PRISTINE = 'pristine_copy';
const SCRATCH = 'scratch_copy';

/** One change on the target: `select` rebuilds partition `partition` of the types table. */
interface Mutation {
  what: string;
  partition: string;
  select: string;
}

let db: string;
let input: MigrationInput;
let objects: PlannedObject[];
let stored: StoredColumn[];
const outcomes: { what: string; detected: boolean; cleanAfterRestore: boolean; found: string }[] = [];

const types = () => qualifiedName(db, TYPES_TABLE);

/** An expression of the column's value type: states are left alone, everything else is CAST. */
function current(column: StoredColumn): string {
  const name = quoteIdentifier(column.name);
  return column.valueType.startsWith('AggregateFunction(') ? name : `CAST(${name} AS ${column.valueType})`;
}

/** The partition's rows, with `column` replaced by `value` in the rows where `where` holds. */
function withValue(partition: string, column: StoredColumn, where: string, value: string): string {
  const list = ['id', ...stored.map((c) => (c === column ? `multiIf(${where}, ${value}, ${current(c)})` : quoteIdentifier(c.name)))];
  return `SELECT ${list.join(', ')} FROM ${types()} WHERE _partition_id = ${quoteString(partition)}`;
}

/**
 * A value for row 0 that differs from its own: row 1's. Aggregate states are compared by their
 * result (src/clickhouse/fingerprint.ts), so where row 1's state has the same result as row 0's
 * (two one-element `uniq` sets), row 0 takes the union of both states instead.
 */
function changedValue(column: StoredColumn): string {
  const other = valueOfEdgeRow(column, 1);
  const fn = /^AggregateFunction\((\w+)(\([^)]*\))?,/.exec(column.valueType);
  if (!fn) return other;
  const union = `arrayReduce(${quoteString(`${fn[1]}MergeState${fn[2] ?? ''}`)}, [${current(column)}, ${other}])`;
  return `multiIf(cityHash64(finalizeAggregation(${current(column)})) = cityHash64(finalizeAggregation(${other})), ${union}, ${other})`;
}

function partitionRows(partition: string, extra = ''): string {
  return `SELECT id, ${stored.map((c) => quoteIdentifier(c.name)).join(', ')} FROM ${types()} WHERE _partition_id = ${quoteString(partition)}${extra}`;
}

async function verify(): Promise<VerificationReport> {
  return createTransferActivities({ keyring: TEST_KEY }).verifyData({ source: input.source, target: input.target, objects });
}

const named = (r: VerificationReport) => [...r.mismatched, ...r.extra].map((u) => `${u.table}/${u.partitionId}`).join(', ');

/** Applies one mutation on the target, verifies, restores the partition and verifies again. */
async function check(mutation: Mutation): Promise<boolean> {
  const target = servers.target;
  await target.exec(`DROP TABLE IF EXISTS ${qualifiedName(db, SCRATCH)}`);
  await ddl(target, `CREATE TABLE ${qualifiedName(db, SCRATCH)} AS ${types()}`);
  await target.exec(`INSERT INTO ${qualifiedName(db, SCRATCH)} (id, ${stored.map((c) => quoteIdentifier(c.name)).join(', ')}) ${mutation.select}`);
  await target.exec(`ALTER TABLE ${types()} REPLACE PARTITION ID ${quoteString(mutation.partition)} FROM ${qualifiedName(db, SCRATCH)}`);
  const report = await verify();
  await target.exec(`ALTER TABLE ${types()} REPLACE PARTITION ID ${quoteString(mutation.partition)} FROM ${qualifiedName(db, PRISTINE)}`);
  const after = await verify();
  const detected = named(report) === `${TYPES_TABLE}/${mutation.partition}`;
  const cleanAfterRestore = named(after) === '';
  outcomes.push({ what: mutation.what, detected, cleanAfterRestore, found: named(report) });
  return detected && cleanAfterRestore;
}

async function checkAll(mutations: Mutation[]): Promise<string[]> {
  const missed: string[] = [];
  for (const m of mutations) if (!(await check(m))) missed.push(`${m.what} (found: ${outcomes[outcomes.length - 1].found || 'nothing'})`);
  return missed;
}

async function copyPartitions(conn: ClickHouseConnection, from: string, to: string): Promise<void> {
  const parts = await conn.rows<{ id: string }>(`SELECT DISTINCT partition_id AS id FROM system.parts WHERE active AND database = ${quoteString(db)} AND table = ${quoteString(from)}`);
  for (const p of parts) await conn.exec(`ALTER TABLE ${qualifiedName(db, to)} REPLACE PARTITION ID ${quoteString(p.id)} FROM ${qualifiedName(db, from)}`);
}

beforeAll(async () => {
  db = servers.database('fingerprint');
  await servers.source.exec(`CREATE DATABASE ${quoteIdentifier(db)}`);
  const plan = await planTypeColumns(servers.source, db);
  await createTypesTable(servers.source, db, TYPES_TABLE, plan.columns, TYPES_ROWS);
  stored = storedColumns(plan.columns).filter((c) => c.fill);
  input = migrationInput(uniqueName('fingerprint'), [db], { approvals: { required: false } });
  const final = (await (await startMigration(servers.client, input)).result()) as MigrationState;
  if (final.status !== 'completed') throw new Error(`the copy by the workflow ended ${final.status}: ${JSON.stringify(final.error)}`);
  objects = (await takeInventory(servers.source, [db])).objects;
  await ddl(servers.target, `CREATE TABLE ${qualifiedName(db, PRISTINE)} AS ${types()}`);
  await copyPartitions(servers.target, TYPES_TABLE, PRISTINE);
}, 600_000);

afterAll(() => {
  const detected = outcomes.filter((o) => o.detected && o.cleanAfterRestore).length;
  console.log(`detected ${detected} of ${outcomes.length}${outcomes.length > detected ? `; missed: ${outcomes.filter((o) => !o.detected || !o.cleanAfterRestore).map((o) => o.what).join('; ')}` : ''}`);
});

describe("the product's verification on a copy of a table of every column type", () => {
  it('when the target is an exact copy, verification reports nothing', async () => {
    const report = await verify();

    expect(named(report)).toBe('');
    expect(report.tables).toEqual([expect.objectContaining({ table: TYPES_TABLE, match: true, sourceRows: TYPES_ROWS })]);
  });

  it('when one value of any column (every type, Nested fields and states included) differs on the target, verification names its partition', async () => {
    const mutations = stored.map((c) => ({ what: `${c.name} ${c.valueType}: row 0 takes another value`, partition: '0', select: withValue('0', c, 'id = 0', changedValue(c)) }));

    expect(await checkAll(mutations)).toEqual([]);
    expect(mutations.length).toBeGreaterThan(60);
  }, 900_000);

  it('when a Nullable value turns NULL, or a NULL turns into the empty or zero value, verification names its partition', async () => {
    const nullable = stored.filter((c) => c.valueType.startsWith('Nullable('));
    const mutations = nullable.flatMap((c) => [
      { what: `${c.name} ${c.valueType}: row 1 becomes NULL`, partition: '1', select: withValue('1', c, 'id = 1', `CAST(NULL AS ${c.valueType})`) },
      { what: `${c.name} ${c.valueType}: NULL of row 0 becomes zero`, partition: '0', select: withValue('0', c, 'id = 0', `CAST(defaultValueOfArgumentType(assumeNotNull(${current(c)})) AS ${c.valueType})`) },
    ]);

    expect(nullable.length).toBeGreaterThanOrEqual(5);
    expect(await checkAll(mutations)).toEqual([]);
  }, 600_000);

  it('when a row is duplicated, a row is missing, or two rows swap the values of one column on the target, verification names its partition', async () => {
    const swapped = stored.find((c) => c.valueType === 'String')!;
    const valueOf = (id: number) => `(SELECT ${quoteIdentifier(swapped.name)} FROM ${types()} WHERE id = ${id})`;
    const mutations: Mutation[] = [
      { what: 'row 4 duplicated', partition: '1', select: `${partitionRows('1')} UNION ALL ${partitionRows('1', ' AND id = 4')}` },
      { what: 'row 5 missing', partition: '2', select: partitionRows('2', ' AND id != 5') },
      { what: `rows 3 and 6 swap ${swapped.name}`, partition: '0', select: withValue('0', swapped, 'id IN (3, 6)', `if(id = 3, ${valueOf(6)}, ${valueOf(3)})`) },
    ];

    expect(await checkAll(mutations)).toEqual([]);
  }, 600_000);
});
