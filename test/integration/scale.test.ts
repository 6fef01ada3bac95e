/**
 * Bounded history and payloads at scale (issue 11): a run of 10,000 tables and a run of one table
 * with many partitions (30,000 by default; `SCALE_PARTITIONS=100000` for the full size, about 25
 * minutes here on 18.16, where each partition is a part), each through the real workflow on the
 * real servers, with the figures printed and the limits asserted. Minutes each: `npm run
 * test:scale` runs this file, `npm test` does not.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { WorkflowHandle } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import type { ClickHouseConnection } from '../../src/clickhouse/connection';
import { qualifiedName, quoteIdentifier, quoteString } from '../../src/clickhouse/sql';
import type { MigrationState } from '../../src/workflows/types';
import { migrationInput, startMigration, useTestServers } from './harness';
import { allTablePages, useViewerApi } from './scale-helpers';

const servers = useTestServers({ worker: true });
const api = useViewerApi(servers);

const KIB = 1024;
const LIMITS = { payloadBytes: 512 * KIB, historyEvents: 10_000, historyBytes: 10 * KIB * KIB, stateBytes: 256 * KIB };
/**
 * Partitions of the one-table run. Its payload limit is far below what a list of that many
 * partition ids would weigh (at least 6 bytes each), so a payload that grows with the partitions
 * fails at any size; the run's real largest payload is about 3 KiB.
 */
const PARTITIONS = Number(process.env.SCALE_PARTITIONS ?? 30_000);
const PARTITION_PAYLOAD_LIMIT = Math.min(LIMITS.payloadBytes, Math.floor((PARTITIONS * 6) / 4));
/** Statements in flight while the test builds its source: ClickHouse 18.16 takes a few ms per CREATE. */
const SETUP_CONCURRENCY = 8;
const RUN_TIMEOUT_MS = 60 * 60_000;

/** Runs `work` on every item, `limit` at a time. */
async function concurrently<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < items.length) await work(items[next++]);
  }));
}

/** Every Payload of a history (any object with `data` and `metadata`), with its encoded size. */
function payloadSizes(value: unknown, into: number[]): number[] {
  if (!value || typeof value !== 'object') return into;
  const candidate = value as { data?: unknown; metadata?: unknown };
  if (candidate.data instanceof Uint8Array && candidate.metadata && typeof candidate.metadata === 'object') {
    into.push(temporal.api.common.v1.Payload.encode(candidate as temporal.api.common.v1.IPayload).finish().length);
    return into;
  }
  for (const child of Object.values(value)) payloadSizes(child, into);
  return into;
}

interface RunFigures {
  historyEvents: number;
  historyBytes: number;
  largestPayloadBytes: number;
  stateBytes: number;
  resultBytes: number;
}

/** The figures of a finished run: its history, its largest payload, and the size of its state document (API) and result. */
async function figuresOf(handle: WorkflowHandle, result: MigrationState): Promise<RunFigures> {
  const history = await handle.fetchHistory();
  const state = await api.get(`/migrations/${handle.workflowId}`);
  expect(state.status).toBe(200);
  return {
    historyEvents: history.events?.length ?? 0,
    historyBytes: temporal.api.history.v1.History.encode(history).finish().length,
    largestPayloadBytes: Math.max(...payloadSizes(history, [])),
    stateBytes: Buffer.byteLength(state.text),
    resultBytes: Buffer.byteLength(JSON.stringify(result)),
  };
}

function report(name: string, f: RunFigures, extra: string): void {
  console.log(
    `scale ${name}: history ${f.historyEvents} events, ${(f.historyBytes / KIB).toFixed(1)} KiB; largest payload ${(f.largestPayloadBytes / KIB).toFixed(1)} KiB; ` +
      `state document ${(f.stateBytes / KIB).toFixed(1)} KiB (result ${(f.resultBytes / KIB).toFixed(1)} KiB); ${extra}`,
  );
}

function expectWithinLimits(f: RunFigures, payloadBytes = LIMITS.payloadBytes): void {
  expect(f.largestPayloadBytes).toBeLessThan(payloadBytes);
  expect(f.historyEvents).toBeLessThan(LIMITS.historyEvents);
  expect(f.historyBytes).toBeLessThan(LIMITS.historyBytes);
  expect(f.stateBytes).toBeLessThan(LIMITS.stateBytes);
  expect(f.resultBytes).toBeLessThan(LIMITS.stateBytes);
}

/** Per table: `count()` and a sum of `sipHash64` over every column, written by the test (the product hashes otherwise), a few hundred tables per query. */
async function countsAndHashes(conn: ClickHouseConnection, database: string, tables: string[]): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  const chunks = Array.from({ length: Math.ceil(tables.length / 200) }, (_, i) => tables.slice(i * 200, (i + 1) * 200));
  await concurrently(chunks, 4, async (chunk) => {
    const sql = chunk
      .map((t) => `SELECT ${quoteString(t)} AS t, count() AS c, toString(sum(sipHash64(id, v))) AS h FROM ${qualifiedName(database, t)}`)
      .join(' UNION ALL ');
    for (const row of await conn.rows<{ t: string; c: string; h: string }>(sql)) found.set(row.t, `${row.c}/${row.h}`);
  });
  return found;
}

/** Count and sha256 of a table's rows as sorted TabSeparated text. */
async function sortedRowsDigest(conn: ClickHouseConnection, database: string, table: string): Promise<string> {
  const text = await conn.text(`SELECT * FROM ${qualifiedName(database, table)} ORDER BY id FORMAT TabSeparated`);
  return `${text.split('\n').filter(Boolean).length}/${createHash('sha256').update(text).digest('hex')}`;
}

async function migrate(id: string, db: string, parallelism: number): Promise<{ handle: WorkflowHandle; final: MigrationState }> {
  const input = migrationInput(id, [db], { approvals: { required: false }, options: { parallelism } });
  const handle = await startMigration(servers.client, input);
  const final = (await handle.result()) as MigrationState;
  return { handle, final };
}

describe('a run at scale keeps its history, payloads and state document bounded', () => {
  it(
    'when 10,000 tables are migrated, the run completes with exact data, every table is served by page, and history, payloads and state stay within the limits',
    async () => {
      const db = servers.database('scale_tables');
      const tables = Array.from({ length: 10_000 }, (_, i) => `t${String(i).padStart(5, '0')}`);
      await servers.source.exec(`CREATE DATABASE ${quoteIdentifier(db)}`);
      await concurrently(tables, SETUP_CONCURRENCY, async (t) => {
        await servers.source.exec(`CREATE TABLE ${qualifiedName(db, t)} (id UInt32, v String) ENGINE = MergeTree ORDER BY id`);
        await servers.source.exec(`INSERT INTO ${qualifiedName(db, t)} SELECT number, concat(${quoteString(t)}, toString(number)) FROM system.numbers LIMIT ${1 + (Number(t.slice(1)) % 3)}`);
      });
      const [listed] = await servers.source.rows<{ n: string }>(`SELECT count() AS n FROM system.tables WHERE database = ${quoteString(db)}`);
      expect(Number(listed.n)).toBe(10_000);

      const { handle, final } = await migrate(`scale-tables-${randomBytes(3).toString('hex')}`, db, 4);
      expect(final.status).toBe('completed');

      const [onSource, onTarget] = await Promise.all([countsAndHashes(servers.source, db, tables), countsAndHashes(servers.target, db, tables)]);
      expect(onSource.size).toBe(10_000);
      expect([...onTarget.entries()].filter(([t, digest]) => onSource.get(t) !== digest)).toEqual([]);
      expect(onTarget.size).toBe(10_000);

      const paged = await allTablePages(api, handle.workflowId);
      expect(paged).toHaveLength(10_000);
      expect(new Set(paged.map((t) => t.table)).size).toBe(10_000);
      expect(paged.filter((t) => t.match !== true)).toEqual([]);
      const rows = [...onSource.values()].reduce((n, d) => n + Number(d.split('/')[0]), 0);
      expect(paged.reduce((n, t) => n + t.rowsCopied, 0)).toBe(rows);

      const figures = await figuresOf(handle, final);
      report('10,000 tables', figures, `${rows} rows, ${final.progress.unitsTotal} units`);
      expectWithinLimits(figures);
    },
    RUN_TIMEOUT_MS,
  );

  it(
    `when one table with ${PARTITIONS.toLocaleString('en')} partitions is migrated, the run completes with exact data and history, payloads and state stay within the limits`,
    async () => {
      const db = servers.database('scale_partitions');
      await servers.source.exec(`CREATE DATABASE ${quoteIdentifier(db)}`);
      await servers.source.exec(`CREATE TABLE ${qualifiedName(db, 'p')} (id UInt32, v UInt16) ENGINE = MergeTree PARTITION BY id ORDER BY id`);
      // A few INSERTs of up to 10,000 partitions each: every partition is one part.
      for (let first = 0; first < PARTITIONS; first += 10_000) {
        const rows = Math.min(10_000, PARTITIONS - first);
        await servers.source.exec(`INSERT INTO ${qualifiedName(db, 'p')} SELECT ${first} + number, (${first} + number) % 65521 FROM system.numbers LIMIT ${rows}`);
      }
      const [parts] = await servers.source.rows<{ n: string }>(
        `SELECT uniqExact(partition_id) AS n FROM system.parts WHERE active AND database = ${quoteString(db)} AND table = 'p'`,
      );
      expect(Number(parts.n)).toBe(PARTITIONS);

      const { handle, final } = await migrate(`scale-partitions-${randomBytes(3).toString('hex')}`, db, 2);
      expect(final.status).toBe('completed');

      const [source, target] = await Promise.all([sortedRowsDigest(servers.source, db, 'p'), sortedRowsDigest(servers.target, db, 'p')]);
      expect(source.startsWith(`${PARTITIONS}/`)).toBe(true);
      expect(target).toBe(source);
      const [targetParts] = await servers.target.rows<{ n: string }>(
        `SELECT uniqExact(partition_id) AS n FROM system.parts WHERE active AND database = ${quoteString(db)} AND table = 'p'`,
      );
      expect(Number(targetParts.n)).toBe(PARTITIONS);
      const paged = await allTablePages(api, handle.workflowId);
      expect(paged).toEqual([expect.objectContaining({ table: 'p', rowsCopied: PARTITIONS, sourceRows: PARTITIONS, targetRows: PARTITIONS, match: true })]);

      const figures = await figuresOf(handle, final);
      report(`${PARTITIONS.toLocaleString('en')} partitions`, figures, `${final.progress.unitsTotal} units; payload limit ${(PARTITION_PAYLOAD_LIMIT / KIB).toFixed(1)} KiB`);
      expectWithinLimits(figures, PARTITION_PAYLOAD_LIMIT);
    },
    RUN_TIMEOUT_MS,
  );
});
