export { clickhouseMigration } from './migration-workflow';
export { schemaChanges } from './schema-changes';
export { migrationJanitor } from './janitor';
export { targetLock } from './target-lock';
export { approveSignal, approveUpdate, rejectSignal, rejectUpdate, stateQuery, tablesQuery } from './messages';
