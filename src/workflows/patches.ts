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
  /**
   * Lock ids are a hash of the target and database, not the names in clear (workflow ids are not
   * encrypted). While runs of both kinds are open, a run of one kind does not see the other's locks.
   */
  opaqueLockIds: 'opaque-lock-ids',
  /**
   * The run's plan (objects, units, restore point tables and digests) lives in a manifest on the
   * target; activities read and write it by page and return summaries, and per-table detail is
   * served by the `tables` query.
   */
  runManifest: 'run-manifest',
  /**
   * A rollback waits until no activity of the migration step can still write (its schema and
   * planning activities are waited for on cancellation, as copies were), undoes what the run
   * recorded that it was about to do, and is proved apart (`proveRollback`): a proof that finds a
   * leftover or a mismatch ends the run as `rollback_incomplete`.
   */
  exactRollback: 'exact-rollback',
  /**
   * Runs of schema changes plan again when their migration step starts, and refuse to apply if
   * what is pending changed since configure (a version applied or edited meanwhile).
   */
  changesReplan: 'changes-replan',
  /**
   * Once a run is rejected, an approve or reject signal of the same workflow task is ignored
   * (recorded in `ignoredSignals`) rather than counted as a decision.
   */
  decisionsAfterRejection: 'decisions-after-rejection',
  /**
   * Runs ask the target which server it is (a marker with a random id on it) before taking their
   * locks, fail when the source holds the same id, and name each lock by that id and the database,
   * not by the URL; a lock terminated while the run holds it stops the run at its next step. While
   * runs from before and after it are open, a run of one kind does not see the other's locks.
   */
  serverIdentityLocks: 'server-identity-locks',
  /** Run keys are the random end of the run id, not its time-ordered start (see `runKeyOf`). */
  distinctRunKeys: 'distinct-run-keys',
  /**
   * Before taking its locks, a transfer lists the tables its `include`/`exclude` keep in scope (a
   * page per activity) for the `tables` query and `state.scope`, and fails (`ScopeInvalid`) when a
   * pattern matches nothing; its activities get the filters.
   */
  transferScope: 'transfer-scope',
  /**
   * Runs with a `schedule` wait, once the migration step is approved and before its restore point,
   * for the schedule to open (a durable timer), and their copy pauses, carries on or fails when
   * the window closes (`onWindowEnd`).
   */
  maintenanceWindows: 'maintenance-windows',
  /**
   * Before taking its locks (after listing its scope), a transfer reads the replication of both
   * sides and fails (`ReplicaSetUnhealthy`) when a replica set of its tables is read-only, missing a
   * replica, or behind the limits of `replication`.
   */
  replicaHealth: 'replica-health',
} as const;
