/**
 * The servers that the jest globalSetup started for this test run. The setup publishes them in
 * `process.env.MIGRATOR_TEST_STACK` (as JSON), which jest's worker processes inherit.
 */
export interface TestClickHouse {
  /** HTTP URL, e.g. http://127.0.0.1:40123 */
  url: string;
  username: string;
  password: string;
  /** Native-protocol port (for remote()). */
  nativePort: number;
}

export interface TestStack {
  /** Temporal frontend, host:port. */
  temporalAddress: string;
  temporalUiUrl: string;
  /** The Web UI's codec endpoint is `http://127.0.0.1:<apiPort>/codec/t/<viewerToken>`: the Web UI test serves it. */
  uiCodec: { apiPort: number; viewerToken: string };
  source: TestClickHouse;
  target: TestClickHouse;
}

export const STACK_ENV = 'MIGRATOR_TEST_STACK';

export function testStack(): TestStack {
  const raw = process.env[STACK_ENV];
  if (!raw) throw new Error(`${STACK_ENV} is not set: run integration tests through jest (globalSetup starts the servers)`);
  return JSON.parse(raw) as TestStack;
}
