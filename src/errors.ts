import type { Role } from './config';
import type { MigrationStatus, StepName } from './workflows/types';

/** Thrown when a request does not match its schema; `issues` name each field and the reason. */
export class InvalidRequestError extends Error {
  constructor(readonly issues: { path: string; message: string }[]) {
    super(`invalid request: ${issues.map((i) => `${i.path || '(body)'}: ${i.message}`).join('; ')}`);
    this.name = 'InvalidRequestError';
  }
}

/** Thrown when no migration has the requested id. */
export class MigrationNotFoundError extends Error {
  constructor(readonly id: string) {
    super(`no migration with id "${id}"`);
    this.name = 'MigrationNotFoundError';
  }
}

/** What a 409 says besides its message: the kind of conflict, and what the client needs to know about it. */
export type StateConflict =
  | { error: 'conflict' }
  | { error: 'not_running' }
  | { error: 'not_awaiting_approval'; awaitingApproval: { step: StepName } | null; status: MigrationStatus }
  | { error: 'target_locked'; run: string | null; lock: string };

/** Thrown when a request does not fit the state the run is in (such as approving a step it is not waiting for). */
export class MigrationStateConflictError extends Error {
  constructor(
    readonly conflict: StateConflict,
    message: string,
  ) {
    super(message);
    this.name = 'MigrationStateConflictError';
  }
}

/** Thrown when a request carries no bearer token, or one the API does not know. */
export class UnauthorizedError extends Error {
  constructor(readonly reason: 'missing' | 'unknown') {
    super(reason === 'missing' ? 'send a bearer token: "authorization: Bearer <token>"' : 'the bearer token is not known');
    this.name = 'UnauthorizedError';
  }
}

/** Thrown when the authenticated subject lacks the role a request needs. */
export class ForbiddenError extends Error {
  constructor(
    readonly subject: string,
    readonly requiredRole: Role,
    what: string,
  ) {
    super(`${what} needs the role ${requiredRole}; "${subject}" does not have it`);
    this.name = 'ForbiddenError';
  }
}

/** Thrown when the subject who started a run tries to approve or reject one of its steps. */
export class FourEyesError extends Error {
  constructor(
    readonly id: string,
    readonly subject: string,
  ) {
    super(`"${subject}" started migration "${id}" and cannot also decide on its steps: another approver must`);
    this.name = 'FourEyesError';
  }
}
