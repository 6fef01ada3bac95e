/**
 * Workflow interceptors the worker bundles with the workflows (`interceptors.workflowModules`).
 * They observe a migration without changing what it does: no commands are added, so histories
 * replay as before. This is workflow code: it imports only the workflow SDK and pure modules.
 */
import { defaultPayloadConverter } from '@temporalio/common';
import {
  metricMeter,
  workflowInfo,
  type Next,
  type WorkflowExecuteInput,
  type WorkflowInboundCallsInterceptor,
  type WorkflowInterceptorsFactory,
  type WorkflowOutboundCallsInterceptor,
} from '@temporalio/workflow';
import { STEP_HEADER, WORKER_METRICS } from './telemetry-names';
import { stepKey } from './search-attributes';
import { RUN_WORKFLOW_TYPES } from './run-types';
import type { StepState } from './types';

/** The run's current step, as its `MigrationStep` search attribute says. */
function currentStep(): string | undefined {
  const step = workflowInfo().typedSearchAttributes.get(stepKey);
  return typeof step === 'string' ? step : undefined;
}

/** Puts the step on every workflow log line, and on every activity the run schedules (as a header). */
const stepContext: WorkflowOutboundCallsInterceptor = {
  getLogAttributes(input, next) {
    const step = currentStep();
    return next(step ? { ...input, step } : input);
  },
  scheduleActivity(input, next) {
    const step = currentStep();
    return next(step ? { ...input, headers: { ...input.headers, [STEP_HEADER]: defaultPayloadConverter.toPayload(step) } } : input);
  },
};

/** Seconds from a step's start to its end, or null while either is unknown. */
function stepSeconds(step: Pick<StepState, 'startedAt' | 'finishedAt'>): number | null {
  if (!step.startedAt || !step.finishedAt) return null;
  return (Date.parse(step.finishedAt) - Date.parse(step.startedAt)) / 1000;
}

/** When a run returns its state, records how long each of its steps took (metrics are not emitted on replay). */
const stepDurations: WorkflowInboundCallsInterceptor = {
  async execute(input: WorkflowExecuteInput, next: Next<WorkflowInboundCallsInterceptor, 'execute'>) {
    const result = await next(input);
    const steps = (result as { steps?: StepState[] } | undefined)?.steps;
    if (Array.isArray(steps)) {
      const histogram = metricMeter.createHistogram(WORKER_METRICS.stepDuration, 'float', 's', 'How long each step of a finished run took, from its start to its end, by step and status.');
      for (const step of steps) {
        const seconds = stepSeconds(step);
        if (seconds !== null) histogram.record(seconds, { step: step.name, status: step.status });
      }
    }
    return result;
  },
};

export const interceptors: WorkflowInterceptorsFactory = () =>
  RUN_WORKFLOW_TYPES.includes(workflowInfo().workflowType) ? { inbound: [stepDurations], outbound: [stepContext] } : {};
