import type { ClickHouseConnection } from './connection';
import { firstLine } from './errors';
import { withScratchDatabase } from './scratch';
import { qualifiedName } from './sql';

/** DDL features that ClickHouse versions disagree on, in one direction or the other. */
export const DDL_FEATURES = {
  codec: {
    label: 'column compression codecs (CODEC)',
    uses: (ddl: string) => /\bCODEC\s*\(/i.test(ddl),
    probe: (t: string) => `CREATE TABLE ${t} (x UInt64 CODEC(ZSTD(1))) ENGINE = MergeTree ORDER BY x`,
  },
  ttl: {
    label: 'TTL expressions',
    uses: (ddl: string) => /\bTTL\b/i.test(ddl),
    probe: (t: string) => `CREATE TABLE ${t} (d Date, x UInt64) ENGINE = MergeTree ORDER BY x TTL d + INTERVAL 1 DAY`,
  },
  skipIndex: {
    label: 'data skipping indices (INDEX … TYPE)',
    uses: (ddl: string) => /\bINDEX\s+\S+\s+[\s\S]+?\bTYPE\s+\w+/i.test(ddl),
    probe: (t: string) => `CREATE TABLE ${t} (x UInt64, INDEX i x TYPE minmax GRANULARITY 1) ENGINE = MergeTree ORDER BY x`,
  },
  legacyMergeTree: {
    label: 'the old MergeTree(date, key, granularity) syntax',
    uses: (ddl: string) => /ENGINE\s*=\s*(?!Replicated)\w*MergeTree\s*\(\s*[^)\s]/i.test(ddl) && !/\bORDER\s+BY\b/i.test(ddl),
    probe: (t: string) => `CREATE TABLE ${t} (d Date, x UInt64) ENGINE = MergeTree(d, x, 8192)`,
  },
} as const;

export type DdlFeature = keyof typeof DDL_FEATURES;

/** The features a CREATE statement uses. */
export function ddlFeaturesOf(ddl: string): DdlFeature[] {
  return (Object.keys(DDL_FEATURES) as DdlFeature[]).filter((f) => DDL_FEATURES[f].uses(ddl));
}

/**
 * Asks the server which of `features` it accepts, by creating a tiny table for each in a
 * scratch database that is dropped afterwards. The server's own answer, not a version table.
 */
export async function probeDdlFeatures(
  conn: ClickHouseConnection,
  scratchDatabase: string,
  features: readonly DdlFeature[],
): Promise<Map<DdlFeature, { supported: boolean; detail?: string }>> {
  const results = new Map<DdlFeature, { supported: boolean; detail?: string }>();
  if (features.length === 0) return results;
  await withScratchDatabase(conn, scratchDatabase, async () => {
    for (const feature of features) {
      try {
        await conn.exec(DDL_FEATURES[feature].probe(qualifiedName(scratchDatabase, `probe_${feature}`)));
        results.set(feature, { supported: true });
      } catch (err) {
        results.set(feature, { supported: false, detail: firstLine(err) });
      }
    }
  });
  return results;
}
