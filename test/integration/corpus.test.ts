import { WorkflowFailedError } from '@temporalio/client';
import { qualifiedName, quoteIdentifier } from '../../src/clickhouse/sql';
import type { MigrationState, ValidationReport } from '../../src/workflows/types';
import { catalogColumns, countOrError, holdsRows, tableDigest, tablesOf, textDigest, type TextDigest } from './corpus/compare';
import { createCorpus, familyAccounting, type Corpus } from './corpus/corpus';
import { BASE_TABLE } from './corpus/engines';
import { WIDE_MATERIALIZED, WIDE_TABLE } from './corpus/tables';
import { migrationInput, queryState, startMigration, uniqueName, useTestServers } from './harness';

const servers = useTestServers({ worker: true });

/** Engines whose data lives outside ClickHouse or cannot be read back: the product must report them. */
const UNSUPPORTED_ENGINES = ['Set', 'Kafka', 'File', 'URL', 'MySQL', 'ODBC', 'JDBC'];
/** Engines that hold no rows and read the migrated base table on the target. */
const READERS_OF_BASE = ['Merge', 'Buffer', 'Distributed'];

let corpus: Corpus;
let final: MigrationState;
const digests: { table: string; source: TextDigest | string; target: TextDigest | string }[] = [];

async function migrate(db: string): Promise<MigrationState> {
  const handle = await startMigration(servers.client, migrationInput(uniqueName('corpus'), [db], { approvals: { required: false } }));
  try {
    return (await handle.result()) as MigrationState;
  } catch (err) {
    if (!(err instanceof WorkflowFailedError)) throw err;
    return queryState(handle);
  }
}

function validationReport(): ValidationReport | undefined {
  return final.steps.find((s) => s.name === 'validation')?.result as ValidationReport | undefined;
}

async function digestOrError(read: () => Promise<TextDigest>): Promise<TextDigest | string> {
  try {
    return await read();
  } catch (err) {
    return (err as Error).message.split('\n')[0];
  }
}

const short = (d: TextDigest | string) => (typeof d === 'string' ? `ERROR ${d.slice(0, 60)}` : `${d.rows} ${d.sha256.slice(0, 16)}`);

/** The validation step's time, with and without its trial copy (the fingerprint check on both sides). */
function validationTimings(): string {
  const step = final?.steps.find((s) => s.name === 'validation');
  const timings = validationReport()?.timings;
  if (!step?.startedAt || !step.finishedAt || !timings) return 'no report';
  const total = Date.parse(step.finishedAt) - Date.parse(step.startedAt);
  return `${total} ms in all; ${timings.inventoryMs} ms without the trial copy, ${timings.trialMs} ms for the trial copy of ${validationReport()?.trial.tables} tables (${validationReport()?.trial.rows} rows) with fingerprints on both sides`;
}

function printSummary(): void {
  const families = familyAccounting(corpus.types);
  const lines = [
    `type families: ${corpus.types.families.length} in the catalogue, ${families.covered.length} as columns (${corpus.types.columns.length} columns), ${families.refused.size} not a column type (${[...families.refused.keys()].join(', ')})`,
    `engines: ${corpus.engines.engines.length} in the catalogue, ${corpus.engines.created.size} created, ${corpus.engines.refused.size} refused (${[...corpus.engines.refused.keys()].join(', ')})`,
    `migration: ${final?.status}${final?.error ? ` (${final.error.type}: ${final.error.message.slice(0, 300)})` : ''}`,
    `validation: ${validationTimings()}`,
    ...digests.map((d) => `${d.table.padEnd(34)} source ${short(d.source).padEnd(28)} target ${short(d.target)}${JSON.stringify(d.source) === JSON.stringify(d.target) ? '' : '  DIFFERENT'}`),
  ];
  console.log(lines.join('\n'));
}

beforeAll(async () => {
  corpus = await createCorpus(servers.source, servers.database('corpus'));
  final = await migrate(corpus.database);
}, 600_000);

afterAll(printSummary);

describe('a corpus of every type family and every engine of the source server', () => {
  it('every type family of the catalogue is a column of the corpus, or a type the server will not put in a table', () => {
    const { covered, refused, missing } = familyAccounting(corpus.types);

    expect(missing).toEqual([]);
    expect(covered.length + refused.size).toBe(corpus.types.families.length);
    for (const message of refused.values()) expect(message).toMatch(/cannot be used in tables|must have|cannot be empty|argument/i);
  });

  it('every engine of the catalogue has a table in the corpus, or the server refused to create one here', () => {
    const accounted = corpus.engines.engines.filter((e) => corpus.engines.created.has(e) || corpus.engines.refused.has(e));

    expect(accounted).toEqual(corpus.engines.engines);
    expect([...corpus.engines.refused.values()].every((m) => m.length > 0)).toBe(true);
  });

  it('when the whole corpus is migrated, the run completes', () => {
    expect({ status: final.status, error: final.error }).toEqual({ status: 'completed', error: null });
  });

  it('every table that holds rows reads the same on the target, row for row', async () => {
    const db = corpus.database;
    const tables = (await tablesOf(servers.source, db)).filter((t) => holdsRows(t.engine));
    for (const { name } of tables) {
      const [source, target] = await Promise.all([
        digestOrError(() => tableDigest(servers.source, servers.source, db, name)),
        digestOrError(() => tableDigest(servers.target, servers.source, db, name)),
      ]);
      digests.push({ table: name, source, target });
    }

    expect(digests.filter((d) => typeof d.source === 'string')).toEqual([]);
    expect(digests.filter((d) => JSON.stringify(d.target) !== JSON.stringify(d.source))).toEqual([]);
    expect(tables.length).toBeGreaterThan(15);
  });

  it('a MATERIALIZED column of rand64() holds the source stored values on the target, not recomputed ones', async () => {
    const query = `SELECT id, ${quoteIdentifier(WIDE_MATERIALIZED)} FROM ${qualifiedName(corpus.database, WIDE_TABLE)} ORDER BY id FORMAT TabSeparated`;
    const source = await servers.source.text(query);
    const target = await servers.target.text(query).catch((err: Error) => err.message);

    expect(source.split('\n').length).toBeGreaterThan(50);
    expect(target).toBe(source);
  });

  it('the target has every table but the ones reported unsupported, each with the same columns, types and defaults', async () => {
    const db = corpus.database;
    const unsupported = new Set(validationReport()?.unsupported.map((u) => u.name) ?? []);
    const migrated = (await tablesOf(servers.source, db)).map((t) => t.name).filter((name) => !unsupported.has(name));
    const columns = async (conn: typeof servers.source) => (await catalogColumns(conn, db)).filter((c) => migrated.includes(c.table));

    expect((await tablesOf(servers.target, db)).map((t) => t.name)).toEqual(migrated);
    expect(await columns(servers.target)).toEqual(await columns(servers.source));
  });

  it('views answer the same on both sides', async () => {
    const views = (await tablesOf(servers.source, corpus.database)).filter((t) => t.engine === 'View' || t.engine === 'MaterializedView');
    const answers = await Promise.all(
      views.map(async ({ name }) => {
        const query = `SELECT * FROM ${qualifiedName(corpus.database, name)}`;
        return { name, source: await textDigest(servers.source, query), target: await digestOrError(() => textDigest(servers.target, query)) };
      }),
    );

    expect(views.length).toBeGreaterThanOrEqual(3);
    for (const answer of answers) expect({ view: answer.name, answer: answer.target }).toEqual({ view: answer.name, answer: answer.source });
  });

  it('engines the product cannot migrate are reported unsupported by validation, each with a reason', () => {
    const report = validationReport();
    const expected = UNSUPPORTED_ENGINES.filter((e) => corpus.engines.created.has(e));
    const reported = new Map((report?.unsupported ?? []).map((u) => [u.engine, u.reason]));

    expect(expected.length).toBeGreaterThan(0);
    for (const engine of expected) expect({ engine, reason: reported.get(engine) ?? null }).toEqual({ engine, reason: expect.stringMatching(/\S/) });
  });

  it('Merge, Buffer and Distributed tables exist on the target and read the migrated rows', async () => {
    const readers = READERS_OF_BASE.filter((e) => corpus.engines.created.has(e)).map((e) => `e_${e}`);
    const counts = await Promise.all(
      readers.map(async (table) => ({
        table,
        source: await countOrError(servers.source, corpus.database, table),
        target: await countOrError(servers.target, corpus.database, table),
      })),
    );

    expect(readers).toHaveLength(READERS_OF_BASE.length);
    for (const c of counts) expect(c).toEqual({ table: c.table, source: await countOrError(servers.source, corpus.database, BASE_TABLE), target: c.source });
  });
});
