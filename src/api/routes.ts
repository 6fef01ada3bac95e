import { Router, type Request, type RequestHandler, type Response } from 'express';
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { z } from 'zod';
import { FourEyesError, InvalidRequestError, MigrationNotFoundError, MigrationStateConflictError } from '../errors';
import { seal, type Keyring } from '../secrets';
import { statusKey, stepKey } from '../workflows/search-attributes';
import { approveUpdate, rejectUpdate, stateQuery, tablesQuery } from '../workflows/messages';
import { FAILURE_TYPES, STEPS, TASK_QUEUE, WORKFLOW_TYPE, type MigrationInput, type MigrationState, type StepName } from '../workflows/types';
import { refusedAddress, type EndpointAllowlist } from '../endpoint-allowlist';
import { REQUEST_LOCALS } from '../logging';
import { changesDetails, changesSummary, listedStatus, runDetails, runSummary } from '../temporal';
import { CHANGES_WORKFLOW_TYPE, type ChangesInput } from '../workflows/changes-types';
import { RUN_TYPES_CLAUSE, RUN_WORKFLOW_TYPES } from '../workflows/run-types';
import type { AppDeps } from './app';
import { databasePairs } from './transfer-schemas';
import { unmatchedFields } from '../workflows/scope';
import { assertRole, identityOf, requireRole, type Identity } from './auth';
import type { CancelAccepted, MigrationStarted, MigrationSummary } from './responses';
import {
  approveSchema,
  cancelSchema,
  listQuerySchema,
  migrationIdSchema,
  rejectSchema,
  startChangesSchema,
  startMigrationSchema,
  startRequestKind,
  tablesQuerySchema,
  TRANSFER_THEN_CHANGES_UNSUPPORTED,
  type StartChangesRequest,
  type StartMigrationRequest,
} from './schemas';

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

type Starter = { requestedBy: string; fourEyes: boolean };

/** An endpoint as a run carries it: the URL without trailing slashes, the password sealed. */
function sealedEndpoint(e: StartMigrationRequest['target'], keyring: Keyring): MigrationInput['target'] {
  return {
    url: e.url.replace(/\/+$/, ''),
    username: e.username,
    password: e.password ? seal(e.password, keyring) : null,
    ...(e.passwordRef ? { passwordRef: e.passwordRef } : {}),
    ...(e.nativePort ? { nativePort: e.nativePort } : {}),
  };
}

/** The workflow input: passwords sealed, the starter and the four-eyes switch recorded. */
function workflowInput(id: string, body: StartMigrationRequest, keyring: Keyring, starter: Starter): MigrationInput {
  return {
    id,
    source: sealedEndpoint(body.source, keyring),
    target: sealedEndpoint(body.target, keyring),
    databases: databasePairs(body.databases).map((pair) => pair.source),
    approvals: { ...body.approvals, fourEyes: starter.fourEyes },
    requestedBy: starter.requestedBy,
    options: body.options,
    ...scopeInput(body),
  };
}

/** The optional parts of a transfer's input, only where given (a plain run's input stays as it was). */
function scopeInput(body: StartMigrationRequest): Partial<MigrationInput> {
  const renames = Object.fromEntries(databasePairs(body.databases).filter((p) => p.source !== p.target).map((p) => [p.source, p.target]));
  return {
    ...(Object.keys(renames).length > 0 ? { renames } : {}),
    ...(body.include ? { include: body.include } : {}),
    ...(body.exclude ? { exclude: body.exclude } : {}),
    ...(body.mode !== 'full' ? { mode: body.mode } : {}),
    ...(body.schedule ? { schedule: body.schedule } : {}),
    ...(body.replication ? { replication: body.replication } : {}),
  };
}

/** The input of a run of changes: the target's password sealed, the starter and the four-eyes switch recorded. */
function changesInput(id: string, body: StartChangesRequest, keyring: Keyring, starter: Starter): ChangesInput {
  return {
    id,
    target: sealedEndpoint(body.target, keyring),
    database: body.database,
    changes: body.changes,
    approvals: { ...body.approvals, fourEyes: starter.fourEyes },
    requestedBy: starter.requestedBy,
    options: body.options,
  };
}

/** Refuses, as a 400 naming the field, an endpoint (source, target) outside the endpoint allowlist. */
function assertAllowed(allow: EndpointAllowlist | undefined, endpoints: Partial<Record<'source' | 'target', StartMigrationRequest['target']>>): void {
  if (!allow) return;
  const issues = (['source', 'target'] as const).flatMap((side) => {
    const endpoint = endpoints[side];
    const refused = endpoint ? refusedAddress(allow, endpoint) : null;
    return refused ? [{ path: `${side}.url`, message: `${refused} is not in MIGRATOR_ENDPOINT_ALLOWLIST` }] : [];
  });
  if (issues.length > 0) throw new InvalidRequestError(issues);
}

/** Memo key of the subject who started a run (read back by the four-eyes check). */
export const REQUESTED_BY_MEMO = 'requestedBy';

/** What a start request becomes: the workflow to start, its input, and how many target databases it locks. */
interface PlannedStart {
  id: string;
  approvalsRequired: boolean;
  workflowType: string;
  input: MigrationInput | ChangesInput;
  summary: string;
  details: string;
  databases: number;
}

/**
 * The run a start body asks for, checked: a transfer (`source`) or a run of changes (`changes`,
 * no `source`); both at once is refused on `changes`. The allowlist applies to each endpoint given.
 */
function plannedStart(deps: AppDeps, raw: unknown, starter: Starter): PlannedStart {
  const kind = startRequestKind(raw);
  if (kind === 'mixed') throw new InvalidRequestError([{ path: 'changes', message: TRANSFER_THEN_CHANGES_UNSUPPORTED }]);
  if (kind === 'changes') {
    const body = parse(startChangesSchema, raw);
    assertAllowed(deps.allowEndpoint, { target: body.target });
    const input = changesInput(body.id ?? newId(), body, deps.keyring, starter);
    const approvalsRequired = body.approvals.required;
    return { id: input.id, approvalsRequired, workflowType: CHANGES_WORKFLOW_TYPE, input, summary: changesSummary(input), details: changesDetails(input), databases: 1 };
  }
  const body = parse(startMigrationSchema, raw);
  assertAllowed(deps.allowEndpoint, body);
  const input = workflowInput(body.id ?? newId(), body, deps.keyring, starter);
  const approvalsRequired = body.approvals.required;
  return { id: input.id, approvalsRequired, workflowType: WORKFLOW_TYPE, input, summary: runSummary(input), details: runDetails(input), databases: body.databases.length };
}

/** `POST /migrations`: an operator starts a run; only an admin may start one without approvals. */
function startHandler(deps: AppDeps): RequestHandler {
  return async (req, res) => {
    const identity = identityOf(res);
    const { id, approvalsRequired, workflowType, input, summary, details, databases } = plannedStart(deps, req.body, { requestedBy: identity.subject, fourEyes: deps.auth.fourEyes });
    if (!approvalsRequired) assertRole(identity, 'admin', 'starting a migration with "approvals": {"required": false}');
    res.locals[REQUEST_LOCALS.migrationId] = id;
    const handle = await deps.client.workflow.start(workflowType, {
      taskQueue: TASK_QUEUE,
      workflowId: id,
      args: [input],
      staticSummary: summary,
      staticDetails: details,
      workflowIdConflictPolicy: 'FAIL',
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
      memo: { [REQUESTED_BY_MEMO]: identity.subject },
      typedSearchAttributes: [
        { key: statusKey, value: 'running' },
        { key: stepKey, value: 'backup' },
      ],
    });
    const runId = handle.firstExecutionRunId;
    res.locals[REQUEST_LOCALS.runId] = runId;
    await awaitLocks(deps.client, handle, databases);
    res.status(201).json({
      id,
      runId,
      status: 'running',
      links: {
        self: `/migrations/${encodeURIComponent(id)}`,
        temporalUi: `${deps.temporalUiUrl.replace(/\/+$/, '')}/namespaces/${encodeURIComponent(deps.namespace)}/workflows/${encodeURIComponent(id)}/${runId}/history`,
      },
    } satisfies MigrationStarted);
  };
}

/** How long a start waits for its run to take the target locks before answering 201 regardless. */
const LOCK_WAIT_MS = 10_000;

/**
 * Waits until a new run holds the lock of every target database, so that a start that overlaps
 * an open run is answered 409, naming that run, and one whose source and target turn out to be
 * one server (the run asks the servers before it locks) is answered 400 on `target.url`, as is one
 * whose `include` or `exclude` pattern matches nothing on the source (it lists its scope first) on that field, and
 * one whose replica sets are unhealthy (it checks them next) on `replication`, with the numbers. The lock
 * itself lives in Temporal (see `src/workflows/target-lock.ts`): if no worker picks the run up in
 * time, the run still refuses to proceed later, and this answers 201.
 */
async function awaitLocks(client: Client, handle: WorkflowHandle, databases: number): Promise<void> {
  const deadline = Date.now() + LOCK_WAIT_MS;
  while (Date.now() < deadline) {
    const state = await handle.query(stateQuery).catch(() => null);
    if (state?.locks.length === databases) return;
    if (state?.error?.type === FAILURE_TYPES.sameServer) {
      throw new InvalidRequestError([{ path: 'target.url', message: `must be a different server from the source: ${state.error.message}` }]);
    }
    if (state?.error?.type === FAILURE_TYPES.scopeInvalid) throw new InvalidRequestError(unmatchedPatternIssues(state.error.message));
    if (state?.error?.type === FAILURE_TYPES.replicaSetUnhealthy) throw new InvalidRequestError([{ path: 'replication', message: state.error.message }]);
    if (state?.lockConflict) {
      const lock = state.lockConflict;
      const owner = await client.workflow.getHandle(lock).describe().then((d) => d.memo?.owner, () => undefined);
      throw new MigrationStateConflictError(
        { error: 'target_locked', run: typeof owner === 'string' ? owner : null, lock },
        state.error?.message ?? `the lock ${lock} is held`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The 400 of a run whose `include` or `exclude` pattern matched nothing on the source: an issue on each field it names. */
function unmatchedPatternIssues(message: string): { path: string; message: string }[] {
  const fields = unmatchedFields(message);
  return (fields.length > 0 ? fields : ['']).map((path) => ({ path, message }));
}

const isStep = (value: string | undefined): value is StepName => (STEPS as readonly (string | undefined)[]).includes(value);

/** `GET /migrations`: every run, from Temporal visibility. */
function listHandler(client: Client): RequestHandler {
  return async (req, res) => {
    const { status } = parse(listQuerySchema, req.query, ['query']);
    const filter = status ? ` AND ${statusKey.name} = '${status}'` : '';
    const migrations: MigrationSummary[] = [];
    for await (const info of client.workflow.list({ query: `${RUN_TYPES_CLAUSE}${filter}`, pageSize: 100 })) {
      const step = info.typedSearchAttributes.get(stepKey);
      migrations.push({
        id: info.workflowId,
        runId: info.runId,
        status: listedStatus(info),
        currentStep: isStep(step) ? step : null,
        startedAt: info.startTime.toISOString(),
        closedAt: info.closeTime?.toISOString() ?? null,
      });
      if (migrations.length >= 100) break;
    }
    res.json({ migrations });
  };
}

/**
 * Four eyes: the subject who started a run (its memo) may not decide on its steps. A run without
 * the memo was started outside the API, by no subject of ours, so anyone with the role may decide.
 */
export async function assertNotStarter(client: Client, id: string, identity: Identity): Promise<void> {
  const { memo } = await client.workflow.getHandle(id).describe();
  if (memo?.[REQUESTED_BY_MEMO] === identity.subject) throw new FourEyesError(id, identity.subject);
}

/** Throws a 409 unless the run waits for `step`: the answer says what it waits for instead. */
async function assertAwaiting(handle: WorkflowHandle, step: string): Promise<void> {
  const state = await handle.query(stateQuery);
  if (state.awaitingApproval?.step === step) return;
  throw new MigrationStateConflictError(
    { error: 'not_awaiting_approval', awaitingApproval: state.awaitingApproval, status: state.status },
    state.awaitingApproval ? `the run is waiting for approval of "${state.awaitingApproval.step}", not "${step}"` : `the run is not waiting for an approval (status ${state.status})`,
  );
}

/**
 * Approve or reject as the authenticated subject: the Update's `by` is the subject, and four eyes
 * (when on) keeps the run's starter from deciding. The run's validator checks again, so a decision
 * that races another is refused by the run itself; the answer is the state after the decision.
 */
async function decideAs(deps: AppDeps, req: Request, res: Response, step: string, send: (handle: WorkflowHandle, by: string) => Promise<MigrationState>): Promise<void> {
  const id = idParam(req);
  const identity = identityOf(res);
  if (deps.auth.fourEyes) await assertNotStarter(deps.client, id, identity);
  const handle = deps.client.workflow.getHandle(id);
  await assertAwaiting(handle, step);
  res.status(202).json(await send(handle, identity.subject));
}

/** `POST /migrations/:id/cancel`: stops a running run, which rolls the target back. */
function cancelHandler(client: Client): RequestHandler {
  return async (req, res) => {
    const id = idParam(req);
    parse(cancelSchema, req.body ?? {});
    const handle = client.workflow.getHandle(id);
    const { status, type } = await handle.describe();
    // A workflow of another type (a target lock, the janitor) is not a migration.
    if (!RUN_WORKFLOW_TYPES.includes(type)) throw new MigrationNotFoundError(id);
    if (status.name !== 'RUNNING') throw new MigrationStateConflictError({ error: 'not_running' }, `the run has already ended (${status.name.toLowerCase()})`);
    await handle.cancel();
    res.status(202).json({ id, status: 'cancelling' } satisfies CancelAccepted);
  };
}

/** The `/migrations` routes, each behind the role it needs (mount after `authenticate`). */
export function migrationRoutes(deps: AppDeps): Router {
  const { client } = deps;
  const router = Router();
  router.post('/', requireRole('operator', 'starting a migration'), startHandler(deps));
  router.get('/', requireRole('viewer', 'listing migrations'), listHandler(client));
  router.get('/:id', requireRole('viewer', 'reading a migration'), async (req, res) => {
    res.json(await client.workflow.getHandle(idParam(req)).query(stateQuery));
  });
  router.get('/:id/tables', requireRole('viewer', 'reading a migration'), async (req, res) => {
    const id = idParam(req);
    const page = parse(tablesQuerySchema, req.query, ['query']);
    res.json(await client.workflow.getHandle(id).query(tablesQuery, page));
  });
  router.post('/:id/approve', requireRole('approver', 'approving a step'), async (req, res) => {
    const body = parse(approveSchema, req.body);
    await decideAs(deps, req, res, body.step, (handle, by) => handle.executeUpdate(approveUpdate, { args: [{ ...body, by }] }));
  });
  router.post('/:id/reject', requireRole('approver', 'rejecting a step'), async (req, res) => {
    const body = parse(rejectSchema, req.body);
    await decideAs(deps, req, res, body.step, (handle, by) => handle.executeUpdate(rejectUpdate, { args: [{ ...body, by }] }));
  });
  router.post('/:id/cancel', requireRole('operator', 'cancelling a migration'), cancelHandler(client));
  return router;
}
