/**
 * `many-partitions`: one table of 5,000 partitions × 200 rows (`PARTITION BY intDiv(id, 200)`).
 * The raw baseline is one `CREATE TABLE` and one `INSERT … SELECT FROM remote()`.
 */
import type { ClickHouseConnection, ConnectionSettings } from '../../src/clickhouse/connection';
import { qualifiedName, quoteIdentifier } from '../../src/clickhouse/sql';
import { itemsDdl, itemsSelect, timeRawCopy } from '../data';
import { medianOfThree, seconds, timed } from '../report';
import type { Scenario } from './scenario';
import { wholeRunAgainstRaw } from './whole-run';

const PARTITIONS = Number(process.env.BENCH_MANY_PARTITIONS ?? 5000);
const ROWS_PER_PARTITION = 200;
const DB = 'bench_many_partitions';
const RAW_DB = 'bench_many_partitions_raw';
const PARTITION_BY = `intDiv(id, ${ROWS_PER_PARTITION})`;

/**
 * `max_partitions_per_insert_block = 0` where the server has that limit (later servers refuse an
 * insert into more than 100 partitions by default); 18.16 has no such setting.
 */
async function withoutPartitionLimit(conn: ClickHouseConnection): Promise<ConnectionSettings | undefined> {
  const [setting] = await conn.rows<{ n: string }>(`SELECT count() AS n FROM system.settings WHERE name = 'max_partitions_per_insert_block'`);
  return Number(setting.n) > 0 ? { max_partitions_per_insert_block: 0 } : undefined;
}

export const manyPartitionsScenario: Scenario = {
  name: 'many-partitions',
  fields: ['many_partitions_ratio'],
  async run(stack, summary) {
    const { source, target } = stack;
    const rows = PARTITIONS * ROWS_PER_PARTITION;
    const generated = await timed(async () => {
      await source.exec(`CREATE DATABASE ${quoteIdentifier(DB)}`);
      await source.exec(itemsDdl(qualifiedName(DB, 'events'), PARTITION_BY));
      await source.exec(`INSERT INTO ${qualifiedName(DB, 'events')} ${itemsSelect(rows)}`, await withoutPartitionLimit(source));
    });
    const [parts] = await source.rows<{ partitions: string; parts: string }>(
      `SELECT uniqExact(partition_id) AS partitions, count() AS parts FROM system.parts WHERE active AND database = '${DB}' AND table = 'events'`,
    );
    console.log(`source: one table, ${parts.partitions} partitions (${parts.parts} parts), ${rows} rows (generated in ${seconds(generated.ms)} s)`);

    const targetSettings = await withoutPartitionLimit(target);
    const label = `raw: CREATE TABLE + one INSERT … SELECT FROM remote()${targetSettings ? ' (max_partitions_per_insert_block = 0)' : ''}`;
    const rawMs = await medianOfThree(label, () =>
      timeRawCopy(target, RAW_DB, rows, {
        copy: async () => {
          await target.exec(itemsDdl(qualifiedName(RAW_DB, 'events'), PARTITION_BY));
          await target.exec(`INSERT INTO ${qualifiedName(RAW_DB, 'events')} SELECT * FROM ${stack.remote(DB, 'events')}`, targetSettings);
        },
      }),
    );

    summary.many_partitions_ratio = await wholeRunAgainstRaw(stack, { label: 'many partitions', id: 'bench-many-partitions', database: DB, rawMs, rows });
    console.log(`many partitions: many_partitions_ratio=${summary.many_partitions_ratio}   (target ≤ 2.0)`);
  },
};
