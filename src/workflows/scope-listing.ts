import { isCancellation } from '@temporalio/workflow';
import { scan } from './activity-stubs';
import { describeFailure } from './failures';
import { showDetails } from './details';
import { namedList } from './markdown';
import { filtersOf } from './scope';
import { targetDatabaseOf } from './database-map';
import type { TableDetails } from './table-details';
import { FAILURE_TYPES, type MigrationInput, type MigrationState } from './types';

/**
 * Lists what a transfer takes before its first gate (patch `transfer-scope`): the objects in
 * scope, a page per activity, go to the `tables` query with their rows and bytes, and their
 * totals to `state.scope`. It reads the source only, so it runs before the run locks the target;
 * a pattern that matches nothing fails the run here (`ScopeInvalid`), which the API answers with
 * a 400 naming the field. Any other failure leaves a warning: configure reads the source again.
 */
export async function listScope(input: MigrationInput, state: MigrationState, details: TableDetails): Promise<void> {
  try {
    await listPages(input, state, details);
  } catch (err) {
    // Only a pattern that matches nothing stops the run here; a source that cannot be read (a
    // wrong password, a server down) fails configure as it always did, naming its step.
    const failure = describeFailure(err);
    if (isCancellation(err) || failure.type === FAILURE_TYPES.scopeInvalid) throw err;
    state.warnings.push(`the tables in scope could not be listed before the first gate (${failure.message}); configure lists them`);
  }
}

async function listPages(input: MigrationInput, state: MigrationState, details: TableDetails): Promise<void> {
  const request = { source: input.source, databases: input.databases, ...filtersOf(input) };
  const summary = `list the tables in scope of ${namedList(input.databases)}`;
  // The `tables` query names tables as the target has them, as the copy's results will.
  const onTarget = (tables: typeof first.tables) => tables.map((t) => ({ ...t, database: targetDatabaseOf(input, t.database) }));
  const first = await scan.listScope.executeWithOptions({ summary }, [{ ...request, page: 0 }]);
  details.listed(onTarget(first.tables));
  const totals = first.totals ?? { tables: first.tables.length, rows: 0, bytes: 0, excluded: 0, pages: 1 };
  state.scope = {
    tables: totals.tables,
    rows: totals.rows,
    bytes: totals.bytes,
    excluded: totals.excluded,
    ...(totals.leftOut ? { leftOut: totals.leftOut } : {}),
    ...(totals.problems ? { problems: totals.problems } : {}),
  };
  for (let page = 1; page < totals.pages; page++) {
    const next = await scan.listScope.executeWithOptions({ summary: `${summary}, page ${page + 1} of ${totals.pages}` }, [{ ...request, page }]);
    details.listed(onTarget(next.tables));
  }
  showDetails(state);
}
