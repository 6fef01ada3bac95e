/**
 * Schema changes over a database of one table per engine of the server's catalogue: a change set
 * generated from that database's own catalogue (a column added and rows copied wherever the server
 * takes it, a view and a table dropped, a table created) that fails only at its last statement, on
 * the real table. The rollback must leave every object as it was.
 */
import { classifyEngine } from '../../src/clickhouse/catalog';
import { qualifiedName, quoteIdentifier, quoteString } from '../../src/clickhouse/sql';
import type { Change, ChangesState, StagingReport } from '../../src/workflows/changes-types';
import { approveThrough, changesInput, createReadings, snapshotOf, startChanges, type ObjectSnapshot } from './changes-helpers';
import { dropProbeDatabase } from './corpus/corpus';
import { createEngineTables, type EngineCoverage } from './corpus/engines';
import { holdsRows } from './corpus/compare';
import { serverMessage } from './corpus/server';
import { uniqueName, useTestServers, RUN_DATABASES } from './harness';

const servers = useTestServers({ worker: true });

const FAILING_LAST = 'ALTER TABLE readings MODIFY COLUMN value UInt64';
/** How long a statement on the throw-away copy may take before it counts as one the server never answers. */
const PROBE_TIMEOUT_MS = 5_000;

interface GeneratedChanges {
  changes: Change[];
  statements: number;
  /** Object → its engine and what the change set does to it. */
  touched: Map<string, { engine: string; actions: string[] }>;
  excluded: { object: string; engine: string; reason: string }[];
  /** Statements the server never answered on the throw-away copy (18.16 cannot kill them). */
  hung: string[];
}

/**
 * Whether the validation step builds a table of `engine` in its shadow (as `stageable` in
 * src/activities/changes/staging.ts decides): a statement on any other object cannot pass validation.
 */
function staged(engine: string): boolean {
  const { kind } = classifyEngine(engine);
  return ['partitioned', 'whole-table', 'view', 'materialized-view'].includes(kind) || engine === 'Null';
}

const mergeOrLogFamily = (engine: string) => engine.endsWith('MergeTree') || ['Log', 'TinyLog', 'StripeLog'].includes(engine);

/**
 * The change set, from the catalogue of `db`: each statement goes in only when the server takes it
 * on `scratch`, a throw-away copy of the same objects, where it runs in the change set's order.
 */
async function generateChanges(db: string, scratch: string): Promise<GeneratedChanges> {
  const t = servers.target;
  const objects = await t.rows<{ name: string; engine: string; create_table_query: string }>(
    `SELECT name, engine, create_table_query FROM system.tables WHERE database = ${quoteString(db)} ORDER BY name`,
  );
  const generated: GeneratedChanges = { changes: [], statements: 0, touched: new Map(), excluded: [], hung: [] };
  const did = (object: string, engine: string, action: string) => {
    const entry = generated.touched.get(object) ?? { engine, actions: [] };
    entry.actions.push(action);
    generated.touched.set(object, entry);
  };
  const candidates = objects.filter((o) => {
    const reason = o.name.startsWith('.inner.') ? 'the inner table of a materialized view (statements name the view)' : staged(o.engine) ? null : `staging does not build ${o.engine} tables`;
    if (reason) generated.excluded.push({ object: o.name, engine: o.engine, reason });
    return reason === null;
  });
  const accepted = async (o: { name: string; engine: string }, action: string, statement: (table: string) => string): Promise<string[]> => {
    const probe = statement(qualifiedName(scratch, o.name));
    const refused = await t.client.command({ query: probe, abort_signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) }).then(
      () => null,
      (err: unknown) => {
        if (!(err instanceof Error && /abort/i.test(`${err.name} ${err.message}`))) return serverMessage(err);
        generated.hung.push(probe);
        return `no answer within ${PROBE_TIMEOUT_MS / 1000} s on the copy with rows (the server waits on itself)`;
      },
    );
    if (refused) {
      generated.excluded.push({ object: o.name, engine: o.engine, reason: `${action}: ${refused.slice(0, 120)}` });
      return [];
    }
    did(o.name, o.engine, action);
    return [statement(quoteIdentifier(o.name))];
  };
  // Rows first: once a TO table of a materialized view has a column more, 18.16 refuses inserts into what the view reads.
  const inserts: string[] = [];
  for (const o of candidates) {
    // 18.16 never answers a Join table that reads itself with rows in it, and KILL QUERY cannot stop that statement.
    if (o.engine === 'Join') generated.excluded.push({ object: o.name, engine: o.engine, reason: 'INSERT … SELECT from itself: 18.16 never answers it on a Join table with rows, and cannot kill it' });
    else inserts.push(...(await accepted(o, 'INSERT … SELECT', (table) => `INSERT INTO ${table} SELECT * FROM ${table} LIMIT 3`)));
  }
  const addColumns: string[] = [];
  for (const [n, o] of candidates.filter((c) => mergeOrLogFamily(c.engine)).entries()) {
    addColumns.push(...(await accepted(o, 'ADD COLUMN', (table) => `ALTER TABLE ${table} ADD COLUMN note_${n} String DEFAULT 'x'`)));
  }

  const view = candidates.find((o) => o.engine === 'View');
  // A table with rows of its own that no other object reads.
  const table = candidates.find(
    (o) => ['partitioned', 'whole-table'].includes(classifyEngine(o.engine).kind) && o.name !== 'readings' && !objects.some((other) => other !== o && other.create_table_query.includes(o.name)),
  );
  const drops = [view, table].filter((o) => o !== undefined).map((o) => (did(o.name, o.engine, 'DROP'), `DROP TABLE ${quoteIdentifier(o.name)}`));
  did('readings', 'MergeTree', 'MODIFY COLUMN (fails)');
  did('new_one', 'MergeTree', 'CREATE + INSERT');

  const versions: [string, string[]][] = [
    ['copy_rows', inserts],
    ['add_notes', addColumns],
    ['retire', drops],
    ['new_one', ['CREATE TABLE new_one (id UInt32, note String) ENGINE = MergeTree ORDER BY id', "INSERT INTO new_one VALUES (1, 'a'), (2, 'b')"]],
    ['readings_as_number', [FAILING_LAST]],
  ];
  generated.changes = versions.map(([name, sql], i) => ({ version: String(i + 1).padStart(3, '0'), name, sql: sql.join(';\n') }));
  generated.statements = versions.reduce((sum, [, sql]) => sum + sql.length, 0);
  return generated;
}

/** Fills the throw-away copy with the rows of `db`: what a statement does to a table can depend on its rows. */
async function copyRows(db: string, scratch: string): Promise<void> {
  const tables = await servers.target.rows<{ name: string; engine: string }>(`SELECT name, engine FROM system.tables WHERE database = ${quoteString(scratch)}`);
  for (const { name } of tables.filter((t) => holdsRows(t.engine) && !t.name.startsWith('.inner.'))) {
    await servers.target.exec(`INSERT INTO ${qualifiedName(scratch, name)} SELECT * FROM ${qualifiedName(db, name)}`);
  }
}

function printSummary(generated: GeneratedChanges, coverage: EngineCoverage): void {
  console.log(
    [
      `engines: ${coverage.engines.length} in the catalogue, ${coverage.created.size} created, refused: ${[...coverage.refused.keys()].join(', ') || 'none'}`,
      `change set: ${generated.statements} statements`,
      ...[...generated.touched].map(([object, { engine, actions }]) => `  ${engine.padEnd(30)} ${object.padEnd(34)} ${actions.join(', ')}`),
      ...generated.hung.map((h) => `left running on the throw-away copy, which is therefore not dropped: ${h}`),
      'excluded:',
      ...generated.excluded.map((e) => `  ${e.engine.padEnd(30)} ${e.object.padEnd(34)} ${e.reason}`),
    ].join('\n'),
  );
}

let before: Record<string, ObjectSnapshot>;
let generated: GeneratedChanges;
let final: ChangesState;
let db: string;

beforeAll(async () => {
  const t = servers.target;
  db = servers.database('chg_corpus');
  const scratch = uniqueName('chg_corpus_scratch');
  await createReadings(t, db);
  await t.exec(`CREATE DATABASE ${quoteIdentifier(scratch)}`);
  try {
    // The engines are created in `scratch` first (the corpus's probe), then in `db`: `scratch` becomes the throw-away copy.
    const coverage = await createEngineTables(t, db, scratch);
    await t.exec(`CREATE TABLE ${qualifiedName(scratch, 'readings')} AS ${qualifiedName(db, 'readings')}`);
    await copyRows(db, scratch);
    generated = await generateChanges(db, scratch);
    printSummary(generated, coverage);
  } finally {
    // A statement the server never answers holds its table's lock, and DROP DATABASE would wait for it forever.
    if (!generated || generated.hung.length === 0) await dropProbeDatabase(t, scratch);
  }
  before = await snapshotOf(t, db);
  final = await approveThrough(await startChanges(servers.client, changesInput(uniqueName('chg'), db, generated.changes)));
}, 240_000);

describe('schema changes over a table of every engine, generated from the catalogue, failing at the last statement', () => {
  it('the change set adds a column and copies rows in tables of many engines, drops a view and a table, and creates one', () => {
    const actions = [...generated.touched.values()].flatMap((t) => t.actions);

    expect(actions.filter((a) => a === 'ADD COLUMN').length).toBeGreaterThan(5);
    expect(actions.filter((a) => a === 'INSERT … SELECT').length).toBeGreaterThan(5);
    expect(actions.filter((a) => a === 'DROP')).toHaveLength(2);
    // A probe the server never answered would leave a stuck statement (and the copy) behind.
    expect(generated.hung).toEqual([]);
  });

  it('the staging shadow accepts every statement, so validation passes', () => {
    const validation = final.steps.find((s) => s.name === 'validation');

    expect(validation?.status).toBe('completed');
    expect((validation?.result as StagingReport | undefined)?.statements).toBe(generated.statements);
  });

  it('the last statement fails on the real table and the run ends rolled back, every restored object proved and nothing of the run left', () => {
    expect(final.status).toBe('rolled_back');
    expect(final.error?.message).toMatch(/version 005 \(readings_as_number\), statement 1 failed/);
    expect(final.rollback?.verified.length).toBeGreaterThan(0);
    expect(final.rollback?.verified.filter((v) => !v.match).map((v) => v.table)).toEqual([]);
    expect(final.rollback?.leftovers ?? []).toEqual([]);
  });

  it('every object of the database reads as before the run, DDL and rows', async () => {
    const after = await snapshotOf(servers.target, db);

    expect(Object.keys(after)).toEqual(Object.keys(before));
    for (const name of Object.keys(before)) expect({ name, ...after[name] }).toEqual({ name, ...before[name] });
  });

  it('no scratch database of the migrator remains', async () => {
    const scratch = await servers.target.rows<{ name: string }>(`SELECT name FROM system.databases WHERE ${RUN_DATABASES}`);

    expect(scratch).toEqual([]);
  });
});
