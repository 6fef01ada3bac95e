/**
 * The transfer modes as the workflow sees them (see docs/modes.md). Runs started before modes
 * have no `mode`: they send no `mode` to activities and run the steps they always ran, so a
 * change here that applies only when `input.mode` is set needs no `patched()`.
 */
import type { MigrationInput, TransferMode } from './types';

/** `{ mode }` for the arguments of an activity, or nothing for a run that names no mode. */
export function modeOf(input: Pick<MigrationInput, 'mode'>): { mode?: TransferMode } {
  return input.mode ? { mode: input.mode } : {};
}

/** Whether the run copies rows (a `schema` run creates the objects only). */
export function copiesRows(input: Pick<MigrationInput, 'mode'>): boolean {
  return input.mode !== 'schema';
}
