import type { Change } from '../../changes/change-set';
import { refusedStatement } from '../../clickhouse/errors';
import {
  CHANGES_FAILURE_TYPES,
  type AppliedStatement,
  type ChangesPlan,
  type MutationProgress,
  type PlannedVersion,
  type StagingReport,
  type TrackingRecord,
} from '../../workflows/changes-types';
import { FAILURE_TYPES, type EndpointRef, type RestorePoint, type RollbackReport } from '../../workflows/types';
import { currentAttempt, heartbeating, heartbeatNow, permanent, previousHeartbeat, withConnections, type ActivityDeps } from '../context';
import { mutationProgress, mutationsOf, parseMutationKey, type MutationRef } from './mutations';
import { statementFailure } from './failures';
import { planChanges, plannedStatement } from './plan';
import { rollbackChanges } from './rollback';
import { stageChanges } from './staging';
import { ensureTracking, recordVersion } from './tracking';

/** What an attempt of `applyStatement` heartbeats: whether it sent its statement. */
interface ApplyBeat {
  sent: boolean;
}

/** The activities of runs of versioned schema changes. */
export function createChangesActivities(deps: ActivityDeps) {
  return {
    /**
     * The configure step: plans the change set against the target's tracking table and schema.
     * Fails without retrying, naming each problem (drift, versions out of order, writes outside
     * the database), when there is any; the plan is the failure's details.
     */
    async planChanges(req: { target: EndpointRef; database: string; changes: Change[] }): Promise<ChangesPlan> {
      return withConnections(deps, { target: req.target }, async ({ target }) => {
        const plan = await heartbeating(() => ({ step: 'plan changes' }), () => planChanges(target, req.database, req.changes));
        if (plan.problems.length === 0) return plan;
        const drift = plan.versions.some((v) => v.status === 'drift');
        throw permanent(drift ? CHANGES_FAILURE_TYPES.drift : FAILURE_TYPES.targetNotReady, `the change set cannot be applied to ${req.database}: ${plan.problems.join('; ')}`, plan);
      });
    },

    /** The validation step: every pending statement on a shadow of the database, loaded with a sample of its rows (see `stageChanges`). */
    async stageChanges(req: { runKey: string; target: EndpointRef; database: string; plan: ChangesPlan; changes: Change[] }): Promise<StagingReport> {
      return withConnections(deps, { target: req.target }, ({ target }) =>
        heartbeating(() => ({ step: 'staging' }), () => stageChanges(target, req.runKey, req.database, req.plan, req.changes)),
      );
    },

    /**
     * Runs one statement in the database and returns the mutations it started. An attempt that
     * follows one which may have sent the statement (its worker was lost) cannot know whether the
     * statement ran, so it fails without retrying rather than run it twice.
     */
    async applyStatement(req: { target: EndpointRef; database: string; change: Change; version: PlannedVersion; index: number }): Promise<AppliedStatement> {
      const where = `version ${req.version.version} (${req.version.name}), statement ${req.index}`;
      const sql = plannedStatement(req.change, req.version, req.index);
      if (currentAttempt() > 1 && previousHeartbeat<ApplyBeat>()?.sent) {
        throw permanent(CHANGES_FAILURE_TYPES.changeFailed, `${where} may have run in an earlier attempt whose worker was lost, so it is not sent again`);
      }
      return withConnections(deps, { target: req.target }, async ({ target }) => {
        const before = await mutationsOf(target, req.database);
        heartbeatNow({ sent: true } satisfies ApplyBeat);
        await heartbeating(() => ({ sent: true }) satisfies ApplyBeat, () => target.exec(sql, { database: req.database })).catch((err: unknown) => {
          if (refusedStatement(err)) {
            throw permanent(CHANGES_FAILURE_TYPES.changeFailed, statementFailure(`${where} failed on ${req.database}`, sql, err.message));
          }
          throw err;
        });
        const started = [...(await mutationsOf(target, req.database))].filter((key) => !before.has(key));
        return { mutations: started.map(parseMutationKey) };
      });
    },

    /** How far the mutations a statement started have got. */
    async mutationProgress(req: { target: EndpointRef; database: string; mutations: MutationRef[] }): Promise<MutationProgress> {
      return withConnections(deps, { target: req.target }, ({ target }) => mutationProgress(target, req.database, req.mutations));
    },

    /** Records a version's progress in the tracking table (created on first use). Records are rows: a retry adds one more of the same. */
    async recordVersion(req: { target: EndpointRef; database: string; record: TrackingRecord }): Promise<void> {
      await withConnections(deps, { target: req.target }, async ({ target }) => {
        await ensureTracking(target, req.database);
        await recordVersion(target, req.database, req.record);
      });
    },

    /** Puts what the run's statements touched back as the restore point has it, and proves it (see `rollbackChanges`). */
    async rollbackChanges(req: { runKey: string; target: EndpointRef; database: string; restorePoint: RestorePoint; touched: string[] }): Promise<RollbackReport> {
      return withConnections(deps, { target: req.target }, ({ target }) =>
        heartbeating(() => ({ step: 'rollback changes' }), () => rollbackChanges(target, req, deps.keyring)),
      );
    },
  };
}
