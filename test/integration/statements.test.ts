/**
 * Statement splitting against a real ClickHouse: a text full of semicolons in places that do not
 * end a statement is split, each piece runs on the target, and what the server then holds is
 * exactly what the text says.
 */
import type { ClickHouseConnection } from '../../src/clickhouse/connection';
import { quoteIdentifier, quoteString } from '../../src/clickhouse/sql';
import { describeStatement, redirectDatabase, splitStatements } from '../../src/clickhouse/statements';
import { connect, dropDatabase, uniqueName } from './harness';
import { testStack } from './stack-env';

let target: ClickHouseConnection;
const databases: string[] = [];

beforeAll(() => {
  target = connect(testStack().target, 'target');
});

afterAll(async () => {
  for (const database of databases) await dropDatabase(target, database);
  await target.close();
});

/** A fresh database name with a space and a semicolon in it, dropped after the file's tests. */
function hostileDatabase(prefix: string): string {
  const name = uniqueName(`${prefix} ;db`);
  databases.push(name);
  return name;
}

/** The change text: every `;` outside the statement ends is in a string, a quoted name or a comment. */
function changeText(database: string): string {
  const db = quoteIdentifier(database);
  return [
    `-- the events table; its name holds a semicolon`,
    `CREATE TABLE ${db}.\`t;1\` (id UInt32, label String) ENGINE = MergeTree ORDER BY id;`,
    `/* a block comment; with "quotes" and 'strings' */`,
    `INSERT INTO ${db}.\`t;1\` VALUES (1, 'a;b'), (2, 'it\\'s; -- not a comment'), (3, '/* nor; this */');`,
    `CREATE TABLE ${db}."q\\"uote;d" (x String) ENGINE = TinyLog; -- a comment after the end; the next statement carries it`,
    `INSERT INTO ${db}."q\\"uote;d" VALUES ('back\`tick;');`,
    `ALTER TABLE ${db}.\`t;1\` ADD COLUMN \`note;1\` String DEFAULT 'n;1';`,
    `CREATE TABLE ${db}.\`back\\\`tick\` ENGINE = TinyLog AS SELECT id, label FROM ${db}.\`t;1\` WHERE label != ';';`,
    ';;',
  ].join('\n');
}

async function tablesOf(database: string): Promise<string[]> {
  const rows = await target.rows<{ name: string }>(`SELECT name FROM system.tables WHERE database = ${quoteString(database)} ORDER BY name`);
  return rows.map((r) => r.name);
}

async function eventsOf(database: string): Promise<{ id: number; label: string; note: string }[]> {
  return target.rows(`SELECT id, label, \`note;1\` AS note FROM ${quoteIdentifier(database)}.\`t;1\` ORDER BY id`);
}

async function runAll(statements: string[]): Promise<void> {
  for (const statement of statements) await target.exec(statement);
}

describe('statements that a real ClickHouse runs', () => {
  it('when a text holds semicolons in strings, quoted names and comments, its statements create exactly what it says', async () => {
    const database = hostileDatabase('statements');
    await target.exec(`CREATE DATABASE ${quoteIdentifier(database)}`);

    const statements = splitStatements(changeText(database));
    expect(statements.map((s) => describeStatement(s).kind)).toEqual(['CREATE TABLE', 'INSERT', 'CREATE TABLE', 'INSERT', 'ALTER TABLE', 'CREATE TABLE']);
    await runAll(statements);

    expect(await tablesOf(database)).toEqual(['back`tick', 'q"uote;d', 't;1']);
    expect(await eventsOf(database)).toEqual([
      { id: 1, label: 'a;b', note: 'n;1' },
      { id: 2, label: "it's; -- not a comment", note: 'n;1' },
      { id: 3, label: '/* nor; this */', note: 'n;1' },
    ]);
    expect(await target.rows(`SELECT x FROM ${quoteIdentifier(database)}.${quoteIdentifier('q"uote;d')}`)).toEqual([{ x: 'back`tick;' }]);
    expect(await target.rows(`SELECT count() AS n FROM ${quoteIdentifier(database)}.${quoteIdentifier('back`tick')}`)).toEqual([{ n: '3' }]);
  });

  it('when the statements are redirected to another database, they run there and leave the original untouched', async () => {
    const original = hostileDatabase('original');
    const copy = hostileDatabase('copy');
    await target.exec(`CREATE DATABASE ${quoteIdentifier(original)}`);
    await target.exec(`CREATE DATABASE ${quoteIdentifier(copy)}`);
    const statements = splitStatements(changeText(original));
    await runAll(statements);

    const redirected = statements.map((s) => redirectDatabase(s, original, copy));
    for (const statement of redirected) {
      expect(describeStatement(statement).writes.every((ref) => ref.database === copy)).toBe(true);
    }
    await runAll(redirected);

    expect(await tablesOf(copy)).toEqual(['back`tick', 'q"uote;d', 't;1']);
    expect(await eventsOf(copy)).toEqual(await eventsOf(original));
    const [row] = await target.rows<{ n: string }>(`SELECT count() AS n FROM ${quoteIdentifier(original)}.\`t;1\``);
    expect(row.n).toBe('3');
    expect(await tablesOf(original)).toEqual(['back`tick', 'q"uote;d', 't;1']);
  });
});
