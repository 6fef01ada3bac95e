import type { ScopedTable } from './scope';
import type { RangeCopyResult, TableDetail, TableProgress, TablesPage, TablesPageRequest, TableVerification } from './types';
import { tableKey } from './table-key';

/** Tables a page of the `tables` query holds at most, and by default. */
export const TABLES_PAGE_MAX = 1_000;
export const TABLES_PAGE_DEFAULT = 100;

/**
 * Per-table detail of a run (rows copied, the last verdict), kept by the workflow outside the
 * state document, ordered by database and table name, and served by page. It is rebuilt on
 * replay from the activity results, so it costs no history of its own.
 */
export class TableDetails {
  private readonly byKey = new Map<string, TableDetail>();
  /** The entries in page order, sorted when a page is read after a change. */
  private sorted: TableDetail[] | null = null;

  private entry(database: string, table: string): TableDetail {
    const key = tableKey(database, table);
    let found = this.byKey.get(key);
    if (!found) {
      found = { database, table, rowsCopied: 0, sourceRows: null, targetRows: null, match: null };
      this.byKey.set(key, found);
      this.sorted = null;
    }
    return found;
  }

  /** Records the tables of a page of the run's scope, with their size on the source. */
  listed(tables: readonly ScopedTable[]): void {
    for (const t of tables) Object.assign(this.entry(t.database, t.table), { rows: t.rows, bytes: t.bytes });
  }

  /** Adds the rows a copy activity copied, per table. */
  copied(result: Pick<RangeCopyResult, 'tables'>): void {
    for (const t of result.tables) this.entry(t.database, t.table).rowsCopied += t.rows;
  }

  /** Records the verdicts of a verification page. */
  verified(tables: readonly TableVerification[]): void {
    for (const t of tables) Object.assign(this.entry(t.database, t.table), { sourceRows: t.sourceRows, targetRows: t.targetRows, match: t.match });
  }

  /**
   * The page after `cursor` (an offset the previous page handed out). A cursor or limit that does
   * not fit is read as the first page and the default size: a query cannot refuse (the API checks them).
   */
  page(request: TablesPageRequest | undefined): TablesPage {
    const offset = /^\d{1,9}$/.test(request?.cursor ?? '') ? Number(request?.cursor) : 0;
    const limit = Number.isInteger(request?.limit) && (request?.limit ?? 0) >= 1 ? Math.min(request?.limit ?? 0, TABLES_PAGE_MAX) : TABLES_PAGE_DEFAULT;
    // Copies land in any order; pages keep one. While copies still land, a new table may shift
    // the pages after it; once the copy has ended, cursors neither skip nor repeat a table.
    this.sorted ??= [...this.byKey.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, detail]) => detail);
    const all = this.sorted;
    const end = offset + limit;
    return { tables: all.slice(offset, end), nextCursor: end < all.length ? String(end) : null, total: all.length };
  }
}

/** Adds what a copy activity copied to the followed tables it names (see `MigrationState.tableProgress`). */
export function advanceTableProgress(followed: TableProgress[] | undefined, result: Pick<RangeCopyResult, 'tables'>): void {
  if (!followed?.length) return;
  for (const copied of result.tables) {
    const table = followed.find((t) => t.database === copied.database && t.table === copied.table);
    if (!table) continue;
    table.rowsCopied += copied.rows;
    table.bytesCopied += copied.bytes ?? 0;
  }
}
