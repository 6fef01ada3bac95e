/**
 * The corpus's column types, driven by the server's own catalogue: every family of
 * `system.data_type_families` becomes one or more columns, or is recorded as refused by the server.
 */
import type { ClickHouseConnection } from '../../../src/clickhouse/connection';
import { qualifiedName, quoteIdentifier, quoteString } from '../../../src/clickhouse/sql';
import { ddl, refusal } from './server';
import { emptyArrayOf, fillOf, NESTED_FIELDS, TYPE_RECIPES, type Fill, type TypeInstance } from './types';

/** One column as the server stores it (a Nested structure stores one array per field). */
export interface StoredColumn {
  name: string;
  /** The type values are written in: a Nullable one means the column can hold NULL. */
  valueType: string;
  /** How the corpus fills it; absent for columns that keep their default value. */
  fill?: Fill;
}

/** One column of the types table as CREATE TABLE declares it. */
export interface CorpusColumn {
  name: string;
  declaration: string;
  family: string;
  stored: StoredColumn[];
}

export interface TypeCoverage {
  /** Every family of the catalogue. */
  families: string[];
  columns: CorpusColumn[];
  /** Families (or single instances, as `family: type`) the server would not put in a table, with its message. */
  refused: Map<string, string>;
}

interface FamilyRow {
  name: string;
  alias_to: string;
}

/** Reads the catalogue and decides a column (or a refusal) for every family; probes in `scratchDb`. */
export async function planTypeColumns(conn: ClickHouseConnection, scratchDb: string): Promise<TypeCoverage> {
  const rows = await conn.rows<FamilyRow>('SELECT name, alias_to FROM system.data_type_families ORDER BY name');
  const coverage: TypeCoverage = { families: rows.map((r) => r.name), columns: [], refused: new Map() };
  const add = (family: string, declaration: string, stored: (name: string) => StoredColumn[]) => {
    const name = `c${coverage.columns.length}_${family}`;
    coverage.columns.push({ name, declaration, family, stored: stored(name) });
  };
  for (const row of rows) {
    const instances = instancesOf(row);
    if (row.name === 'Nested') add(row.name, nestedDeclaration(), nestedColumns);
    else if (instances.length === 0) {
      const refused = await probe(conn, scratchDb, quoteIdentifier(row.name));
      if (refused) coverage.refused.set(row.name, refused);
      else add(row.name, quoteIdentifier(row.name), (name) => [{ name, valueType: row.name }]);
    }
    for (const t of instances) {
      const refused = await probe(conn, scratchDb, t.type);
      if (refused) coverage.refused.set(`${row.name}: ${t.type}`, refused);
      else add(row.name, t.type, (name) => [{ name, valueType: t.valueType, fill: fillOf(t) }]);
    }
  }
  return coverage;
}

/** Recipe instances of a family; an alias reuses the first instance of the family it names. */
function instancesOf(row: FamilyRow): TypeInstance[] {
  if (!row.alias_to) return TYPE_RECIPES[row.name]?.() ?? [];
  const target = TYPE_RECIPES[row.alias_to]?.() ?? [];
  const head = new RegExp(`^${row.alias_to}(?=\\(|$)`);
  const match = target.find((t) => head.test(t.type));
  return match ? [{ ...match, type: match.type.replace(head, row.name) }] : [];
}

async function probe(conn: ClickHouseConnection, scratchDb: string, type: string): Promise<string | null> {
  const table = qualifiedName(scratchDb, 'type_probe');
  await conn.exec(`DROP TABLE IF EXISTS ${table}`);
  const refused = await refusal(conn, `CREATE TABLE ${table} (id UInt32, x ${type}) ENGINE = Memory`);
  await conn.exec(`DROP TABLE IF EXISTS ${table}`);
  return refused;
}

function nestedDeclaration(): string {
  return `Nested(${NESTED_FIELDS.map((f) => `${quoteIdentifier(f.name)} ${f.element.type}`).join(', ')})`;
}

/** Subcolumns of the Nested structure: edge rows of two and zero elements, then 0-3 random ones. */
function nestedColumns(name: string): StoredColumn[] {
  return NESTED_FIELDS.map((field, k) => {
    const { edges, random, valueType } = field.element;
    const cast = (e: string) => `CAST(${e} AS ${valueType})`;
    const rows = [`[${cast(edges[0])}, ${cast(edges[1])}]`, `[${cast(edges[1])}, ${cast(edges[0])}]`, emptyArrayOf(cast(edges[0]))];
    const fill: Fill = (id) => {
      const length = `toUInt64(cityHash64(${id}, ${quoteString(name)}) % 4)`;
      const randomArray = `arrayMap(i -> ${cast(random(`cityHash64(${id}, i, ${k})`))}, range(${length}))`;
      return `multiIf(${rows.map((r, i) => `${id} = ${i}, ${r}`).join(', ')}, ${randomArray})`;
    };
    return { name: `${name}.${field.name}`, valueType: `Array(${valueType})`, fill };
  });
}

/** Every column the server stores for `columns`, in order. */
export function storedColumns(columns: CorpusColumn[]): StoredColumn[] {
  return columns.flatMap((c) => c.stored);
}

/**
 * Creates `db.table` with an `id` and every corpus column, partitioned in three by `id % 3`, and
 * fills `rows` rows in one INSERT (one part per partition).
 */
export async function createTypesTable(conn: ClickHouseConnection, db: string, table: string, columns: CorpusColumn[], rows: number): Promise<void> {
  const name = qualifiedName(db, table);
  const declarations = columns.map((c) => `${quoteIdentifier(c.name)} ${c.declaration}`);
  await ddl(conn, `CREATE TABLE ${name} (id UInt32, ${declarations.join(', ')}) ENGINE = MergeTree PARTITION BY id % 3 ORDER BY id`);
  const filled = storedColumns(columns).filter((c) => c.fill);
  const values = filled.map((c, k) => `${c.fill!('id', `cityHash64(id, ${k})`)} AS ${quoteIdentifier(c.name)}`);
  await conn.exec(
    `INSERT INTO ${name} (id, ${filled.map((c) => quoteIdentifier(c.name)).join(', ')})
     SELECT id, ${values.join(', ')} FROM (SELECT toUInt32(number) AS id FROM system.numbers LIMIT ${rows})`,
  );
}

/** The value an edge row holds (rows 0 and 1 hold edges, which do not depend on the hash), for any row. */
export function valueOfEdgeRow(column: StoredColumn, row: 0 | 1): string {
  return column.fill!(`toUInt32(${row})`, `cityHash64(toUInt32(${row}))`);
}
