import { ActivityFailure, ApplicationFailure, isCancellation } from '@temporalio/workflow';
import { FAILURE_TYPES } from './types';

/** Longest error text the state keeps: a server's reply can be long, and the state is read by every query. */
export const MAX_ERROR_TEXT = 2_000;

/** The readable type and message (cut to {@link MAX_ERROR_TEXT}) of whatever ended a step. */
export function describeFailure(err: unknown): { type: string; message: string } {
  const cause = err instanceof ActivityFailure && err.cause ? err.cause : err;
  if (isCancellation(err)) return { type: FAILURE_TYPES.cancelled, message: 'the run was cancelled' };
  const [type, message] =
    cause instanceof ApplicationFailure ? [cause.type ?? 'Error', cause.message] : cause instanceof Error ? [cause.name, cause.message] : ['Error', String(cause)];
  return { type, message: message.length > MAX_ERROR_TEXT ? `${message.slice(0, MAX_ERROR_TEXT)}…` : message };
}
