/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ['@swc/jest'] },
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  globalSetup: '<rootDir>/test/integration/global-setup.ts',
  globalTeardown: '<rootDir>/test/integration/global-teardown.ts',
  testTimeout: 180_000,
  // One file at a time: the files share one Temporal server, two ClickHouse servers and the task
  // queue, and a worker of one file must not pick up (or hide the loss of) another's runs.
  maxWorkers: 1,
};
