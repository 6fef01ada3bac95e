import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { ApprovePayload, MigrationState, RejectPayload } from './types';

/** Approves the next step; `step` must name the step the run is waiting for. */
export const approveSignal = defineSignal<[ApprovePayload]>('approve');
/** Rejects the step the run is waiting for, which ends the run as `rejected`. */
export const rejectSignal = defineSignal<[RejectPayload]>('reject');
/** The run's state document. */
export const stateQuery = defineQuery<MigrationState>('state');
