/**
 * With BENCH_QUERY_LOG=1 the servers log every statement (`log_queries = 1`, which costs a little),
 * and each product run is followed by the statements that took the most server time during it,
 * grouped by their shape (literals, numbers and quoted names blanked out).
 */
import type { ClickHouseConnection } from '../src/clickhouse/connection';
import { quoteString } from '../src/clickhouse/sql';
import { seconds } from './report';

export const QUERY_LOG = process.env.BENCH_QUERY_LOG === '1';

/** A statement with its literals, numbers and quoted names replaced, cut to its first 140 characters. */
export function statementShape(sql: string): string {
  return sql
    .replace(/'(?:[^'\\]|\\.)*'/g, "'?'")
    .replace(/`(?:[^`\\]|\\.)*`/g, '`?`')
    .replace(/\b\d+(\.\d+)?\b/g, 'N')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 140);
}

/**
 * The shapes of statement of one run that took the most time on `conn`: the run's statements are
 * those whose query id (or, for what `remote()` runs on the source, whose initial query id) starts
 * with the workflow id, as the activities name them.
 */
export async function busiestStatements(conn: ClickHouseConnection, workflowId: string, fromMs: number, toMs: number, limit = 6): Promise<string[]> {
  await conn.exec('SYSTEM FLUSH LOGS');
  const rows = await conn.rows<{ q: string; ms: string }>(
    `SELECT substring(query, 1, 400) AS q, query_duration_ms AS ms FROM system.query_log
     WHERE toString(type) IN ('2', 'QueryFinish') -- a UInt8 on 18.16, an Enum8 later: 2 is QueryFinish in both
       AND event_time >= toDateTime(${Math.floor(fromMs / 1000)}) AND event_time <= toDateTime(${Math.ceil(toMs / 1000)})
       AND (startsWith(query_id, ${quoteString(`${workflowId}/`)}) OR startsWith(initial_query_id, ${quoteString(`${workflowId}/`)}))`,
  );
  const shapes = new Map<string, { count: number; ms: number }>();
  for (const row of rows) {
    const shape = statementShape(row.q);
    const seen = shapes.get(shape) ?? { count: 0, ms: 0 };
    seen.count += 1;
    seen.ms += Number(row.ms);
    shapes.set(shape, seen);
  }
  const total = [...shapes.values()].reduce((sum, s) => sum + s.ms, 0);
  return [
    `${rows.length} statements, ${seconds(total)} s of server time`,
    ...[...shapes]
      .sort((a, b) => b[1].ms - a[1].ms)
      .slice(0, limit)
      .map(([shape, s]) => `${seconds(s.ms)} s in ${s.count} × ${shape}`),
  ];
}
