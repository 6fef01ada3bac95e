/**
 * Recipes for concrete column types, one per type family of `system.data_type_families`, with
 * edge-case values and a server-side pseudo-random generator for the other rows.
 */
import { quoteString } from '../../../src/clickhouse/sql';

/** SQL that computes a value of a column: `id` is the row's UInt32 id, `h` a UInt64 hash of it. */
export type Fill = (id: string, h: string) => string;

/** One concrete type: the values it holds are edges for the first rows, then `random(h)`. */
export interface TypeInstance {
  /** The type as declared in CREATE TABLE. */
  type: string;
  /** The type the values are written in; differs from `type` for aliases and LowCardinality. */
  valueType: string;
  /** Edge values as SQL expressions, at least two that differ. */
  edges: string[];
  /** A pseudo-random value computed by the server from `h`. */
  random: (h: string) => string;
  /** Needs allow_experimental_low_cardinality_type on old servers. */
  lowCardinality?: boolean;
  /** Builds the column's value itself (AggregateFunction states); otherwise edges, then random. */
  fill?: Fill;
}

const lit = (value: string, type: string) => `CAST(${quoteString(value)} AS ${type})`;

function instance(type: string, values: string[], random: (h: string) => string, valueType = type): TypeInstance {
  return { type, valueType, edges: values.map((v) => lit(v, valueType)), random };
}

/** The expression that fills a column: edge `i` for row `i`, a random value after the edges. */
export function fillOf(t: TypeInstance): Fill {
  if (t.fill) return t.fill;
  return (id, h) => {
    const cast = (e: string) => `CAST(${e} AS ${t.valueType})`;
    const branches = t.edges.map((e, i) => `${id} = ${i}, ${cast(e)}`);
    return `multiIf(${[...branches, cast(t.random(h))].join(', ')})`;
  };
}

const bytesOf = (h: string) => `reinterpretAsString(${h})`;

function integers(): TypeInstance[] {
  const out: TypeInstance[] = [];
  for (const bits of [8, 16, 32, 64]) {
    const max = 2n ** BigInt(bits - 1);
    out.push(instance(`Int${bits}`, [`${-max}`, `${max - 1n}`, '0', '-1', '1'], (h) => `reinterpretAsInt${bits}(${bytesOf(h)})`));
    out.push(instance(`UInt${bits}`, ['0', `${2n ** BigInt(bits) - 1n}`, '1'], (h) => `reinterpretAsUInt${bits}(${bytesOf(h)})`));
  }
  return out;
}

function floats(): TypeInstance[] {
  const edges = ['0', '-0', 'nan', 'inf', '-inf', '1e-45', '3.4028235e38', '-1.5', '1e308', '5e-324'];
  return [32, 64].map((bits) => instance(`Float${bits}`, edges, (h) => `reinterpretAsFloat${bits}(${bytesOf(h)})`));
}

function decimalInstance(type: string, precision: number, scale: number): TypeInstance {
  const whole = precision - scale;
  const max = `${'9'.repeat(whole) || '0'}${scale > 0 ? `.${'9'.repeat(scale)}` : ''}`;
  const tiny = scale > 0 ? `0.${'0'.repeat(scale - 1)}1` : '1';
  const wholeMod = 10n ** BigInt(Math.min(whole, 18));
  const fracMod = 10n ** BigInt(Math.min(scale, 18));
  const random = (h: string) =>
    `concat(if(${h} % 2 = 0, '-', ''), toString(intDiv(${h}, 3) % ${wholeMod}), ${scale > 0 ? `'.', toString(${h} % ${fracMod})` : "''"})`;
  return instance(type, ['0', max, `-${max}`, tiny, `-${tiny}`], random, `Decimal(${precision}, ${scale})`);
}

function decimals(): TypeInstance[] {
  return [
    decimalInstance('Decimal(1, 0)', 1, 0),
    decimalInstance('Decimal(18, 4)', 18, 4),
    decimalInstance('Decimal(38, 10)', 38, 10),
    decimalInstance('Decimal(38, 38)', 38, 38),
  ];
}

const decimalWidths: Record<string, { precision: number; scales: number[] }> = {
  Decimal32: { precision: 9, scales: [0, 2, 9] },
  Decimal64: { precision: 18, scales: [4, 18] },
  Decimal128: { precision: 38, scales: [10, 38] },
};

function decimalN(family: string): TypeInstance[] {
  const { precision, scales } = decimalWidths[family];
  return scales.map((s) => ({ ...decimalInstance(`${family}(${s})`, precision, s), type: `${family}(${s})` }));
}

/** Strings that break naive text formats and naive quoting. */
export const EDGE_STRINGS = ['', '\\N', 'NULL', 'Grüße, 東京 🚀', 'tab\there', 'line\nbreak', 'quote \' " `', 'back\\slash', 'nul\0byte', '\r\n'];

function strings(): TypeInstance[] {
  return [instance('String', EDGE_STRINGS, (h) => `if(${h} % 3 = 0, ${bytesOf(h)}, hex(${h}))`)];
}

function fixedStrings(): TypeInstance[] {
  return [1, 16].map((n) =>
    instance(`FixedString(${n})`, ['', 'x'.repeat(n), '\\', ...(n >= 2 ? ['é'] : [])], (h) => `toFixedString(substring(${bytesOf(h)}, 1, ${n}), ${n})`),
  );
}

function dates(): TypeInstance[] {
  return [instance('Date', ['0000-00-00', '1970-01-02', '2024-02-29', '2105-12-31'], (h) => `addDays(toDate('1970-01-01'), toUInt16(${h} % 49000))`)];
}

function dateTimes(): TypeInstance[] {
  const epoch = (h: string, tz?: string) => `toDateTime(toUInt32(${h} % 4294967295)${tz ? `, ${quoteString(tz)}` : ''})`;
  return [
    instance('DateTime', ['0000-00-00 00:00:00', '1970-01-01 00:00:01', '2106-02-07 06:28:15', '2024-03-31 02:30:00'], (h) => epoch(h)),
    ...['Europe/Moscow', 'Asia/Kolkata'].map((tz) => {
      const type = `DateTime(${quoteString(tz)})`;
      return instance(type, ['1970-01-01 05:30:00', '2038-01-19 03:14:08', '2011-03-27 02:30:00'], (h) => epoch(h, tz));
    }),
  ];
}

function enumInstance(family: 'Enum8' | 'Enum16', labels: [string, number][]): TypeInstance {
  const type = `${family}(${labels.map(([label, n]) => `${quoteString(label)} = ${n}`).join(', ')})`;
  const all = `[${labels.map(([label]) => quoteString(label)).join(', ')}]`;
  return instance(type, labels.map(([label]) => label), (h) => `arrayElement(${all}, ${h} % ${labels.length} + 1)`);
}

function enums(family: string): TypeInstance[] {
  if (family === 'Enum8') return [enumInstance('Enum8', [['', -128], ["it's", 0], ['back\\slash', 1], ['tab\tnew\nline', 2], ['Grüße 🚀', 127]])];
  return [enumInstance('Enum16', [['low', -32768], ["quote'", 0], ['\\N', 1], ['high', 32767]])];
}

function uuids(): TypeInstance[] {
  const hex = (h: string) => `substring(concat(hex(cityHash64(${h}, 1)), hex(cityHash64(${h}, 2)), '${'0'.repeat(32)}'), 1, 32)`;
  const dashed = (h: string) =>
    `concat(substring(${hex(h)}, 1, 8), '-', substring(${hex(h)}, 9, 4), '-', substring(${hex(h)}, 13, 4), '-', substring(${hex(h)}, 17, 4), '-', substring(${hex(h)}, 21, 12))`;
  return [instance('UUID', ['00000000-0000-0000-0000-000000000000', 'ffffffff-ffff-ffff-ffff-ffffffffffff', '01234567-89ab-cdef-0123-456789abcdef'], (h) => `toUUID(${dashed(h)})`)];
}

/** Wraps an instance: `wrapType(type)`, edges and random values mapped through `edge`/`random`. */
function wrap(inner: TypeInstance, type: string, valueType: string, edges: string[], random: (h: string) => string): TypeInstance {
  return { type, valueType, edges, random, lowCardinality: inner.lowCardinality };
}

export function nullableOf(inner: TypeInstance): TypeInstance {
  const t = `Nullable(${inner.valueType})`;
  return wrap(inner, `Nullable(${inner.type})`, t, ['NULL', ...inner.edges], (h) => `if(${h} % 4 = 0, NULL, CAST(${inner.random(h)} AS ${t}))`);
}

/** An empty array of the type of `element` (`CAST([] AS Array(T))` is refused by old servers). */
export function emptyArrayOf(element: string): string {
  return `arrayFilter(x -> 0, [${element}])`;
}

export function arrayOf(inner: TypeInstance): TypeInstance {
  const t = `Array(${inner.valueType})`;
  const cast = (e: string) => `CAST(${e} AS ${inner.valueType})`;
  const edges = [emptyArrayOf(cast(inner.edges[0])), `[${inner.edges.map(cast).join(', ')}]`, `[${cast(inner.edges[0])}]`];
  return wrap(inner, `Array(${inner.type})`, t, edges, (h) => `arrayMap(i -> ${cast(inner.random(`cityHash64(${h}, i)`))}, range(toUInt64(${h} % 4)))`);
}

export function tupleOf(items: TypeInstance[]): TypeInstance {
  const t = `Tuple(${items.map((i) => i.valueType).join(', ')})`;
  const edges = [0, 1].map((k) => `tuple(${items.map((i) => `CAST(${i.edges[k % i.edges.length]} AS ${i.valueType})`).join(', ')})`);
  const random = (h: string) => `tuple(${items.map((i, k) => `CAST(${i.random(`cityHash64(${h}, ${k})`)} AS ${i.valueType})`).join(', ')})`;
  return wrap(items[0], `Tuple(${items.map((i) => i.type).join(', ')})`, t, edges, random);
}

function lowCardinalityOf(inner: TypeInstance): TypeInstance {
  return { ...inner, type: `LowCardinality(${inner.type})`, lowCardinality: true };
}

/** An AggregateFunction column whose states are built by `arrayReduce` from argument values. */
function aggregate(fn: string, args: TypeInstance[]): TypeInstance {
  const type = `AggregateFunction(${fn}, ${args.map((a) => a.valueType).join(', ')})`;
  const name = fn.replace(/^(\w+)/, '$1State');
  const fill: Fill = (id, h) => `arrayReduce(${quoteString(name)}, ${args.map((a, k) => `[${fillOf(a)(id, `cityHash64(${h}, ${k})`)}]`).join(', ')})`;
  return { type, valueType: type, edges: ['', ''], random: () => '', fill };
}

function aggregates(): TypeInstance[] {
  const [u64] = integers().filter((t) => t.type === 'UInt64');
  const [i64] = integers().filter((t) => t.type === 'Int64');
  const [f64] = floats().filter((t) => t.type === 'Float64');
  const [str] = strings();
  const [dt] = dateTimes();
  return [
    aggregate('uniq', [u64]),
    aggregate('quantiles(0.5, 0.9)', [u64]),
    aggregate('sum', [i64]),
    aggregate('groupArray', [str]),
    aggregate('anyLast', [str]),
    aggregate('min', [f64]),
    aggregate('max', [dt]),
    aggregate('argMax', [str, u64]),
  ];
}

const scalar = (type: string) => [...integers(), ...floats(), ...strings(), ...dates(), ...dateTimes(), ...uuids()].find((t) => t.type === type)!;

/** Type instances per family name; families not listed here are probed bare (see columns.ts). */
export const TYPE_RECIPES: Record<string, () => TypeInstance[]> = {
  ...Object.fromEntries(integers().map((t) => [t.type, () => [t]])),
  ...Object.fromEntries(floats().map((t) => [t.type, () => [t]])),
  Decimal: decimals,
  Decimal32: () => decimalN('Decimal32'),
  Decimal64: () => decimalN('Decimal64'),
  Decimal128: () => decimalN('Decimal128'),
  String: strings,
  FixedString: fixedStrings,
  Date: dates,
  DateTime: dateTimes,
  Enum8: () => enums('Enum8'),
  Enum16: () => enums('Enum16'),
  UUID: uuids,
  Nullable: () => [nullableOf(scalar('String')), nullableOf(scalar('Int32')), nullableOf(decimals()[1]), nullableOf(scalar('Date')), nullableOf(scalar('Float64'))],
  Array: () => [arrayOf(scalar('UInt8')), arrayOf(scalar('String')), arrayOf(nullableOf(scalar('String'))), arrayOf(arrayOf(scalar('Int64')))],
  Tuple: () => [tupleOf([scalar('UInt32'), scalar('String')]), tupleOf([nullableOf(scalar('Float64')), arrayOf(scalar('Date'))])],
  LowCardinality: () => [lowCardinalityOf(scalar('String')), lowCardinalityOf(nullableOf(scalar('String')))],
  AggregateFunction: aggregates,
};

/** The Nested structure of the corpus: its subcolumns' arrays have equal lengths in every row. */
export const NESTED_FIELDS: { name: string; element: TypeInstance }[] = [
  { name: 'id', element: scalar('UInt32') },
  { name: 'label', element: scalar('String') },
  { name: 'price', element: decimals()[1] },
];
