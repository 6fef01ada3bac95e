/** @type {import('jest').Config} */
const shared = {
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ['@swc/jest'] },
};

module.exports = {
  projects: [
    // Pure logic: no server, no global setup. `npm run test:unit` runs these alone.
    { ...shared, displayName: 'unit', testMatch: ['<rootDir>/test/unit/**/*.test.ts'] },
    // Real servers: the global setup starts a Temporal dev server and two ClickHouse servers.
    {
      ...shared,
      displayName: 'integration',
      testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
      // The runs of 10,000 tables and 100,000 partitions take many minutes: `npm run test:scale`.
      testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/integration/scale\\.test\\.ts$'],
      globalSetup: '<rootDir>/test/integration/global-setup.ts',
      globalTeardown: '<rootDir>/test/integration/global-teardown.ts',
    },
  ],
  testTimeout: 180_000,
  // One file at a time: the integration files share one Temporal server, two ClickHouse servers
  // and the task queue, and a worker of one file must not pick up (or hide the loss of) another's runs.
  maxWorkers: 1,
};
