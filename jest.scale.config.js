/**
 * `npm run test:scale`: the runs of 10,000 tables and of one table of many partitions (SCALE_PARTITIONS, 30,000 by default)
 * (test/integration/scale.test.ts), against the same real servers as the integration tests.
 */
const base = require('./jest.config');

const integration = base.projects.find((p) => p.displayName === 'integration');

module.exports = {
  ...base,
  projects: [{ ...integration, displayName: 'scale', testMatch: ['<rootDir>/test/integration/scale.test.ts'], testPathIgnorePatterns: ['/node_modules/'] }],
  testTimeout: 60 * 60_000,
};
