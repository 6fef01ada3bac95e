/**
 * The API's OpenAPI 3.1 document, generated from the zod schemas the routes parse with
 * (src/api/schemas.ts) and answer with (src/api/responses.ts), served at `GET /openapi.json`.
 *
 * To document a route, add one entry to {@link ROUTES}: its method, path, role, the zod schemas of
 * its parameters and body, and the answers it gives itself. The answers every route of its kind
 * gives are added from the entry: 401 and 403 when it has a role, 400 (and 413, 415 for a body)
 * when it parses input, 500 and 503 when it calls Temporal. A schema enters
 * `components.schemas` under the name given with {@link named}; nothing else needs to change.
 */
import { Router, type RequestHandler } from 'express';
import { z } from 'zod';
import { ROLES, type Role } from '../config';
import { parseAllowlist, type EndpointAllowlist } from '../endpoint-allowlist';
import type { AppDeps } from './app';
import * as responses from './responses';
import {
  approveSchema,
  BODY_LIMIT_BYTES,
  cancelSchema,
  listQuerySchema,
  literalPattern,
  migrationIdSchema,
  rejectSchema,
  START_BODY_LIMIT_BYTES,
  startChangesSchema,
  startMigrationSchema,
  startRequestSchema,
  tablesQuerySchema,
  URL_HOST_SOURCE,
  URL_PORT_SOURCE,
} from './schemas';

/** A zod schema with the name it has in `components.schemas`. */
export interface Named {
  name: string;
  schema: z.ZodType;
}

/** Names a schema for `components.schemas`. */
export const named = (name: string, schema: z.ZodType): Named => ({ name, schema });

/** One answer of a route: what it means, and the body (one of `bodies`, told apart by their `error`). */
export interface Answer {
  description: string;
  bodies: Named[];
  headers?: Record<string, { description: string; schema: Record<string, unknown> }>;
}

/** A route of the API, as the document describes it. */
export interface RouteSpec {
  method: 'get' | 'post';
  /** The OpenAPI path template, such as `/migrations/{id}` (Express's `:id` becomes `{id}`). */
  path: string;
  operationId: string;
  summary: string;
  description?: string;
  /** The role the route checks after authenticating a bearer token; absent for open routes. */
  role?: Role;
  /** Path parameters, each with its schema. */
  params?: Record<string, Named>;
  /** The zod object the query string is parsed with: each property is one query parameter. */
  query?: z.ZodObject;
  /** The body's schema, and the most bytes the route reads (@default BODY_LIMIT_BYTES). */
  body?: Named & { required: boolean; limitBytes?: number };
  /** Whether the route calls Temporal: then 500 and 503 are possible. */
  temporal?: boolean;
  /** The answers particular to the route, by status. */
  answers: Record<number, Answer>;
  /** OpenAPI links from the first 2xx answer: name → operation and parameter expressions. */
  links?: Record<string, { operationId: string; parameters: Record<string, string> }>;
}

const id = named('MigrationId', migrationIdSchema);
const endpoint = named('Endpoint', startMigrationSchema.shape.source);
/** The two shapes of a start request, each its own component, for the narrowing to an allowlist. */
const startShapes = [named('StartTransferRequest', startMigrationSchema), named('StartChangesRequest', startChangesSchema)];
/** The state document: a transfer's, or a run of changes' (told apart by `kind`). */
const states = [named('MigrationState', responses.migrationStateSchema), named('ChangesState', responses.changesStateSchema)];
const idFromBody = { id: '$response.body#/id' };
/** The runs a started migration leads to, for clients (and schemathesis) that follow links. */
const runLinks = {
  getMigration: { operationId: 'getMigration', parameters: idFromBody },
  approveMigration: { operationId: 'approveMigration', parameters: idFromBody },
  rejectMigration: { operationId: 'rejectMigration', parameters: idFromBody },
  cancelMigration: { operationId: 'cancelMigration', parameters: idFromBody },
};
const notFound: Answer = { description: 'No migration has that id.', bodies: [named('NotFound', responses.notFoundSchema)] };
/** What approve and reject answer besides the answers of every route of their kind. */
const decisionAnswers: Record<number, Answer> = {
  202: { description: 'The decision is recorded; the state after it.', bodies: states },
  403: { description: 'The subject started the run (four eyes).', bodies: [named('FourEyes', responses.fourEyesSchema)] },
  404: notFound,
  409: {
    description: 'The run does not wait for the approval of that step, or refused the decision itself.',
    bodies: [named('NotAwaitingApproval', responses.notAwaitingApprovalSchema), named('DecisionRefused', responses.decisionRefusedSchema)],
  },
};

/** Every route of the API. Add an entry to document a new one (see the module comment). */
export const ROUTES: RouteSpec[] = [
  {
    method: 'get',
    path: '/healthz',
    operationId: 'health',
    summary: 'Whether the API can reach Temporal',
    answers: {
      200: { description: 'Temporal answers.', bodies: [named('Healthy', responses.healthySchema)] },
      503: { description: 'Temporal does not answer.', bodies: [named('Unhealthy', responses.unhealthySchema)] },
    },
  },
  {
    method: 'get',
    path: '/openapi.json',
    operationId: 'openApiDocument',
    summary: 'This document',
    answers: { 200: { description: 'The OpenAPI 3.1 document of this deployment.', bodies: [named('OpenApiDocument', z.looseObject({ openapi: z.string() }))] } },
  },
  {
    method: 'post',
    path: '/migrations',
    operationId: 'startMigration',
    summary: 'Start a migration: a transfer, or versioned schema changes',
    description:
      'Starts a run and waits (up to 10 s) until it holds the lock of every target database. A transfer (`source`, `target`, `databases`) copies databases from the source to the target, which must be different servers: their origins must differ, and the run asks the servers themselves which they are, so that one server under two names (`localhost` and `127.0.0.1`, a DNS alias) is answered 400 on `target.url` too. The lock of a target database names the server by that identity, not by its URL. A run of changes (`target`, `database`, `changes`, no `source`) applies versioned SQL to one database of the target, in version order; the change set is checked first (versions unique and increasing, each version with statements, none changing another database, each statement parses) and each problem is answered 400 on `changes.<index>.<field>`. A transfer followed by changes (`source` with `changes`) is not supported yet. Only an admin may start a run with `"approvals": {"required": false}`.',
    role: 'operator',
    body: { ...named('StartMigrationRequest', startRequestSchema), required: true, limitBytes: START_BODY_LIMIT_BYTES },
    temporal: true,
    answers: {
      201: { description: 'The run started.', bodies: [named('MigrationStarted', responses.migrationStartedSchema)] },
      409: {
        description: 'A run with that id is open, or another open run holds the lock of a target database.',
        bodies: [named('Conflict', responses.conflictSchema), named('TargetLocked', responses.targetLockedSchema)],
      },
    },
    links: runLinks,
  },
  {
    method: 'get',
    path: '/migrations',
    operationId: 'listMigrations',
    summary: 'The latest runs, finished ones included (at most 100)',
    role: 'viewer',
    query: listQuerySchema,
    temporal: true,
    answers: { 200: { description: 'The runs, newest first.', bodies: [named('MigrationList', responses.migrationListSchema)] } },
  },
  {
    method: 'get',
    path: '/migrations/{id}',
    operationId: 'getMigration',
    summary: "A run's state document",
    role: 'viewer',
    params: { id },
    temporal: true,
    answers: { 200: { description: 'The state document.', bodies: states }, 404: notFound },
  },
  {
    method: 'get',
    path: '/migrations/{id}/tables',
    operationId: 'listMigrationTables',
    summary: "A page of a run's per-table detail: rows copied and verification verdict",
    description: 'Tables by database and table name. Pass the `nextCursor` of a page as `cursor` to read the next one; the state document keeps only totals and the first tables that differ.',
    role: 'viewer',
    params: { id },
    query: tablesQuerySchema,
    temporal: true,
    answers: { 200: { description: 'A page of tables.', bodies: [named('TablesPage', responses.tablesPageSchema)] }, 404: notFound },
  },
  {
    method: 'post',
    path: '/migrations/{id}/approve',
    operationId: 'approveMigration',
    summary: 'Approve the step the run waits for, as the token’s subject',
    role: 'approver',
    params: { id },
    body: { ...named('ApproveRequest', approveSchema), required: true },
    temporal: true,
    answers: decisionAnswers,
  },
  {
    method: 'post',
    path: '/migrations/{id}/reject',
    operationId: 'rejectMigration',
    summary: 'Reject the step the run waits for: the run ends as rejected',
    role: 'approver',
    params: { id },
    body: { ...named('RejectRequest', rejectSchema), required: true },
    temporal: true,
    answers: decisionAnswers,
  },
  {
    method: 'post',
    path: '/migrations/{id}/cancel',
    operationId: 'cancelMigration',
    summary: 'Cancel a running run: it rolls the target back',
    role: 'operator',
    params: { id },
    body: { ...named('CancelRequest', cancelSchema), required: false },
    temporal: true,
    answers: {
      202: { description: 'The run was asked to stop.', bodies: [named('CancelAccepted', responses.cancelAcceptedSchema)] },
      404: notFound,
      409: { description: 'The run has already ended.', bodies: [named('NotRunning', responses.notRunningSchema)] },
    },
  },
];

const invalidRequest = named('InvalidRequest', responses.invalidRequestSchema);

/** The answers a route gives because of its kind (see the module comment), merged under its own. */
function impliedAnswers(route: RouteSpec): Record<number, Answer> {
  const implied: Record<number, Answer> = {};
  if (route.role) {
    implied[401] = {
      description: 'No bearer token, or an unknown one.',
      bodies: [named('Unauthorized', responses.unauthorizedSchema)],
      headers: { 'WWW-Authenticate': { description: 'The bearer challenge (RFC 6750).', schema: { type: 'string', pattern: '^Bearer ' } } },
    };
    implied[403] = { description: `The token's subject lacks the role ${route.role}.`, bodies: [named('Forbidden', responses.forbiddenSchema)] };
  }
  if (route.params || route.query || route.body) {
    implied[400] = { description: 'The request does not fit its schema: each issue names the field.', bodies: [invalidRequest] };
  }
  if (route.body) {
    implied[413] = { description: `The body is larger than ${(route.body.limitBytes ?? BODY_LIMIT_BYTES) / 1024} KiB.`, bodies: [named('PayloadTooLarge', responses.payloadTooLargeSchema)] };
    implied[415] = { description: 'The body has a charset or content encoding the API does not read.', bodies: [invalidRequest] };
  }
  if (route.temporal) {
    implied[500] = { description: 'An unexpected error, logged under its request id.', bodies: [named('InternalError', responses.internalErrorSchema)] };
    implied[503] = { description: 'Temporal cannot be reached, or no worker answered in time.', bodies: [named('Unavailable', responses.unavailableSchema)] };
  }
  const answers: Record<number, Answer> = { ...implied };
  for (const [status, answer] of Object.entries(route.answers)) {
    const both = implied[Number(status)];
    answers[Number(status)] = both
      ? { description: `${both.description} ${answer.description}`, bodies: [...both.bodies, ...answer.bodies], ...(both.headers || answer.headers ? { headers: { ...both.headers, ...answer.headers } } : {}) }
      : answer;
  }
  return answers;
}

type Json = Record<string, unknown>;
const ref = (name: string): Json => ({ $ref: `#/components/schemas/${name}` });

/**
 * Converts named zod schemas to JSON Schema components: a schema that another one contains is a
 * `$ref` to its component. Requests are described as a client writes them (`io: "input"`: fields
 * with defaults are optional), answers as the API writes them.
 */
function components(schemas: Named[], io: 'input' | 'output'): Record<string, Json> {
  const registry = z.registry<{ id: string }>();
  for (const { name, schema } of schemas) {
    const known = registry.get(schema);
    if (known && known.id !== name) throw new Error(`one schema is named both ${known.id} and ${name}`);
    if (!known) registry.add(schema, { id: name });
  }
  const { schemas: converted } = z.toJSONSchema(registry, { io, uri: (name) => `#/components/schemas/${name}` }) as { schemas: Record<string, Json> };
  if ('__shared' in converted) throw new Error('a schema that is not named is shared between components: name it');
  for (const json of Object.values(converted)) {
    delete json.$schema;
    delete json.$id;
  }
  return converted;
}

/** One server (host and port) or every port of a host that the endpoint allowlist lets through. */
export interface AllowedServer {
  host: string;
  /** `null`: every port. */
  port: number | null;
}

const describedAllowlists = new WeakMap<EndpointAllowlist, readonly AllowedServer[] | 'any'>();

/**
 * {@link parseAllowlist} whose result the document can describe. A deployment that builds its app
 * with this one publishes its allowlist in the (unauthenticated) document: the URL patterns of
 * `source` and `target` then name the allowed servers, so a request the document accepts is one
 * the API accepts. That also tells anyone who can reach the API which ClickHouse servers it may
 * reach, so it is a choice: with `parseAllowlist` the document stays general and says in prose
 * that the deployment may refuse servers (400 naming the field).
 */
export function describedAllowlist(setting: string): EndpointAllowlist {
  const allow = parseAllowlist(setting);
  const entries = setting.split(',').map((e) => e.trim()).filter(Boolean);
  describedAllowlists.set(
    allow,
    entries.includes('*')
      ? 'any'
      : entries.map((entry) => {
          const colon = entry.lastIndexOf(':');
          const port = entry.slice(colon + 1);
          return { host: entry.slice(0, colon).toLowerCase(), port: port === '*' ? null : Number(port) };
        }),
  );
  return allow;
}

/** Beyond this many allowed servers, the document does not enumerate the source/target pairs. */
const MAX_PAIRED_SERVERS = 6;
const HOST = new RegExp(`^${URL_HOST_SOURCE}$`);

/** The URL alternatives of one server: `scheme://host:port`, and without the port where it is the scheme's default. */
function urlAlternatives(schemes: readonly ('http' | 'https')[], host: string, port: number | null): string[] {
  const hostPattern = literalPattern(host, true);
  return schemes.map((scheme) => {
    const portPattern = port === null ? URL_PORT_SOURCE : String(port);
    const optional = port === null || port === (scheme === 'https' ? 443 : 80);
    return `${scheme}://${hostPattern}(?::${portPattern})${optional ? '?' : ''}/?`;
  });
}

/**
 * The start request narrowed to the allowlist: each endpoint's `url` names an allowed server, its
 * `nativePort` an allowed port of the same host. When the allowed servers are few and all have a
 * port, one branch per (source, target) pair of different servers also states that the two differ.
 */
function narrowedStartRequest(body: Json, endpointJson: Json, allowed: readonly AllowedServer[]): Json {
  const servers = usableServers(allowed);
  const endpointAt = endpointNarrower(endpointJson, servers);
  const withEndpoints = (source: Json, target: Json): Json => ({ ...body, properties: { ...(body.properties as Json), source, target } });
  if (servers.length === 0) return { ...body, not: {}, description: 'MIGRATOR_ENDPOINT_ALLOWLIST lets no server through.' };
  const http = ['http'] as const;
  const https = ['https'] as const;
  const either = ['http', 'https'] as const;
  if (servers.length > MAX_PAIRED_SERVERS || servers.some((s) => s.port === null)) {
    const any = { anyOf: servers.map((s) => endpointAt(urlAlternatives(either, s.host, s.port), s.host)) };
    return { ...body, properties: { ...(body.properties as Json), source: any, target: any } };
  }
  const branches: Json[] = [];
  for (const a of servers) {
    for (const b of servers) {
      if (a === b) {
        // The same server under both schemes is two origins.
        branches.push(withEndpoints(endpointAt(urlAlternatives(http, a.host, a.port), a.host), endpointAt(urlAlternatives(https, b.host, b.port), b.host)));
        branches.push(withEndpoints(endpointAt(urlAlternatives(https, a.host, a.port), a.host), endpointAt(urlAlternatives(http, b.host, b.port), b.host)));
      } else {
        branches.push(withEndpoints(endpointAt(urlAlternatives(either, a.host, a.port), a.host), endpointAt(urlAlternatives(either, b.host, b.port), b.host)));
      }
    }
  }
  return { anyOf: branches };
}

/** The allowlist's servers an accepted URL can name: an entry whose host none can (or only in another spelling) lets nothing through. */
function usableServers(allowed: readonly AllowedServer[]): AllowedServer[] {
  return allowed.filter(({ host }) => HOST.test(host) && new URL(`http://${host}`).hostname === host);
}

/** The endpoint schema narrowed to one allowed host: its URL to `alternatives`, its native port to the host's allowed ports. */
function endpointNarrower(endpointJson: Json, servers: readonly AllowedServer[]): (alternatives: string[], host: string) => Json {
  const portsOf = (host: string): Json => {
    const ports = servers.filter((s) => s.host === host).map((s) => s.port);
    return ports.includes(null) ? { type: 'integer', minimum: 1, maximum: 65535 } : { type: 'integer', enum: [...new Set(ports)].sort((a, b) => Number(a) - Number(b)) };
  };
  return (alternatives, host) => ({
    ...endpointJson,
    properties: {
      ...(endpointJson.properties as Json),
      url: { type: 'string', pattern: `^(?:${alternatives.join('|')})$`, description: 'A server MIGRATOR_ENDPOINT_ALLOWLIST lets through.' },
      nativePort: portsOf(host),
    },
  });
}

/** The changes request narrowed to the allowlist: its target names an allowed server. */
function narrowedChangesRequest(body: Json, endpointJson: Json, allowed: readonly AllowedServer[]): Json {
  const servers = usableServers(allowed);
  if (servers.length === 0) return { ...body, not: {}, description: 'MIGRATOR_ENDPOINT_ALLOWLIST lets no server through.' };
  const endpointAt = endpointNarrower(endpointJson, servers);
  const target = { anyOf: servers.map((s) => endpointAt(urlAlternatives(['http', 'https'], s.host, s.port), s.host)) };
  return { ...body, properties: { ...(body.properties as Json), target } };
}

/** What shapes the document beyond the routes: the servers of this deployment. */
export interface DocumentOptions {
  /** The allowlist's servers, or `any` (the default) for a document that does not narrow URLs. */
  endpoints?: readonly AllowedServer[] | 'any';
}

/** The OpenAPI 3.1 document of {@link ROUTES}. */
export function openApiDocument(options: DocumentOptions = {}, routes: readonly RouteSpec[] = ROUTES): Json {
  const answersOf = new Map(routes.map((route) => [route, impliedAnswers(route)]));
  const requestSchemas: Named[] = [id, endpoint, ...startShapes];
  const responseSchemas: Named[] = [];
  for (const route of routes) {
    requestSchemas.push(...Object.values(route.params ?? {}), ...(route.body ? [route.body] : []));
    for (const answer of Object.values(answersOf.get(route) ?? {})) responseSchemas.push(...answer.bodies);
  }
  const schemas = components(requestSchemas, 'input');
  for (const [name, json] of Object.entries(components(responseSchemas, 'output'))) {
    if (name in schemas && JSON.stringify(schemas[name]) !== JSON.stringify(json)) throw new Error(`${name} names a request and an answer that differ`);
    schemas[name] = json;
  }
  // The refinement of the endpoint schema (src/api/schemas.ts): a password or a reference to one, not both.
  schemas.Endpoint = { ...schemas.Endpoint, not: { required: ['password', 'passwordRef'] } };
  const endpoints = options.endpoints ?? 'any';
  if (endpoints !== 'any') {
    schemas.StartTransferRequest = narrowedStartRequest(schemas.StartTransferRequest, schemas.Endpoint, endpoints);
    schemas.StartChangesRequest = narrowedChangesRequest(schemas.StartChangesRequest, schemas.Endpoint, endpoints);
  }

  const paths: Record<string, Record<string, Json>> = {};
  for (const route of routes) {
    const parameters = [
      ...Object.entries(route.params ?? {}).map(([name, { name: schema }]) => ({ name, in: 'path', required: true, schema: ref(schema) })),
      ...Object.entries(route.query ? (z.toJSONSchema(route.query, { io: 'input' }).properties ?? {}) : {}).map(([name, schema]) => ({
        name,
        in: 'query',
        required: false,
        schema,
      })),
    ];
    const answers = answersOf.get(route) ?? {};
    const firstSuccess = Object.keys(answers).find((status) => status.startsWith('2'));
    paths[route.path] ??= {};
    paths[route.path][route.method] = {
      operationId: route.operationId,
      summary: route.summary,
      ...(route.description ? { description: route.description } : {}),
      ...(route.role ? { 'x-required-role': route.role } : {}),
      security: route.role ? [{ bearerAuth: [] }] : [],
      ...(parameters.length > 0 ? { parameters } : {}),
      ...(route.body ? { requestBody: { required: route.body.required, content: { 'application/json': { schema: ref(route.body.name) } } } } : {}),
      responses: Object.fromEntries(
        Object.entries(answers).map(([status, answer]) => [
          status,
          {
            description: answer.description,
            ...(answer.headers ? { headers: Object.fromEntries(Object.entries(answer.headers).map(([name, header]) => [name, { ...header, required: true }])) } : {}),
            content: { 'application/json': { schema: answer.bodies.length === 1 ? ref(answer.bodies[0].name) : { oneOf: answer.bodies.map((b) => ref(b.name)) } } },
            ...(route.links && status === firstSuccess ? { links: route.links } : {}),
          },
        ]),
      ),
    };
  }
  return {
    openapi: '3.1.1',
    info: {
      title: 'clickhouse-migrator',
      version: '1',
      description: `ClickHouse migrations as Temporal workflows that people approve step by step. Roles: ${ROLES.join(', ')} (admin grants every role, operator and approver grant viewer).${
        endpoints === 'any' ? ' The deployment may allow only some ClickHouse servers (MIGRATOR_ENDPOINT_ALLOWLIST): a source or target outside it is answered 400 naming the field.' : ''
      }`,
    },
    paths,
    components: {
      schemas,
      securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', description: 'A token of the MIGRATOR_TOKENS_FILE.' } },
    },
  };
}

/** The documented methods of each path, for 405 answers; the Express form of the path (`:id`). */
function methodsByPath(routes: readonly RouteSpec[]): Map<string, string[]> {
  const byPath = new Map<string, string[]>();
  for (const route of routes) {
    const path = route.path.replace(/\{(\w+)\}/g, ':$1');
    byPath.set(path, [...(byPath.get(path) ?? []), route.method.toUpperCase()]);
  }
  return byPath;
}

/**
 * `GET /openapi.json` (open, like `/healthz`), and `405` with `Allow` for a method no route of a
 * documented path has. OPTIONS is left alone (the codec's CORS preflight answers it), and so is
 * HEAD where the path has a GET. The document is built once per app.
 */
export function openApiRoutes(deps: Pick<AppDeps, 'allowEndpoint'>): Router {
  const described = deps.allowEndpoint ? describedAllowlists.get(deps.allowEndpoint) : 'any';
  const document = openApiDocument({ endpoints: described ?? 'any' });
  const router = Router();
  router.get('/openapi.json', (_req, res) => {
    res.json(document);
  });
  for (const [path, methods] of methodsByPath(ROUTES)) {
    const allow = methods.includes('GET') ? [...methods, 'HEAD'] : methods;
    const notAllowed: RequestHandler = (req, res, next) => {
      if (req.method === 'OPTIONS' || allow.includes(req.method)) return next();
      res.set('Allow', allow.join(', ')).status(405).json({ error: 'method_not_allowed', message: `${req.method} is not allowed here; use ${allow.join(' or ')}` });
    };
    router.all(path, notAllowed);
  }
  return router;
}
