import type { ClickHouseConnection } from '../../src/clickhouse/connection';
import { quoteString } from '../../src/clickhouse/sql';
import type { MigrationState, TransferPath } from '../../src/workflows/types';
import { createDemoLike } from './fixtures';
import { migrationInput, startMigration, tableDigest, uniqueName, useTestServers } from './harness';

const servers = useTestServers({ worker: true });

/** The tables of `db` that hold rows on `conn`, and their uncompressed bytes, as its catalogue lists them. */
async function storedTables(conn: ClickHouseConnection, db: string): Promise<{ tables: string[]; bytes: number }> {
  const rows = await conn.rows<{ table: string; bytes: string }>(
    `SELECT table, sum(data_uncompressed_bytes) AS bytes FROM system.parts WHERE active AND database = ${quoteString(db)} GROUP BY table ORDER BY table`,
  );
  return { tables: rows.map((r) => r.table), bytes: rows.reduce((n, r) => n + Number(r.bytes), 0) };
}

/** Each table's rows and checksum, on either server, as this test computes them. */
async function digests(conn: ClickHouseConnection, db: string, tables: readonly string[]): Promise<Record<string, { rows: number; checksum: string }>> {
  return Object.fromEntries(await Promise.all(tables.map(async (t) => [t, await tableDigest(conn, db, t)] as const)));
}

describe('throttling on real servers', () => {
  // Limits that make each copy last a few seconds: a limit only the copy's own speed could break would prove nothing.
  const cases: { path: TransferPath; limits: (bytes: number, rows: number) => { maxBytesPerSecond?: number; maxRowsPerSecond?: number } }[] = [
    { path: 'server', limits: (bytes) => ({ maxBytesPerSecond: Math.ceil(bytes / 3) }) },
    { path: 'worker', limits: (bytes, rows) => ({ maxBytesPerSecond: Math.ceil(bytes / 3), maxRowsPerSecond: Math.ceil(rows / 3) }) },
  ];

  it.each(cases)('when the $path path copies under a limit, every row lands and the state shows the limit and the rate reached', async ({ path, limits }) => {
    const db = servers.database(`throttle_${path}`);
    await createDemoLike(servers.source, db, 150_000);
    const { tables, bytes } = await storedTables(servers.source, db);
    const sourceRows = Object.values(await digests(servers.source, db, tables)).reduce((n, d) => n + d.rows, 0);
    const configured = limits(bytes, sourceRows);
    const input = migrationInput(uniqueName(`throttle-${path}`), [db], { approvals: { required: false }, options: { parallelism: 3, ...configured } });
    if (path === 'worker') input.source.nativePort = 1;

    const final = (await (await startMigration(servers.client, input)).result()) as MigrationState;

    expect({ status: final.status, transferPath: final.transferPath }).toEqual({ status: 'completed', transferPath: path });
    expect(await digests(servers.target, db, tables)).toEqual(await digests(servers.source, db, tables));
    expect(final.rate).toEqual({
      maxBytesPerSecond: configured.maxBytesPerSecond ?? null,
      maxRowsPerSecond: configured.maxRowsPerSecond ?? null,
      bytesPerSecond: expect.any(Number),
      rowsPerSecond: expect.any(Number),
    });
    expect(final.rate?.bytesPerSecond).toBeGreaterThan(0);
    expect(final.rate?.rowsPerSecond).toBeGreaterThan(0);
  });
});
