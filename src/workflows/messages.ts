import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { ApprovePayload, MigrationState, RejectPayload, TablesPage, TablesPageRequest } from './types';

/** Approves the next step; `step` must name the step the run is waiting for. A signal cannot be refused: one that does not fit is recorded and ignored. */
export const approveSignal = defineSignal<[ApprovePayload]>('approve');
/** Rejects the step the run is waiting for, which ends the run as `rejected`. */
export const rejectSignal = defineSignal<[RejectPayload]>('reject');
/**
 * Approves the next step, as an Update: the run refuses, with the reason, a step that is not
 * awaited, one already approved, or a decider barred by four eyes. Returns the state.
 */
export const approveUpdate = defineUpdate<MigrationState, [ApprovePayload]>('approve');
/** Rejects the step the run is waiting for, as an Update, under the same rules as {@link approveUpdate}. */
export const rejectUpdate = defineUpdate<MigrationState, [RejectPayload]>('reject');
/** The run's state document. */
export const stateQuery = defineQuery<MigrationState>('state');
/** Per-table detail of the run (rows copied, verification verdict), a page at a time, by database and table name. */
export const tablesQuery = defineQuery<TablesPage, [TablesPageRequest]>('tables');
