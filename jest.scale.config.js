/**
 * `npm run test:scale`: the runs of 10,000 tables and of 100,000 partitions
 * (test/integration/scale.test.ts), against the same real servers as the integration tests.
 */
const base = require('./jest.config');

const integration = base.projects.find((p) => p.displayName === 'integration');

module.exports = {
  ...base,
  projects: [{ ...integration, displayName: 'scale', testMatch: ['<rootDir>/test/integration/scale.test.ts'], testPathIgnorePatterns: ['/node_modules/'] }],
  testTimeout: 60 * 60_000,
};
