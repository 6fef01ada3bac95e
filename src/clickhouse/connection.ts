import { type Readable } from 'node:stream';
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { toClickHouseQueryError } from './errors';
import { detectServer, type ServerInfo } from './capabilities';
import { quoteString } from './sql';

const DETECTION_TTL_MS = 60_000;
const detected = new Map<string, { at: number; info: Promise<ServerInfo> }>();

/** How to reach a ClickHouse server over HTTP(S), with the password in clear. */
export interface ClickHouseEndpoint {
  url: string;
  username: string;
  password: string;
}

/** ClickHouse settings sent with one statement. */
export type ConnectionSettings = Record<string, string | number>;

/** Options for {@link ClickHouseConnection}. */
export interface ConnectionOptions {
  /** A name for error messages, such as `source` or `target`. */
  label: string;
  /** Every secret of the migration, removed from all error messages. */
  secrets: readonly string[];
  /** HTTP request timeout. @default 3_600_000 (one hour: copies of big partitions are single statements) */
  requestTimeoutMs?: number;
  /** Aborts in-flight requests when it fires (an activity's cancellation). */
  abortSignal?: AbortSignal;
  /**
   * Every statement gets the query id `<prefix><n>`, so that statements still running on the
   * server can be found and stopped (`KILL QUERY`) by that prefix.
   */
  queryIdPrefix?: string;
}

/**
 * One ClickHouse server: runs statements, streams results, and knows the server's version and
 * capabilities (detected once, on first use).
 */
export class ClickHouseConnection {
  readonly client: ClickHouseClient;
  readonly label: string;
  private readonly secrets: readonly string[];
  private readonly abortSignal?: AbortSignal;
  private readonly queryIdPrefix?: string;
  private statements = 0;
  private serverInfo?: Promise<ServerInfo>;

  constructor(readonly endpoint: ClickHouseEndpoint, options: ConnectionOptions) {
    this.label = options.label;
    this.secrets = [endpoint.password, ...options.secrets];
    this.abortSignal = options.abortSignal;
    this.queryIdPrefix = options.queryIdPrefix;
    this.client = createClient({
      url: endpoint.url,
      username: endpoint.username,
      password: endpoint.password,
      request_timeout: options.requestTimeoutMs ?? 3_600_000,
      log: { level: ClickHouseLogLevel.OFF },
      // gzip of a Native stream costs more CPU than the copy itself; results here are small or Native.
      compression: { response: false, request: false },
    });
  }

  /** Runs a SELECT and returns its rows (UInt64 values arrive as strings). */
  async rows<T>(sql: string, settings?: ConnectionSettings): Promise<T[]> {
    return this.wrap(async () => {
      const result = await this.client.query({ query: sql, format: 'JSONEachRow', ...this.requestOptions(), clickhouse_settings: settings });
      return result.json<T>();
    });
  }

  /** Runs a statement that carries its own FORMAT clause and returns its output as text. */
  async text(sql: string): Promise<string> {
    return this.wrap(async () => {
      const { stream } = await this.client.exec({ query: sql, ...this.requestOptions() });
      const chunks: Buffer[] = [];
      for await (const chunk of stream) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    });
  }

  /** Runs a statement that returns no rows. */
  async exec(sql: string, settings?: ConnectionSettings): Promise<void> {
    await this.wrap(() => this.client.command({ query: sql, ...this.requestOptions(), clickhouse_settings: settings }));
  }

  /** Streams the raw result of a statement that carries its own FORMAT clause. */
  async stream(sql: string, settings?: ConnectionSettings): Promise<Readable> {
    return this.wrap(async () => (await this.client.exec({ query: sql, ...this.requestOptions(), clickhouse_settings: settings })).stream);
  }

  /** Runs an INSERT whose data (already in the statement's FORMAT) comes from `values`. */
  async insertStream(sql: string, values: Readable, settings?: ConnectionSettings): Promise<void> {
    await this.wrap(async () => {
      const { stream } = await this.client.exec({ query: sql, values, ...this.requestOptions(), clickhouse_settings: settings });
      for await (const chunk of stream) void chunk;
    });
  }

  /**
   * Version and capabilities, detected once per connection and shared for a minute by every
   * connection of this process to the same server and user (each copy activity opens its own).
   */
  server(): Promise<ServerInfo> {
    const key = `${this.endpoint.url}\u0000${this.endpoint.username}`;
    const cached = detected.get(key);
    if (cached && Date.now() - cached.at < DETECTION_TTL_MS) return cached.info;
    if (!this.serverInfo) {
      const info = this.wrap(() => detectServer(this));
      this.serverInfo = info;
      detected.set(key, { at: Date.now(), info });
      info.catch(() => {
        this.serverInfo = undefined;
        if (detected.get(key)?.info === info) detected.delete(key);
      });
    }
    return this.serverInfo;
  }

  /**
   * Stops, on the server, every statement whose query id starts with `prefix` (and not with
   * `except`): a request aborted by the client does not stop its statement. Runs without the
   * abort signal, since it is what a cancellation calls. With `wait`, returns once they have
   * stopped (`SYNC`): a retry that rewrites what they were writing must not race them.
   */
  async killQueries(prefix: string, except?: string, options: { wait?: boolean } = {}): Promise<void> {
    const keep = except === undefined ? '' : ` AND NOT startsWith(query_id, ${quoteString(except)})`;
    const mode = options.wait ? 'SYNC' : 'ASYNC';
    await this.wrap(() => this.client.command({ query: `KILL QUERY WHERE startsWith(query_id, ${quoteString(prefix)})${keep} ${mode}` }));
  }

  private requestOptions(): { abort_signal?: AbortSignal; query_id?: string } {
    return { abort_signal: this.abortSignal, ...(this.queryIdPrefix ? { query_id: `${this.queryIdPrefix}${++this.statements}` } : {}) };
  }

  async close(): Promise<void> {
    await this.client.close();
  }

  private async wrap<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw toClickHouseQueryError(err, this.label, this.secrets);
    }
  }
}
