import { Router, type Request } from 'express';
import type { WorkflowExecutionInfo } from '@temporalio/client';
import type { z } from 'zod';
import { InvalidRequestError, MigrationStateConflictError } from '../errors';
import { seal } from '../secrets';
import { statusKey, stepKey } from '../workflows/search-attributes';
import { approveSignal, rejectSignal, stateQuery } from '../workflows/messages';
import { TASK_QUEUE, WORKFLOW_TYPE, type MigrationInput, type MigrationState, type MigrationStatus } from '../workflows/types';
import type { AppDeps } from './app';
import { approveSchema, cancelSchema, listQuerySchema, migrationIdSchema, rejectSchema, startMigrationSchema, type StartMigrationRequest } from './schemas';

/** Parses `value` with `schema`, or throws an InvalidRequestError naming each field. */
function parse<S extends z.ZodType>(schema: S, value: unknown, prefix: string[] = []): z.infer<S> {
  if (value === undefined) {
    throw new InvalidRequestError([{ path: prefix.join('.'), message: 'the body must be a JSON object sent with content-type application/json' }]);
  }
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw new InvalidRequestError(result.error.issues.map((i) => ({ path: [...prefix, ...i.path.map(String)].join('.'), message: i.message })));
}

function idParam(req: Request): string {
  return parse(migrationIdSchema, req.params.id, ['id']);
}

/** `mig-<time>-<random>` for requests without an id. */
function newId(): string {
  return `mig-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

function workflowInput(id: string, body: StartMigrationRequest, key: Buffer): MigrationInput {
  const endpoint = (e: StartMigrationRequest['source']) => ({
    url: e.url.replace(/\/+$/, ''),
    username: e.username,
    password: e.password ? seal(e.password, key) : null,
    ...(e.nativePort ? { nativePort: e.nativePort } : {}),
  });
  return { id, source: endpoint(body.source), target: endpoint(body.target), databases: body.databases, approvals: body.approvals, options: body.options };
}

/** The status a list shows: the workflow's own attribute, reconciled with how the execution closed. */
export function listedStatus(info: Pick<WorkflowExecutionInfo, 'status' | 'typedSearchAttributes'>): MigrationStatus {
  const recorded = info.typedSearchAttributes.get(statusKey) as MigrationStatus | undefined;
  switch (info.status.name) {
    case 'RUNNING':
      return recorded ?? 'running';
    case 'COMPLETED':
      return recorded ?? 'completed';
    case 'CANCELLED':
      return recorded && recorded !== 'running' ? recorded : 'cancelled';
    // Terminated or timed-out runs had no chance to clean up: they count as failed.
    case 'TERMINATED':
    case 'TIMED_OUT':
      return 'failed';
    default:
      return recorded && !['running', 'awaiting_approval'].includes(recorded) ? recorded : 'failed';
  }
}

const SIGNAL_SETTLE_MS = 5_000;

export function migrationRoutes(deps: AppDeps): Router {
  const { client } = deps;
  const router = Router();
  const state = (id: string) => client.workflow.getHandle(id).query(stateQuery);

  router.post('/', async (req, res) => {
    const body = parse(startMigrationSchema, req.body);
    const id = body.id ?? newId();
    const handle = await client.workflow.start(WORKFLOW_TYPE, {
      taskQueue: TASK_QUEUE,
      workflowId: id,
      args: [workflowInput(id, body, deps.secretKey)],
      workflowIdConflictPolicy: 'FAIL',
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
      typedSearchAttributes: [
        { key: statusKey, value: 'running' },
        { key: stepKey, value: 'backup' },
      ],
    });
    const runId = handle.firstExecutionRunId;
    res.status(201).json({
      id,
      runId,
      status: 'running',
      links: {
        self: `/migrations/${encodeURIComponent(id)}`,
        temporalUi: `${deps.temporalUiUrl.replace(/\/+$/, '')}/namespaces/${encodeURIComponent(deps.namespace)}/workflows/${encodeURIComponent(id)}/${runId}/history`,
      },
    });
  });

  router.get('/', async (req, res) => {
    const { status } = parse(listQuerySchema, req.query, ['query']);
    const filter = status ? ` AND ${statusKey.name} = '${status}'` : '';
    const migrations = [];
    for await (const info of client.workflow.list({ query: `WorkflowType = '${WORKFLOW_TYPE}'${filter}`, pageSize: 100 })) {
      const step = info.typedSearchAttributes.get(stepKey);
      migrations.push({
        id: info.workflowId,
        runId: info.runId,
        status: listedStatus(info),
        currentStep: step && step !== 'none' ? step : null,
        startedAt: info.startTime.toISOString(),
        closedAt: info.closeTime?.toISOString() ?? null,
      });
      if (migrations.length >= 100) break;
    }
    res.json({ migrations });
  });

  router.get('/:id', async (req, res) => {
    res.json(await state(idParam(req)));
  });

  /** Sends `signal` if the run waits for `step`, then answers once the run has taken it in. */
  async function decide(id: string, step: string, send: () => Promise<void>): Promise<MigrationState> {
    const before = await state(id);
    if (before.awaitingApproval?.step !== step) {
      throw new MigrationStateConflictError(
        'not_awaiting_approval',
        before.awaitingApproval ? `the run is waiting for approval of "${before.awaitingApproval.step}", not "${step}"` : `the run is not waiting for an approval (status ${before.status})`,
        { awaitingApproval: before.awaitingApproval, status: before.status },
      );
    }
    await send();
    const deadline = Date.now() + SIGNAL_SETTLE_MS;
    let after = before;
    while (Date.now() < deadline) {
      after = await state(id);
      if (after.awaitingApproval?.step !== step || after.approvals.length > before.approvals.length) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return after;
  }

  router.post('/:id/approve', async (req, res) => {
    const id = idParam(req);
    const body = parse(approveSchema, req.body);
    res.status(202).json(await decide(id, body.step, () => client.workflow.getHandle(id).signal(approveSignal, body)));
  });

  router.post('/:id/reject', async (req, res) => {
    const id = idParam(req);
    const body = parse(rejectSchema, req.body);
    res.status(202).json(await decide(id, body.step, () => client.workflow.getHandle(id).signal(rejectSignal, body)));
  });

  router.post('/:id/cancel', async (req, res) => {
    const id = idParam(req);
    parse(cancelSchema, req.body ?? {});
    const handle = client.workflow.getHandle(id);
    const { status } = await handle.describe();
    if (status.name !== 'RUNNING') throw new MigrationStateConflictError('not_running', `the run has already ended (${status.name.toLowerCase()})`);
    await handle.cancel();
    res.status(202).json({ id, status: 'cancelling' });
  });

  return router;
}
