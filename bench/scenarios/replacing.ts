/**
 * `replacing` (opt-in: only when BENCH_SCENARIOS names it): what keeping part order costs on a
 * merge engine. Two tables of `big`'s columns, rows (BENCH_ROWS), partitioning and ORDER BY: the
 * plain one (MergeTree, generated and optimized as in `big`) and a ReplacingMergeTree one, built
 * with merges stopped (`SYSTEM STOP MERGES`) by 3 inserts that each span the whole year, so every
 * partition holds 3 to 6 parts, and with one row in 10 an update of a row of an earlier insert
 * (same key, other values): which of them `FINAL` keeps depends on the order of the parts.
 *
 * Each round times, for the plain table then for the Replacing one, the raw copy (one
 * `INSERT … SELECT FROM remote()` into a fresh table of the same engine, as `big`'s baseline) and
 * then a whole run of the product (server path, approvals off) into an empty target. It reports
 * each table's copy phase and whole run over the raw copy timed just before (the median over the
 * rounds of these paired ratios: on two shared cores a slow minute then slows both), the cost of
 * keeping order as the Replacing ratio over the plain one, and the
 * verification step (`verifyAndSyncMs`, sync passes included) of both, and its first pass alone. After each run of the Replacing table the bench
 * compares count and checksum of `SELECT … FINAL` on both sides itself: the rows must be equal,
 * and whether the checksums are (the kept rows are the source's) is printed.
 */
import type { ClickHouseConnection } from '../../src/clickhouse/connection';
import { qualifiedName, quoteIdentifier } from '../../src/clickhouse/sql';
import { BIG_ROWS, databaseRows, EVENTS_COLUMNS, eventsDdl, eventsValues, timeRawCopy } from '../data';
import { mib, percentile, seconds, timed, type Summary } from '../report';
import { completedReport, reportRun, runMigration } from '../runs';
import type { Stack } from '../stack';
import type { Scenario } from './scenario';

const ROWS = BIG_ROWS;
const ROUNDS = Math.max(1, Number(process.env.BENCH_REPLACING_ROUNDS ?? 3));
const TABLE = 'events';
/** Where the raw copies go on the target. */
const RAW_DB = 'bench_replacing_raw';
/** Inserts that build the Replacing table: row `number` goes in with insert `number % 3`. */
const SLICES = 3;
/**
 * The number whose key (event_date, user_id) row `number` takes: rows 30j+1 and 30j+2 (inserts 1
 * and 2) update row 30j (insert 0), row 30j+5 (insert 2) updates row 30j+4 (insert 1); one row in
 * 10 in all. Random user ids repeat a key here and there too, within an insert and across.
 */
const KEY_OF = 'multiIf(number % 30 IN (1, 2), toUInt64(number - number % 30), number % 30 = 5, toUInt64(number - 1), number)';

interface Variant {
  label: string;
  database: string;
  engine: string;
}
const PLAIN: Variant = { label: 'plain', database: 'bench_replacing_plain', engine: 'MergeTree' };
const REPLACING: Variant = { label: 'replacing', database: 'bench_replacing', engine: 'ReplacingMergeTree' };

/** Rows and checksum of `SELECT … FINAL` of a variant's table. */
async function finalDigest(conn: ClickHouseConnection, database: string): Promise<{ rows: number; checksum: string }> {
  const [digest] = await conn.rows<{ rows: string; checksum: string }>(
    `SELECT count() AS rows, sum(cityHash64(${EVENTS_COLUMNS})) AS checksum FROM ${qualifiedName(database, TABLE)} FINAL`,
  );
  return { rows: Number(digest.rows), checksum: digest.checksum };
}

async function generate(stack: Stack): Promise<{ finalRows: number; finalChecksum: string }> {
  const { source } = stack;
  const table = (v: Variant) => qualifiedName(v.database, TABLE);
  console.log(`generating ${ROWS} rows twice on the source…`);
  const plain = await timed(async () => {
    await source.exec(`CREATE DATABASE ${quoteIdentifier(PLAIN.database)}`);
    await source.exec(eventsDdl(table(PLAIN), PLAIN.engine));
    await source.exec(`INSERT INTO ${table(PLAIN)} SELECT ${eventsValues(ROWS)} FROM system.numbers LIMIT ${ROWS}`);
    await source.exec(`OPTIMIZE TABLE ${table(PLAIN)} FINAL`);
  });
  const replacing = await timed(async () => {
    await source.exec(`CREATE DATABASE ${quoteIdentifier(REPLACING.database)}`);
    await source.exec(eventsDdl(table(REPLACING), REPLACING.engine));
    // Stopped for the whole scenario: the parts stay as inserted, and their order is the work.
    await source.exec(`SYSTEM STOP MERGES ${table(REPLACING)}`);
    for (let slice = 0; slice < SLICES; slice++) {
      await source.exec(
        `INSERT INTO ${table(REPLACING)} SELECT ${eventsValues(ROWS, 'key_of')}
         FROM (SELECT number, ${KEY_OF} AS key_of FROM numbers(${ROWS}) WHERE number % ${SLICES} = ${slice})`,
      );
    }
  });
  const sizes = await source.rows<{ database: string; partitions: string; parts: string; most: string; rows: string; bytes: string }>(
    `SELECT database, count() AS partitions, sum(n) AS parts, max(n) AS most, sum(r) AS rows, sum(b) AS bytes
     FROM (SELECT database, partition_id, count() AS n, sum(rows) AS r, sum(data_uncompressed_bytes) AS b
           FROM system.parts WHERE active AND database IN ('${PLAIN.database}', '${REPLACING.database}') AND table = '${TABLE}' GROUP BY database, partition_id)
     GROUP BY database ORDER BY database`,
  );
  for (const s of sizes) {
    console.log(`source ${s.database}.${TABLE}: ${s.rows} rows, ${s.partitions} partitions, ${s.parts} parts (at most ${s.most} in one partition), ${mib(Number(s.bytes))} MiB uncompressed`);
  }
  const final = await finalDigest(source, REPLACING.database);
  const [keys] = await source.rows<{ repeated: string }>(`SELECT count() - uniqExact(event_date, user_id) AS repeated FROM ${table(REPLACING)}`);
  console.log(
    `  ${REPLACING.database}.${TABLE}: ${keys.repeated} rows repeat a key of another row, FINAL keeps ${final.rows} rows ` +
      `(generated in ${seconds(replacing.ms)} s with merges stopped; the plain one in ${seconds(plain.ms)} s)`,
  );
  return { finalRows: final.rows, finalChecksum: final.checksum };
}

interface Figures {
  rawMs: number[];
  runMs: number[];
  copyMs: number[];
  verifyMs: number[];
  /** The first verification pass alone: its `verifyPage` activity, scheduled to closed (history times). */
  firstPassMs: number[];
  resyncPasses: number;
}
const noFigures = (): Figures => ({ rawMs: [], runMs: [], copyMs: [], verifyMs: [], firstPassMs: [], resyncPasses: 0 });
/** The activity of one verification pass over a page of objects (one page here: one table). */
const VERIFY_ACTIVITY = 'verifyPage';
const median = (values: number[]): number => percentile(values, 50);

export const replacingScenario: Scenario = {
  name: 'replacing',
  fields: ['replacing_copy_ratio', 'replacing_total_ratio', 'order_copy_cost', 'order_total_cost', 'replacing_verify_s'],
  optIn: true,
  async run(stack, summary: Summary) {
    const { source, target } = stack;
    const expected = await generate(stack);
    const figures = new Map<Variant, Figures>([
      [PLAIN, noFigures()],
      [REPLACING, noFigures()],
    ]);
    let finalExact = 0;
    for (let round = 1; round <= ROUNDS; round++) {
      for (const variant of [PLAIN, REPLACING]) {
        const f = figures.get(variant) as Figures;
        const rawMs = await timeRawCopy(target, RAW_DB, ROWS, {
          prepare: () => target.exec(eventsDdl(qualifiedName(RAW_DB, TABLE), variant.engine)),
          copy: () => target.exec(`INSERT INTO ${qualifiedName(RAW_DB, TABLE)} SELECT * FROM ${stack.remote(variant.database, TABLE)}`),
          // The target merges the Replacing copy as it lands: its rows are those FINAL keeps, or more.
          check:
            variant === REPLACING
              ? async () => {
                  const { rows } = await finalDigest(target, RAW_DB);
                  if (rows !== expected.finalRows) throw new Error(`the raw copy's FINAL holds ${rows} rows, the source's ${expected.finalRows}`);
                }
              : undefined,
        });
        f.rawMs.push(rawMs);

        const id = `bench-replacing-${variant.label}-${round}`;
        const outcome = await runMigration(stack, stack.input(id, [variant.database]));
        const history = (await reportRun(stack, `${variant.label}, round ${round}`, outcome))?.history;
        const report = completedReport(outcome);
        const firstPass = history?.timeline.find((t) => t.what === VERIFY_ACTIVITY);
        if (firstPass) f.firstPassMs.push(firstPass.closedMs - firstPass.scheduledMs);
        f.runMs.push(outcome.ms);
        f.copyMs.push(report.timings.copyMs);
        f.verifyMs.push(report.timings.verifyAndSyncMs);
        f.resyncPasses += report.resynced.length;
        let finalNote = '';
        if (variant === REPLACING) {
          const [onSource, onTarget] = await Promise.all([finalDigest(source, variant.database), finalDigest(target, variant.database)]);
          if (onTarget.rows !== onSource.rows) throw new Error(`${id}: FINAL keeps ${onTarget.rows} rows on the target, ${onSource.rows} on the source`);
          const exact = onTarget.checksum === onSource.checksum;
          if (exact) finalExact++;
          const [parts] = await target.rows<{ parts: string; rows: string }>(
            `SELECT count() AS parts, sum(rows) AS rows FROM system.parts WHERE active AND database = '${variant.database}' AND table = '${TABLE}'`,
          );
          finalNote = `, FINAL on the target ${exact ? 'equals' : 'DIFFERS FROM'} the source's (${onSource.rows} rows); the target holds ${parts.rows} rows in ${parts.parts} parts`;
        } else {
          const rows = await databaseRows(target, variant.database);
          if (rows !== ROWS) throw new Error(`${id}: the target holds ${rows} rows, the source ${ROWS}`);
        }
        console.log(
          `round ${round}, ${variant.label}: raw ${seconds(rawMs)} s; run ${seconds(outcome.ms)} s, copy ${seconds(report.timings.copyMs)} s, ` +
            `verify and sync ${seconds(report.timings.verifyAndSyncMs)} s (first pass ${firstPass ? seconds(firstPass.closedMs - firstPass.scheduledMs) : '-'} s)${report.resynced.map((p) => ` (sync pass ${p.pass}: ${p.units} units, ${p.rows} rows, partitions ${p.partitions.map((u) => u.partitionId).join(' ')})`).join('')}${finalNote}`,
        );
        // The next run creates the database again; dropping it also stops the target's merges of it.
        await target.exec(`DROP DATABASE ${quoteIdentifier(variant.database)}`);
      }
    }

    const plain = figures.get(PLAIN) as Figures;
    const replacing = figures.get(REPLACING) as Figures;
    // Each run against the raw copy timed just before it, then the median over the rounds.
    const paired = (ms: number[], f: Figures) => ms.map((m, i) => m / f.rawMs[i]);
    const copyRatio = (f: Figures) => median(paired(f.copyMs, f));
    const totalRatio = (f: Figures) => median(paired(f.runMs, f));
    const spread = (ms: number[], f: Figures) => paired(ms, f).map((r) => r.toFixed(2)).join(', ');
    summary.replacing_copy_ratio = copyRatio(replacing).toFixed(3);
    summary.replacing_total_ratio = totalRatio(replacing).toFixed(3);
    summary.order_copy_cost = (copyRatio(replacing) / copyRatio(plain)).toFixed(3);
    summary.order_total_cost = (totalRatio(replacing) / totalRatio(plain)).toFixed(3);
    summary.replacing_verify_s = seconds(median(replacing.verifyMs));
    const row = (label: string, f: Figures) =>
      `${label.padEnd(20)} ${seconds(median(f.rawMs)).padStart(6)} s ${seconds(median(f.runMs)).padStart(6)} s ${seconds(median(f.copyMs)).padStart(6)} s ` +
      `${seconds(median(f.verifyMs)).padStart(6)} s   ${copyRatio(f).toFixed(3)} (${spread(f.copyMs, f)})   ${totalRatio(f).toFixed(3)} (${spread(f.runMs, f)})`;
    const resyncs = plain.resyncPasses + replacing.resyncPasses;
    const passSeconds = (f: Figures) => (f.firstPassMs.length ? seconds(median(f.firstPassMs)) : 'n/a');
    console.log(`
medians of ${ROUNDS} rounds (each: raw copy, then run; the plain table, then the Replacing one); ratios of each run to the raw copy before it, median (each round's):
                        raw      run      copy   verify   copy/raw                  run/raw
${row('plain (MergeTree)', plain)}
${row('ReplacingMergeTree', replacing)}
cost of keeping order (Replacing ratio / plain ratio): copy ${summary.order_copy_cost}, whole run ${summary.order_total_cost}
verification (verify and sync): Replacing ${summary.replacing_verify_s} s, plain ${seconds(median(plain.verifyMs))} s${resyncs ? `; ${resyncs} sync passes in all, counted in it` : ''}
first verification pass alone: Replacing ${passSeconds(replacing)} s, plain ${passSeconds(plain)} s
FINAL on the target equal to the source's after ${finalExact} of ${ROUNDS} runs
plain copy / raw ${copyRatio(plain).toFixed(3)} (big's copy_ratio target ≤ 1.15), run / raw ${totalRatio(plain).toFixed(3)} (total_ratio target ≤ 1.5)`);
    console.log(
      `replacing: rounds=${ROUNDS} replacing_copy_ratio=${summary.replacing_copy_ratio} replacing_total_ratio=${summary.replacing_total_ratio} ` +
        `plain_copy_ratio=${copyRatio(plain).toFixed(3)} plain_total_ratio=${totalRatio(plain).toFixed(3)} ` +
        `order_copy_cost=${summary.order_copy_cost} order_total_cost=${summary.order_total_cost} replacing_verify_s=${summary.replacing_verify_s} ` +
        `plain_verify_s=${seconds(median(plain.verifyMs))} replacing_first_pass_s=${passSeconds(replacing)} plain_first_pass_s=${passSeconds(plain)} final_exact=${finalExact}/${ROUNDS} sync_passes=${resyncs}`,
    );
  },
};
