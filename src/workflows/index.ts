export { clickhouseMigration } from './migration-workflow';
export { approveSignal, rejectSignal, stateQuery } from './messages';
