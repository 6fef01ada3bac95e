/**
 * `clickhouse-migrator`: the command line of the migrator. It talks only to the HTTP API:
 * start, list, status, approve, reject, cancel and watch runs.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Argument, Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { MIGRATION_STATUSES, STEPS, TRANSFER_MODES, WINDOW_END_POLICIES, type MigrationStatus } from '../workflows/types';
import { createApiClient, type ApiClient } from './api-client';
import { EXIT, exitCodeForError, UsageError } from './exit-codes';
import { errorDocument, formatError, formatList, formatStarted, formatState } from './render';
import { describeChangesRead, readChangesFolder } from './changes-dir';
import { assertChangesFlags, buildStartRequest, parseStartFile, PASSWORD_ENV, stdinSides, type StartFlags } from './start-file';
import { barsView, jsonView, plainView, watchRun } from './watch';

/** @default the API of `npm start` */
export const DEFAULT_API_URL = 'http://127.0.0.1:3000';

interface GlobalOptions {
  apiUrl: string;
  token?: string;
  json?: boolean;
}

/** What a command prints: a JSON document with `--json`, text otherwise. */
function print(json: boolean | undefined, doc: unknown, text: () => string): void {
  process.stdout.write(json ? `${JSON.stringify(doc)}\n` : `${text()}\n`);
}

function warn(message: string): void {
  process.stderr.write(`warning: ${message}\n`);
}

/** The API base URL, checked: http(s), and no credentials (they would be printed with every error). */
export function checkApiUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`--api-url "${value}" is not a URL, e.g. ${DEFAULT_API_URL}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError('--api-url must be an http or https URL');
  if (url.username || url.password) throw new UsageError('--api-url must not hold credentials: give the token with MIGRATOR_TOKEN or --token');
  return value.replace(/\/+$/, '');
}

function clientOf(cmd: Command): { client: ApiClient; json: boolean } {
  const opts = cmd.optsWithGlobals<GlobalOptions>();
  if (cmd.getOptionValueSourceWithGlobals('token') === 'cli') warn('--token puts the token into your shell history and the process list; prefer MIGRATOR_TOKEN');
  return { client: createApiClient({ baseUrl: checkApiUrl(opts.apiUrl), token: opts.token || undefined }), json: opts.json === true };
}

/** Runs a command's body and turns its errors into a message and an exit code. */
function action<A extends unknown[]>(body: (...args: A) => Promise<number | void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    // Commander passes the command itself last.
    const cmd = args[args.length - 1] as Command;
    const json = cmd.optsWithGlobals<GlobalOptions>().json === true;
    try {
      process.exitCode = (await body(...args)) ?? EXIT.ok;
    } catch (err) {
      if (json) process.stdout.write(`${JSON.stringify(errorDocument(err))}\n`);
      else process.stderr.write(`${formatError(err)}\n`);
      process.exitCode = exitCodeForError(err);
    }
  };
}

function integer(min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}`);
    return n;
  };
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

async function readStdin(flags: StartFlags): Promise<string | undefined> {
  const sides = stdinSides(flags);
  if (sides.length === 0) return undefined;
  if (process.stdin.isTTY) throw new UsageError(`${sides.map((s) => `--${s}-password-stdin`).join(' and ')} read from a pipe, e.g. \`cat pw.txt | clickhouse-migrator start …\``);
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function endpointOptions(cmd: Command, side: 'source' | 'target'): Command {
  return cmd
    .option(`--${side}-url <url>`, `${side} ClickHouse HTTP URL, e.g. http://clickhouse:8123`)
    .option(`--${side}-user <name>`, `${side} user (the API's default: default)`)
    .option(`--${side}-password <password>`, `${side} password (lands in shell history: prefer the two below or ${PASSWORD_ENV[side]})`)
    .option(`--${side}-password-stdin`, `read the ${side} password from stdin (one line; the source's first when both are read)`)
    .option(`--${side}-password-ref <name>`, `name of a secret the worker resolves, instead of a password`)
    .option(`--${side}-native-port <port>`, `${side} native-protocol port, for server-to-server copies`, integer(1, 65535));
}

function startCommand(cmd: Command): Command {
  cmd
    .description(
      'start a migration, from flags or a JSON/YAML file with the fields of POST /migrations (flags override the file): a transfer from --source-… to --target-…, or, with --changes-dir, versioned schema changes to one --database of the target',
    )
    .option('-f, --file <path>', 'JSON or YAML file: {id, source: {url, username, password|passwordRef, nativePort}, target: {…}, databases (names or {source, target}), include, exclude, mode, schedule, approvals, options}')
    .option('--id <id>', 'migration id (the API makes one up without it)');
  endpointOptions(cmd, 'source');
  endpointOptions(cmd, 'target');
  cmd
    .option('-d, --database <name>', 'a database to migrate (repeat for several; one with --changes-dir)', collect)
    .option('--changes-dir <dir>', 'apply the versioned SQL files of this folder (numbered, golang-migrate, goose or dbmate) to --database on the target; no --source-… flags')
    .addOption(new Option('--on-failure <policy>', 'with --changes-dir, a failed statement: rollback every table, or stop with the version recorded dirty').choices(['rollback', 'stop']))
    .addOption(new Option('--on-conflict <policy>', 'a table on the target already holds data: fail or replace').choices(['fail', 'replace']))
    .option('--parallelism <n>', 'partitions copied at once (1-16)', integer(1, 16))
    .option('--sync-passes <n>', 'verify-and-recopy passes after the copy (0-10)', integer(0, 10))
    .option('--no-approvals', 'run the steps back to back without approvals (admins only)');
  scopeOptions(cmd);
  return cmd.action(
    action(async (opts: StartFlags & { file?: string; approvals: boolean }, cmd: Command) => {
      const { client, json } = clientOf(cmd);
      const flags: StartFlags = { ...opts, approvalsRequired: cmd.getOptionValueSource('approvals') === 'cli' ? opts.approvals : undefined };
      assertChangesFlags(flags, flags.changesDir !== undefined);
      const file = opts.file === undefined ? undefined : parseStartFile(readText(opts.file), opts.file);
      let changes;
      if (flags.changesDir !== undefined) {
        const read = await readChangesFolder(flags.changesDir);
        process.stderr.write(`${describeChangesRead(flags.changesDir, read)}\n`);
        changes = read.changes;
      }
      const { body, warnings } = buildStartRequest({ flags, file, env: process.env, stdin: await readStdin(flags), changes });
      warnings.forEach(warn);
      const answer = await client.start(body);
      print(json, answer, () => formatStarted(answer, client.baseUrl));
    }),
  );
}

/** What a transfer moves and when: renames, filters, the mode, the schedule and rate limits (see docs/cli-scope.md). */
function scopeOptions(cmd: Command): Command {
  return cmd
    .option('--rename <source=target>', 'copy a source database under another name on the target, e.g. shop=shop_v2 (repeatable; adds the database if not named)', collect)
    .option('--include <glob>', 'only tables whose database.table (source names) matches, e.g. "shop.orders_*" (repeatable)', collect)
    .option('--exclude <glob>', 'leave out tables whose database.table (source names) matches, e.g. "*.tmp_*" (repeatable)', collect)
    .addOption(new Option('--mode <mode>', 'full: objects and rows; schema: objects only; data: rows into tables that exist on the target').choices(TRANSFER_MODES))
    .option('--not-before <time>', 'the migration step starts no earlier than this ISO time, e.g. 2026-12-24T22:00:00Z')
    .option('--window-days <days>', 'days of the maintenance window, e.g. mon,tue or mon-fri')
    .option('--window-start <HH:MM>', 'when the window opens, on the clock of --window-tz')
    .option('--window-duration <duration>', 'how long the window stays open, e.g. 2h, 90m or 7200s')
    .option('--window-tz <zone>', 'IANA time zone of the window, e.g. Europe/Berlin or UTC')
    .addOption(new Option('--on-window-end <policy>', 'a copy still running when the window closes: pause until the next, finish it, or fail').choices(WINDOW_END_POLICIES))
    .option('--max-bytes-per-second <rate>', 'throttle the copy, e.g. 20MiB (powers of 1024) or 20MB (powers of 1000)')
    .option('--max-rows-per-second <rate>', 'throttle the copy in rows, e.g. 50000 or 50k')
    .option('--target-cluster <name>', "the target's cluster (system.clusters): objects are created ON CLUSTER it and Distributed tables read it")
    .option('--zookeeper-path <template>', "template of a target table's ZooKeeper path, e.g. /clickhouse/tables/{shard}/{database}/{table}");
}

/** The package's version, from package.json (two levels up both from src/cli and from dist/cli). */
function packageVersion(): string {
  return (JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
}

/** The command tree; `run` parses argv with it. */
export function buildProgram(): Command {
  const program = new Command('clickhouse-migrator')
    .description('Start, approve and watch ClickHouse migrations through the migrator\'s HTTP API.')
    .version(packageVersion())
    .configureHelp({ showGlobalOptions: true })
    .addOption(new Option('--api-url <url>', 'the API').env('MIGRATOR_API_URL').default(DEFAULT_API_URL))
    .addOption(new Option('--token <token>', 'bearer token (argv lands in shell history: prefer the variable)').env('MIGRATOR_TOKEN'))
    .option('--json', 'print JSON: one document per command, one line per poll for watch')
    .showHelpAfterError('(add --help for usage)')
    .exitOverride()
    .addHelpText(
      'after',
      `
Passwords stay out of shell history with --source-password-stdin,
${PASSWORD_ENV.source} or --source-password-ref (the same for the target).

Exit codes: 0 done (watch: the run completed); 1 watch: the run ended otherwise;
2 bad arguments or file; 3 the API refused the request; 4 the API could not be
reached; 70 a fault of the CLI itself; 130 interrupted.`,
    );

  startCommand(program.command('start'));

  program
    .command('list')
    .description('list migrations, finished ones included')
    .addOption(new Option('--status <status>', 'only runs with this status').choices(MIGRATION_STATUSES))
    .action(
      action(async (opts: { status?: MigrationStatus }, cmd: Command) => {
        const { client, json } = clientOf(cmd);
        const answer = await client.list(opts.status);
        print(json, answer, () => formatList(answer.migrations));
      }),
    );

  program
    .command('status')
    .description('show a migration: status, what it waits for, steps, progress, approvals')
    .argument('<id>', 'migration id')
    .action(
      action(async (id: string, _opts: unknown, cmd: Command) => {
        const { client, json } = clientOf(cmd);
        const state = await client.get(id);
        print(json, state, () => formatState(state, new Date()));
      }),
    );

  decisionCommand(program.command('approve'), 'approve');
  decisionCommand(program.command('reject'), 'reject');

  program
    .command('cancel')
    .description('cancel a running migration: it stops and rolls the target back')
    .argument('<id>', 'migration id')
    .option('--reason <text>', 'why (sent with the request)')
    .action(
      action(async (id: string, opts: { reason?: string }, cmd: Command) => {
        const { client, json } = clientOf(cmd);
        const answer = await client.cancel(id, opts.reason);
        print(json, answer, () => `Cancelling ${id}: the run stops and rolls the target back. Follow it with: clickhouse-migrator watch ${id}`);
      }),
    );

  watchCommand(program.command('watch'));

  return program;
}

/** `approve` and `reject`: the step the run waits for, decided as the token's subject. */
function decisionCommand(cmd: Command, decision: 'approve' | 'reject'): void {
  const approve = decision === 'approve';
  cmd
    .description(approve ? "approve the step a migration waits for (as the token's subject)" : 'reject the step a migration waits for: the run ends as rejected')
    .argument('<id>', 'migration id')
    .addArgument(new Argument('<step>', `the step to ${decision}`).choices(STEPS));
  if (approve) cmd.option('--comment <text>', 'a comment recorded with the approval');
  else cmd.requiredOption('--reason <text>', 'why (recorded in the run)');
  cmd.action(
    action(async (id: string, step: string, opts: { comment?: string; reason?: string }, command: Command) => {
      const { client, json } = clientOf(command);
      const state = approve ? await client.approve(id, step, opts.comment) : await client.reject(id, step, opts.reason as string);
      print(json, state, () => `${approve ? 'Approved' : 'Rejected'} "${step}" of ${id}.\n${formatState(state, new Date())}`);
    }),
  );
}

/** `watch`: polls the run until it ends, as bars on a terminal, lines in a pipe, or JSON lines. */
function watchCommand(cmd: Command): void {
  cmd
    .description('follow a migration until it ends: step, approvals and copy progress; exits non-zero unless it completed')
    .argument('<id>', 'migration id')
    .option('--interval <seconds>', 'time between polls', integer(1, 3600), 1)
    .action(
      action(async (id: string, opts: { interval: number }, command: Command) => {
        const { client, json } = clientOf(command);
        const view = json ? jsonView(process.stdout, process.stderr) : process.stdout.isTTY ? barsView(process.stdout) : plainView(process.stdout, process.stderr);
        const stop = new AbortController();
        const onSignal = () => stop.abort();
        process.once('SIGINT', onSignal);
        process.once('SIGTERM', onSignal);
        try {
          return await watchRun({ client, id, view, intervalMs: opts.interval * 1000, signal: stop.signal });
        } finally {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
        }
      }),
    );
}

/** Parses `argv` and runs the command; sets `process.exitCode`. */
export async function run(argv: string[]): Promise<void> {
  // A reader that went away (`| head`) ends the command quietly, as other command-line tools do.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? EXIT.ok);
    throw err;
  });
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    // Commander has printed its message already (or the help, or the version).
    if (err instanceof CommanderError) process.exitCode = err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    else throw err;
  }
}

if (require.main === module) void run(process.argv);
