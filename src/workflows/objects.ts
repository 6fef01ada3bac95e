import type { ObjectKind } from '../clickhouse/catalog';

/** The name prefix of a materialized view's hidden storage table on 18.16 (`.inner.<view>`). */
export const INNER_TABLE_PREFIX = '.inner.';

/** True for objects whose rows are copied. */
export function holdsData(object: { kind: ObjectKind }): boolean {
  return object.kind === 'partitioned' || object.kind === 'whole-table';
}

/** True for views and materialized views: objects whose DDL reads other tables. */
export function isView(object: { kind: ObjectKind }): boolean {
  return object.kind === 'view' || object.kind === 'materialized-view';
}
