/**
 * Patch ids of changes to the workflow's commands (`patched()`): runs recorded before a change
 * replay without it. A patch is deprecated (`deprecatePatch`) once no open run predates it, and
 * removed a release later.
 */
export const PATCHES = {
  /** Runs take a lock per target database before the backup step. */
  targetLocks: 'target-locks',
  /**
   * The backup step rehearses the restore point and drops it; the restore point a rollback uses is
   * taken at the start of the migration step, after the last approval.
   */
  freshRestorePoint: 'fresh-restore-point',
} as const;
