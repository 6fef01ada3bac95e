export { clickhouseMigration } from './migration-workflow';
export { approveSignal, approveUpdate, rejectSignal, rejectUpdate, stateQuery } from './messages';
