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

/** Thrown when a request does not fit the state the run is in (such as approving a step it is not waiting for). */
export class MigrationStateConflictError extends Error {
  constructor(
    readonly error: 'conflict' | 'not_awaiting_approval' | 'not_running',
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'MigrationStateConflictError';
  }
}
