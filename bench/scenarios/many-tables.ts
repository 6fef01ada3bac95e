/**
 * `many-tables`: 1,000 tables of 3 monthly partitions × 1,000 rows in one database (3 M rows). The raw
 * baseline is what a person would script: list the tables, then per table a `CREATE TABLE` on the
 * target and an `INSERT … SELECT FROM remote()`, one after the other.
 */
import { qualifiedName, quoteString } from '../../src/clickhouse/sql';
import { createItemsDatabase, databaseRows, itemsDdl, timeRawCopy } from '../data';
import { medianOfThree, seconds, timed } from '../report';
import type { Scenario } from './scenario';
import { wholeRunAgainstRaw } from './whole-run';

const TABLES = Number(process.env.BENCH_MANY_TABLES ?? 1000);
/** 1,000 rows in each of the 3 monthly partitions. */
const ROWS_PER_TABLE = 3000;
const DB = 'bench_many_tables';
const RAW_DB = 'bench_many_tables_raw';

export const manyTablesScenario: Scenario = {
  name: 'many-tables',
  fields: ['many_tables_ratio'],
  async run(stack, summary) {
    const { source, target } = stack;
    const names = Array.from({ length: TABLES }, (_, i) => `t_${String(i).padStart(4, '0')}`);
    const generated = await timed(() => createItemsDatabase(source, DB, names, ROWS_PER_TABLE));
    const rows = await databaseRows(source, DB);
    console.log(`source: ${TABLES} tables × 3 partitions, ${rows} rows in ${DB} (generated in ${seconds(generated.ms)} s)`);

    const rawMs = await medianOfThree(`raw: ${TABLES} × (CREATE TABLE + INSERT … SELECT FROM remote()), one after the other,`, () =>
      timeRawCopy(target, RAW_DB, rows, {
        copy: async () => {
          const tables = await source.rows<{ name: string }>(`SELECT name FROM system.tables WHERE database = ${quoteString(DB)} ORDER BY name`);
          for (const { name } of tables) {
            await target.exec(itemsDdl(qualifiedName(RAW_DB, name)));
            await target.exec(`INSERT INTO ${qualifiedName(RAW_DB, name)} SELECT * FROM ${stack.remote(DB, name)}`);
          }
        },
      }),
    );

    summary.many_tables_ratio = await wholeRunAgainstRaw(stack, { label: 'many tables', id: 'bench-many-tables', database: DB, rawMs, rows });
    console.log(`many tables: many_tables_ratio=${summary.many_tables_ratio}   (target ≤ 2.0)`);
  },
};
