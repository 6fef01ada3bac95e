import { CHANGES_WORKFLOW_TYPE } from './changes-types';
import { WORKFLOW_TYPE } from './types';

/** The workflow types of runs, both kinds: what the API lists and cancels, the janitor owns scratch to, and metrics count. */
export const RUN_WORKFLOW_TYPES: readonly string[] = [WORKFLOW_TYPE, CHANGES_WORKFLOW_TYPE];

/** A visibility clause that matches runs of either kind. */
export const RUN_TYPES_CLAUSE = `(${RUN_WORKFLOW_TYPES.map((type) => `WorkflowType = '${type}'`).join(' OR ')})`;
