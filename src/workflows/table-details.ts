import type { RangeCopyResult, TableDetail, TablesPage, TablesPageRequest, TableVerification } from './types';

/** Tables a page of the `tables` query holds at most, and by default. */
export const TABLES_PAGE_MAX = 1_000;
export const TABLES_PAGE_DEFAULT = 100;

/**
 * Per-table detail of a run (rows copied, the last verdict), kept by the workflow outside the
 * state document, in plan order, and served by page. It is rebuilt on replay from the activity
 * results, so it costs no history of its own.
 */
export class TableDetails {
  private readonly byKey = new Map<string, TableDetail>();

  private entry(database: string, table: string): TableDetail {
    const key = `${database}\u0000${table}`;
    let found = this.byKey.get(key);
    if (!found) {
      found = { database, table, rowsCopied: 0, sourceRows: null, targetRows: null, match: null };
      this.byKey.set(key, found);
    }
    return found;
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
    const all = [...this.byKey.values()];
    const end = offset + limit;
    return { tables: all.slice(offset, end), nextCursor: end < all.length ? String(end) : null, total: all.length };
  }
}
