import type { ClickHouseConnection } from './connection';

/** What a server can do, read from its own catalogue rather than inferred from its version. */
export interface Capabilities {
  /** `system.disks` exists (19.15+): free space can be read. */
  systemDisks: boolean;
  /** `remote()` table function: the server can pull from another server. */
  remote: boolean;
  /** `remoteSecure()` table function (19.1+): pull over TLS. */
  remoteSecure: boolean;
  /** `max_insert_threads` setting (20.2+). */
  maxInsertThreads: boolean;
  /** `system.table_engines` lists these engines. */
  engines: ReadonlySet<string>;
  /** `system.data_type_families` lists these type names (lower-cased where case-insensitive). */
  typeFamilies: ReadonlySet<string>;
}

/** A server's identity and capabilities. */
export interface ServerInfo {
  version: string;
  /** Major and minor, for display and ordering only; branch on {@link Capabilities}. */
  major: number;
  minor: number;
  capabilities: Capabilities;
}

/** Reads the version and capabilities of the server behind `conn`. */
export async function detectServer(conn: ClickHouseConnection): Promise<ServerInfo> {
  const [[{ version }], systemTables, tableFunctions, settings, engines, types] = await Promise.all([
    conn.rows<{ version: string }>('SELECT version() AS version'),
    conn.rows<{ name: string }>("SELECT name FROM system.tables WHERE database = 'system'"),
    conn.rows<{ name: string }>('SELECT name FROM system.table_functions'),
    conn.rows<{ name: string }>("SELECT name FROM system.settings WHERE name IN ('max_insert_threads')"),
    conn.rows<{ name: string }>('SELECT name FROM system.table_engines'),
    conn.rows<{ name: string; case_insensitive: number | string }>('SELECT name, case_insensitive FROM system.data_type_families'),
  ]);
  const has = (list: { name: string }[], name: string) => list.some((row) => row.name === name);
  const [major, minor] = version.split('.').map(Number);
  return {
    version,
    major,
    minor,
    capabilities: {
      systemDisks: has(systemTables, 'disks'),
      remote: has(tableFunctions, 'remote'),
      remoteSecure: has(tableFunctions, 'remoteSecure'),
      maxInsertThreads: has(settings, 'max_insert_threads'),
      engines: new Set(engines.map((e) => e.name)),
      typeFamilies: new Set(types.map((t) => (Number(t.case_insensitive) ? t.name.toLowerCase() : t.name))),
    },
  };
}

/** Whether `typeName` (a family such as `LowCardinality`) is known to a server with these capabilities. */
export function hasTypeFamily(capabilities: Capabilities, typeName: string): boolean {
  return capabilities.typeFamilies.has(typeName) || capabilities.typeFamilies.has(typeName.toLowerCase());
}

/**
 * The type families a column type uses, e.g. `Array(LowCardinality(String))` gives
 * Array, LowCardinality and String. Quoted enum labels, numbers and tuple element names are skipped.
 */
export function typeFamiliesOf(type: string): string[] {
  const families = new Set<string>();
  const withoutStrings = type.replace(/'(?:[^'\\]|\\.)*'/g, "''");
  const token = /[A-Za-z_][A-Za-z0-9_]*/g;
  let match: RegExpExecArray | null;
  while ((match = token.exec(withoutStrings))) {
    const before = withoutStrings.slice(0, match.index).trimEnd();
    const after = withoutStrings.slice(match.index + match[0].length);
    const afterElementName = /[(,]\s*[A-Za-z_][A-Za-z0-9_]*$/.test(before);
    const atTypePosition = before === '' || before.endsWith('(') || before.endsWith(',') || afterElementName;
    const isElementName = /^\s+[A-Za-z_]/.test(after);
    if (atTypePosition && !isElementName) families.add(match[0]);
  }
  return [...families];
}
