/**
 * Random histories for the merge engines (see merge-engines.test.ts): for each engine, tables and
 * the inserts that fill them, drawn so that what the engine keeps depends on the order of the
 * inserts, and not on how merges group the parts.
 *
 * The second condition matters because the target merges its copies in its own time, while the
 * source, its merges stopped, reads every insert as a part of its own. Each history therefore
 * keeps to data on which ClickHouse's merge is associative: Collapsing rows alternate in sign per
 * key, VersionedCollapsing rows of one key and version come as one run of a sign then one of the
 * other, Summing sums stay above zero and add exactly, Graphite minutes shared by inserts hold
 * whole-minute rows only. On such data a merge of any run of adjacent parts, then of the rest,
 * keeps what one merge of all of them keeps; rows out of their insertion order change it.
 */
import { quoteString } from '../../src/clickhouse/sql';
import { GRAPHITE_ROLLUP } from '../../src/dev/clickhouse-server';

/** A table of the source: its definition (after `CREATE TABLE <name>`) and its inserts (after `INSERT INTO <name>`), run in order. */
export interface SourceTable {
  name: string;
  definition: string;
  inserts: string[];
}

/** Random draws from one seeded stream of numbers in [0, 1) (see `seeded` in harness.ts). */
export class Draw {
  constructor(private readonly next: () => number) {}

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(0, items.length - 1)];
  }

  chance(probability: number): boolean {
    return this.next() < probability;
  }

  /** A short payload, quoted for SQL: rows of one key tell apart by it. */
  word(): string {
    return quoteString(`w${this.int(0, 99_999)}`);
  }
}

/** The tables one engine is tested with, drawn from `draw`. */
export type Generator = (draw: Draw) => SourceTable[];

const PARTITIONS = [1, 2];
/** Keys per partition: few, so that a key gets rows in many inserts and often several in one. */
const KEYS = 24;
/** Partition and sorting key of the tables keyed by `(p, k)`: the partition is part of the key, so FINAL never meets one key in two partitions. */
const KEYED = 'PARTITION BY p ORDER BY (p, k)';

type Row = (string | number)[];

function times<T>(count: number, make: (i: number) => T): T[] {
  return Array.from({ length: count }, (_, i) => make(i));
}

/** 5 to 15 inserts, each of 10 to 60 rows in every partition (so that every insert is a part in each), on keys drawn from {@link KEYS}. */
function drawRows(draw: Draw, row: (p: number, k: number) => Row): Row[][] {
  return times(draw.int(5, 15), () => PARTITIONS.flatMap((p) => times(draw.int(10, 60), () => row(p, draw.int(0, KEYS - 1)))));
}

function values(rows: Row[]): string {
  return `VALUES ${rows.map((r) => `(${r.join(', ')})`).join(', ')}`;
}

function plain(draw: Draw): SourceTable[] {
  return [{ name: 'plain', definition: `(p UInt8, k UInt16, v String) ENGINE = MergeTree ${KEYED}`, inserts: drawRows(draw, (p, k) => [p, k, draw.word()]).map(values) }];
}

/** Without a version the last row of a key stays; with one, the last of its highest version (1 to 3, so versions tie often). */
function replacing(draw: Draw): SourceTable[] {
  return [
    {
      name: 'replacing',
      definition: `(p UInt8, k UInt16, v String, n UInt32) ENGINE = ReplacingMergeTree ${KEYED}`,
      inserts: drawRows(draw, (p, k) => [p, k, draw.word(), draw.int(0, 1_000_000)]).map(values),
    },
    {
      name: 'replacing_ver',
      definition: `(p UInt8, k UInt16, ver UInt8, v String) ENGINE = ReplacingMergeTree(ver) ${KEYED}`,
      inserts: drawRows(draw, (p, k) => [p, k, draw.int(1, 3), draw.word()]).map(values),
    },
  ];
}

/**
 * `x` and `label` are not summed: the first row of a key gives them. The sums stay above zero (a
 * row whose sums are zero is dropped, and the row that gives `x` would then depend on how parts
 * were grouped), and `z` holds quarters, which add exactly in any grouping.
 */
function summing(draw: Draw): SourceTable[] {
  return [
    {
      name: 'summing',
      definition: `(p UInt8, k UInt16, x UInt32, label String, y Int64, z Float64) ENGINE = SummingMergeTree((y, z)) ${KEYED}`,
      inserts: drawRows(draw, (p, k) => [p, k, draw.int(1, 1000), draw.word(), draw.int(1, 100), draw.int(1, 400) / 4]).map(values),
    },
  ];
}

/**
 * States whose merge depends on order: anyLast, any, argMin over prices 0 to 2 (ties keep the
 * first), groupArray (concatenated in order); `note`, a plain column, keeps the first row's value.
 * Each row is one state, built from the drawn tuple by `arrayReduce`.
 */
function aggregating(draw: Draw): SourceTable[] {
  const rows = drawRows(draw, (p, k) => [p, k, draw.word(), draw.word(), draw.int(0, 2), draw.int(0, 999), draw.int(1, 100)]);
  const insert = (batch: Row[]) =>
    `SELECT toUInt8(tupleElement(r, 1)), toUInt16(tupleElement(r, 2)), tupleElement(r, 3), arrayReduce('anyLastState', [s]), arrayReduce('anyState', [s]),
       arrayReduce('argMinState', [s], [toUInt8(tupleElement(r, 5))]), arrayReduce('groupArrayState', [toUInt16(tupleElement(r, 6))]),
       arrayReduce('sumState', [toUInt64(tupleElement(r, 7))])
     FROM (SELECT arrayJoin([${batch.map((r) => `(${r.join(', ')})`).join(', ')}]) AS r, tupleElement(r, 4) AS s)`;
  return [
    {
      name: 'aggregating',
      definition: `(p UInt8, k UInt16, note String, last AggregateFunction(anyLast, String), first AggregateFunction(any, String),
        cheapest AggregateFunction(argMin, String, UInt8), seen AggregateFunction(groupArray, UInt16), total AggregateFunction(sum, UInt64))
        ENGINE = AggregatingMergeTree ${KEYED}`,
      inserts: rows.map(insert),
    },
  ];
}

/**
 * Each key's rows alternate in sign in insertion order, starting with either sign: a cancel may
 * come before the state it cancels. Which rows stay (the last state, a leading cancel) depends on
 * that order.
 */
function collapsing(draw: Draw): SourceTable[] {
  const next = new Map<string, number>();
  const rows = drawRows(draw, (p, k) => {
    const sign = next.get(`${p}/${k}`) ?? draw.pick([1, -1]);
    next.set(`${p}/${k}`, -sign);
    return [p, k, sign, draw.word()];
  });
  // A key per partition with one state that nothing cancels: a merge in which every row cancels
  // keeps its last pair instead, and which pair that is depends on how the parts were grouped.
  rows[0].push(...PARTITIONS.map((p) => [p, KEYS, 1, quoteString('kept')]));
  return [{ name: 'collapsing', definition: `(p UInt8, k UInt16, sign Int8, v String) ENGINE = CollapsingMergeTree(sign) ${KEYED}`, inserts: rows.map(values) }];
}

/**
 * Versions 1 and 2, so that one key and version gets rows in many inserts. Its rows are a run of
 * one sign, then a run of the other (either first); each row of the second run cancels the latest
 * one left of the first, so which payloads stay depends on the order.
 */
function versionedCollapsing(draw: Draw): SourceTable[] {
  const groups = new Map<string, { sign: number; switched: boolean }>();
  const rows = drawRows(draw, (p, k) => {
    const ver = draw.int(1, 2);
    let group = groups.get(`${p}/${k}/${ver}`);
    if (!group) {
      group = { sign: draw.pick([1, -1]), switched: false };
      groups.set(`${p}/${k}/${ver}`, group);
    } else if (!group.switched && draw.chance(0.4)) {
      group.sign = -group.sign;
      group.switched = true;
    }
    return [p, k, ver, group.sign, draw.word()];
  });
  return [
    {
      name: 'versioned_collapsing',
      definition: `(p UInt8, k UInt16, ver UInt8, sign Int8, v String) ENGINE = VersionedCollapsingMergeTree(sign, ver) ${KEYED}`,
      inserts: rows.map(values),
    },
  ];
}

/**
 * The test servers' rollup averages each minute. Minutes 0 to 4 of each day take rows from every
 * insert, on whole minutes only: the rollup keeps the row with the highest Timestamp (1 or 2, so
 * they tie often), the last of equal ones. Minute 100 + i belongs to insert i alone, with rows at
 * any second, which the rollup averages. Two days: two partitions.
 */
function graphite(draw: Draw): SourceTable[] {
  const paths = ['cpu.load', 'disk.io', 'net.rx'];
  const days = ['2025-01-01', '2025-01-02'];
  const two = (n: number) => String(n).padStart(2, '0');
  const at = (day: string, minute: number, second: number) => quoteString(`${day} ${two(Math.floor(minute / 60))}:${two(minute % 60)}:${two(second)}`);
  const point = (path: string, day: string, minute: number, second: number): Row => [quoteString(path), at(day, minute, second), draw.int(0, 99_999) / 1000, draw.int(1, 2)];
  const inserts = times(draw.int(5, 15), (i) => [
    ...times(draw.int(10, 40), () => point(draw.pick(paths), draw.pick(days), draw.int(0, 4), 0)),
    ...days.flatMap((day) => paths.flatMap((path) => times(draw.int(1, 3), () => point(path, day, 100 + i, draw.int(0, 59))))),
  ]);
  return [
    {
      name: 'graphite',
      definition: `(Path String, Time DateTime, Value Float64, Timestamp UInt32) ENGINE = GraphiteMergeTree(${quoteString(GRAPHITE_ROLLUP)})
        PARTITION BY toYYYYMMDD(Time) ORDER BY (Path, Time)`,
      inserts: inserts.map(values),
    },
  ];
}

/** A generator for each MergeTree engine that ClickHouse lists, by the engine's name in `system.table_engines`. */
export const GENERATORS: Readonly<Record<string, Generator>> = {
  MergeTree: plain,
  ReplacingMergeTree: replacing,
  SummingMergeTree: summing,
  AggregatingMergeTree: aggregating,
  CollapsingMergeTree: collapsing,
  VersionedCollapsingMergeTree: versionedCollapsing,
  GraphiteMergeTree: graphite,
};
