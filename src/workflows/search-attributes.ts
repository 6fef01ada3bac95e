import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { STATUS_SEARCH_ATTRIBUTE, STEP_SEARCH_ATTRIBUTE } from './types';

/** Typed key of the `MigrationStatus` keyword attribute. */
export const statusKey = defineSearchAttributeKey(STATUS_SEARCH_ATTRIBUTE, SearchAttributeType.KEYWORD);
/** Typed key of the `MigrationStep` keyword attribute. */
export const stepKey = defineSearchAttributeKey(STEP_SEARCH_ATTRIBUTE, SearchAttributeType.KEYWORD);
