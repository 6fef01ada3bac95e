import type { MigrationStatus } from '../workflows/types';
import { ApiError, ApiUnreachableError } from './api-client';

/** The CLI's exit codes: scripts can tell a refused request from an unreachable API or a failed run. */
export const EXIT = {
  ok: 0,
  /** `watch`: the run ended, but not as `completed`. */
  runNotCompleted: 1,
  /** Bad arguments, or a start file that cannot be read. */
  usage: 2,
  /** The API answered with an error (4xx or 5xx). */
  apiError: 3,
  /** The API could not be reached. */
  unreachable: 4,
  /** Interrupted (Ctrl-C). */
  interrupted: 130,
  /** Anything else: a fault of the CLI itself. */
  internal: 70,
} as const;

/** Statuses after which a run changes no more. */
export const FINAL_STATUSES: readonly MigrationStatus[] = ['completed', 'failed', 'rejected', 'rolled_back', 'cancelled', 'rollback_incomplete'];

export function isFinal(status: MigrationStatus): boolean {
  return FINAL_STATUSES.includes(status);
}

/** The exit code of `watch` for a run that has ended: only a completed run is a success. */
export function exitCodeForRun(status: MigrationStatus): number {
  return status === 'completed' ? EXIT.ok : EXIT.runNotCompleted;
}

/** Thrown when the command line or a start file does not make sense; the message says how to fix it. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** The exit code of a command that failed with `err`. */
export function exitCodeForError(err: unknown): number {
  if (err instanceof UsageError) return EXIT.usage;
  if (err instanceof ApiError) return EXIT.apiError;
  if (err instanceof ApiUnreachableError) return EXIT.unreachable;
  return EXIT.internal;
}
