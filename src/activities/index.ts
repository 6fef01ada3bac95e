import { createBackupActivities } from './backup';
import { createChangesActivities } from './changes';
import { createConfigureActivities } from './configure';
import { createIdentityActivities } from './identity';
import { createJanitorActivities } from './janitor';
import type { ActivityDeps } from './context';
import { createReplicaHealthActivities } from './replica-health';
import { createScopeActivities } from './scope';
import { createTransferActivities } from './transfer';
import { createValidationActivities } from './validation';

export type { ActivityDeps } from './context';

/** Every activity the workflows call (transfers and schema changes), bound to the worker's dependencies. */
export function createMigrationActivities(deps: ActivityDeps) {
  return {
    ...createBackupActivities(deps),
    ...createConfigureActivities(deps),
    ...createValidationActivities(deps),
    ...createTransferActivities(deps),
    ...createJanitorActivities(deps),
    ...createChangesActivities(deps),
    ...createIdentityActivities(deps),
    ...createScopeActivities(deps),
    ...createReplicaHealthActivities(deps),
  };
}

export type MigrationActivities = ReturnType<typeof createMigrationActivities>;
