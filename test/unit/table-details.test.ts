import { MAX_COPY_ACTIVITIES, RANGE_BYTES, RANGE_UNITS, rangeCuts, rangesAt, rangesOf } from '../../src/workflows/ranges';
import { largestTables } from '../../src/activities/transfer';
import type { CopyUnit, TableProgress } from '../../src/workflows/types';
import { advanceTableProgress, TableDetails, TABLES_PAGE_DEFAULT } from '../../src/workflows/table-details';
import { firstLines, firstOfSelectedFirst } from '../../src/workflows/bounded';

describe('the per-table detail of a run', () => {
  const verdict = (table: string, match: boolean) => ({ database: 'db', table, sourceRows: 2, targetRows: match ? 2 : 1, sourceChecksum: 'a', targetChecksum: match ? 'a' : 'b', match });

  it('when pages are read cursor by cursor, every table comes once, by name whatever order the copies landed in, with rows copied and verdict', () => {
    const details = new TableDetails();
    details.copied({ tables: [{ database: 'db', table: 't1', rows: 1 }, { database: 'db', table: 't0', rows: 2 }] });
    details.copied({ tables: [{ database: 'db', table: 't1', rows: 1 }] });
    details.verified([verdict('t0', true), verdict('t1', true), verdict('t2', false)]);
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = details.page({ cursor, limit: 2 });
      expect(page.total).toBe(3);
      seen.push(...page.tables.map((t) => `${t.table}:${t.rowsCopied}:${t.match}`));
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    expect(seen).toEqual(['t0:2:true', 't1:2:true', 't2:0:false']);
  });

  it('when the cursor or limit does not fit, the query answers the first page at the default size', () => {
    const details = new TableDetails();
    details.verified(Array.from({ length: TABLES_PAGE_DEFAULT + 5 }, (_, i) => verdict(`t${i}`, true)));
    const page = details.page({ cursor: 'x', limit: -3 });
    expect(page.tables).toHaveLength(TABLES_PAGE_DEFAULT);
    expect(page.tables[0].table).toBe('t0');
    expect(page.nextCursor).toBe(String(TABLES_PAGE_DEFAULT));
  });
});

describe('copy ranges over manifest lists', () => {
  it('when 100,000 units are planned, they are covered exactly once by at most 200 ranges', () => {
    const ranges = rangesOf([{ list: 'units', count: 100_000 }]);
    expect(ranges.length).toBeLessThanOrEqual(200);
    expect(ranges[0].from).toBe(0);
    ranges.slice(1).forEach((r, i) => expect(r.from).toBe(ranges[i].to));
    expect(ranges[ranges.length - 1].to).toBe(100_000);
  });

  it('when several lists hold units, each list is covered on its own and empty lists get no range', () => {
    const ranges = rangesOf([{ list: 'a', count: 3 }, { list: 'b', count: 0 }, { list: 'c', count: 1 }]);
    expect(ranges).toEqual([{ list: 'a', from: 0, to: 1 }, { list: 'a', from: 1, to: 2 }, { list: 'a', from: 2, to: 3 }, { list: 'c', from: 0, to: 1 }]);
  });
});

describe('copy ranges cut by bytes', () => {
  const units = (n: number, bytes: number) => Array.from({ length: n }, () => ({ bytes }));
  /** The ranges cover 0…n once each, in order. */
  const covering = (cuts: number[], n: number) => {
    const ranges = rangesAt('units', cuts);
    expect(ranges[0].from).toBe(0);
    ranges.slice(1).forEach((r, i) => expect(r.from).toBe(ranges[i].to));
    expect(ranges.every((r) => r.to > r.from)).toBe(true);
    expect(ranges[ranges.length - 1].to).toBe(n);
    return ranges;
  };

  it('when 1,000 small tables are planned, they share ranges of RANGE_UNITS units', () => {
    const ranges = covering(rangeCuts(units(1_000, 120_000), 2), 1_000);
    expect(ranges).toHaveLength(1_000 / RANGE_UNITS);
  });

  it('when units are RANGE_BYTES or more, each one is a range of its own', () => {
    expect(covering(rangeCuts(units(12, RANGE_BYTES), 2), 12)).toHaveLength(12);
  });

  it('when small units add up to RANGE_BYTES, the range closes there', () => {
    expect(covering(rangeCuts(units(40, RANGE_BYTES / 4), 1), 40)).toHaveLength(10);
  });

  it('when there are few units, every lane still gets about four ranges', () => {
    expect(covering(rangeCuts(units(40, 1_000), 2), 40)).toHaveLength(8);
    expect(covering(rangeCuts(units(3, 1_000), 4), 3)).toHaveLength(3);
  });

  it('when 100,000 tiny units are planned, there are still at most MAX_COPY_ACTIVITIES ranges', () => {
    expect(covering(rangeCuts(units(100_000, 10), 2), 100_000).length).toBeLessThanOrEqual(MAX_COPY_ACTIVITIES);
  });

  it('when one large unit sits among small ones, it closes its range, and nothing is planned for no units', () => {
    const planned = units(40, 10);
    planned[2] = { bytes: RANGE_BYTES };
    // One lane: ranges of at most 40 / 4 units.
    expect(rangeCuts(planned, 1)).toEqual([3, 13, 23, 33, 40]);
    expect(rangeCuts([], 2)).toEqual([]);
  });
});

describe('bounded lists', () => {
  it('when a list is longer than its limit, the rest is counted in one last line', () => {
    expect(firstLines(['a', 'b', 'c'], 2)).toEqual(['a', 'b', '… and 1 more']);
    expect(firstLines(['a'], 2)).toEqual(['a']);
  });

  it('when some entries are selected, they come first, and the list is cut to its limit', () => {
    expect(firstOfSelectedFirst([1, 2, 3, 4], (n) => n % 2 === 0, 3)).toEqual([2, 4, 1]);
  });
});

describe('the tables followed one by one', () => {
  const unit = (table: string, partitionId: string, rows: number): CopyUnit => ({ database: 'db', table, partitionId, partitioned: true, rows, bytes: rows * 8 });

  it('are the largest tables of several units, by rows, at most the limit', () => {
    const units = [unit('big', '1', 500), unit('big', '2', 500), unit('small', 'all', 900), unit('mid', '1', 100), unit('mid', '2', 50), unit('tiny', '1', 1), unit('tiny', '2', 1)];
    expect(largestTables(units, 2)).toEqual([
      { database: 'db', table: 'big', units: 2, rows: 1000, bytes: 8000 },
      { database: 'db', table: 'mid', units: 2, rows: 150, bytes: 1200 },
    ]);
  });

  it('advance by what each copy activity reports for them, and only for them', () => {
    const followed: TableProgress[] = [{ database: 'db', table: 'big', units: 2, rows: 1000, bytes: 8000, rowsCopied: 0, bytesCopied: 0 }];
    advanceTableProgress(followed, { tables: [{ database: 'db', table: 'big', rows: 500, bytes: 4000 }, { database: 'db', table: 'other', rows: 7 }] });
    advanceTableProgress(followed, { tables: [{ database: 'db', table: 'big', rows: 500 }] });
    expect(followed[0]).toMatchObject({ rowsCopied: 1000, bytesCopied: 4000 });
    expect(() => advanceTableProgress(undefined, { tables: [{ database: 'db', table: 'big', rows: 1 }] })).not.toThrow();
  });
});
