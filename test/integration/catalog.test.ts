import { listTables, partitionSelectors, partitionSizes } from '../../src/clickhouse/catalog';
import { partitionKeyOf } from '../../src/clickhouse/ddl';
import { qualifiedName, quoteIdentifier } from '../../src/clickhouse/sql';
import { HOSTILE_TABLE } from './fixtures';
import { createHostilePartitions, HOSTILE_PARTITIONED } from './hostile-partitions';
import { useTestServers } from './harness';

const servers = useTestServers({ worker: false });

/** Partition keys of the shapes users write, each with the number of partitions its data makes. */
const KEYS: Record<string, string> = {
  month: 'MergeTree PARTITION BY toYYYYMM(d) ORDER BY k',
  day: 'MergeTree PARTITION BY d ORDER BY k',
  tuple: 'MergeTree PARTITION BY (toYYYYMM(d), s) ORDER BY k',
  text: 'MergeTree PARTITION BY s ORDER BY k',
  modulo: 'MergeTree PARTITION BY k % 3 ORDER BY k',
  hour: 'MergeTree PARTITION BY toStartOfHour(t) ORDER BY k',
  legacy: 'MergeTree(d, k, 8192)',
  [HOSTILE_TABLE]: 'MergeTree PARTITION BY toYYYYMM(d) ORDER BY k',
  unkeyed: 'MergeTree ORDER BY k',
};

describe('partition selectors on the real source', () => {
  it('select exactly the rows of their partition, for every shape of key, and are proved before use', async () => {
    const db = servers.database('selectors');
    await servers.source.exec(`CREATE DATABASE ${quoteIdentifier(db)}`);
    for (const [table, engine] of Object.entries(KEYS)) {
      await servers.source.exec(`CREATE TABLE ${qualifiedName(db, table)} (d Date, t DateTime, k UInt64, s String) ENGINE = ${engine}`);
      await servers.source.exec(
        `INSERT INTO ${qualifiedName(db, table)}
         SELECT toDate('2024-01-01') + intDiv(number, 40), toDateTime('2024-01-01 00:00:00') + number * 97, number, concat('it''s, ', toString(number % 2))
         FROM system.numbers LIMIT 1000`,
      );
    }

    for (const table of await listTables(servers.source, [db])) {
      const partitions = await partitionSizes(servers.source, db, table.name);
      const selectors = await partitionSelectors(servers.source, db, table.name, table.createTableQuery);
      if (table.name === 'unkeyed') {
        expect(selectors.size).toBe(0);
        continue;
      }
      // Every key here round-trips, so every partition gets a selector…
      expect([table.name, [...selectors.keys()].sort()]).toEqual([table.name, partitions.map((p) => p.partitionId).sort()]);
      // …and each selects its partition's rows and nothing else.
      for (const p of partitions) {
        const [found] = await servers.source.rows<{ rows: string; ids: string[] }>(
          `SELECT count() AS rows, groupUniqArray(_partition_id) AS ids FROM ${qualifiedName(db, table.name)} WHERE ${selectors.get(p.partitionId)}`,
        );
        expect([table.name, p.partitionId, Number(found.rows), found.ids]).toEqual([table.name, p.partitionId, p.rows, [p.partitionId]]);
      }
    }
  });

  it('when a key cannot be evaluated as written, no partition gets a selector and the copy falls back to partition ids', async () => {
    const db = servers.database('selectors_fallback');
    await servers.source.exec(`CREATE DATABASE ${quoteIdentifier(db)}`);
    await servers.source.exec(`CREATE TABLE ${qualifiedName(db, 't')} (d Date, k UInt64) ENGINE = MergeTree PARTITION BY toYYYYMM(d) ORDER BY k`);
    await servers.source.exec(`INSERT INTO ${qualifiedName(db, 't')} VALUES ('2024-01-01', 1), ('2024-01-02', 2), ('2024-02-01', 3)`);
    // DDL whose key names a column the table does not have: the server refuses the check.
    const wrong = `CREATE TABLE ${qualifiedName(db, 't')} (d Date, k UInt64) ENGINE = MergeTree PARTITION BY toYYYYMM(missing) ORDER BY k`;
    expect((await partitionSelectors(servers.source, db, 't', wrong)).size).toBe(0);
    // DDL whose key evaluates but does not match the partitions: January holds two values of k,
    // so no single-value selector finds all its rows, and the proof refuses it one.
    const other = `CREATE TABLE ${qualifiedName(db, 't')} (d Date, k UInt64) ENGINE = MergeTree PARTITION BY k ORDER BY k`;
    expect((await partitionSelectors(servers.source, db, 't', other)).has('202401')).toBe(false);
  });
});

describe('partition selectors of hostile partition values', () => {
  it('write each String value as a literal that reads back as that value, never as SQL, and select exactly its partition', async () => {
    const db = servers.database('selectors_hostile');
    await servers.source.exec(`CREATE DATABASE ${quoteIdentifier(db)}`);
    await createHostilePartitions(servers.source, db);

    const seen: unknown[] = [];
    const expected: unknown[] = [];
    for (const table of Object.keys(HOSTILE_PARTITIONED)) {
      const [info] = (await listTables(servers.source, [db])).filter((t) => t.name === table);
      const selectors = await partitionSelectors(servers.source, db, table, info.createTableQuery);
      const prefix = `(${partitionKeyOf(info.createTableQuery)}) = `;
      // The test reads each partition's value itself, and the server reads the selector's literal back.
      const partitions = await servers.source.rows<{ id: string; rows: string; s: string; n: number }>(
        `SELECT _partition_id AS id, count() AS rows, any(s) AS s, any(n) AS n FROM ${qualifiedName(db, table)} GROUP BY id ORDER BY id`,
      );
      for (const p of partitions) {
        const selector = selectors.get(p.id) ?? '';
        const literal = selector.startsWith(prefix) ? selector.slice(prefix.length) : selector;
        const [read] = await servers.source.rows<{ v: unknown }>(`SELECT ${literal} AS v`).catch((err: Error) => [{ v: `refused: ${err.message.slice(0, 60)}` }]);
        const [found] = await servers.source.rows<{ rows: string; ids: string[] }>(
          `SELECT count() AS rows, groupUniqArray(_partition_id) AS ids FROM ${qualifiedName(db, table)} WHERE ${selector}`,
        );
        seen.push({ table, value: p.s, literal, readsAs: read.v, rows: Number(found.rows), ids: found.ids });
        expected.push({ table, value: p.s, literal, readsAs: table === 'pair' ? [p.s, p.n] : p.s, rows: Number(p.rows), ids: [p.id] });
      }
    }
    expect(seen).toEqual(expected);
    expect(await servers.source.text(`SELECT x FROM ${qualifiedName(db, 'bystander')} ORDER BY x FORMAT TSV`)).toBe('1\n2\n');
  });
});
