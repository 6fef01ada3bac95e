/**
 * What a workflow history says about a run: its length and size, what kinds of events fill it,
 * the failures recorded in it, and when each approval's next activity started.
 */
import type { Client } from '@temporalio/client';
import { decodeOptionalFailureToOptionalError } from '@temporalio/common/lib/internal-non-workflow';
import { tsToMs } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';

type History = temporal.api.history.v1.IHistory;
type HistoryEvent = temporal.api.history.v1.IHistoryEvent;
const { EventType } = temporal.api.enums.v1;

/** `activity_task_started` for `EVENT_TYPE_ACTIVITY_TASK_STARTED`. */
export function eventTypeName(event: HistoryEvent): string {
  return (EventType[event.eventType ?? 0] ?? String(event.eventType)).replace(/^EVENT_TYPE_/, '').toLowerCase();
}

export const eventTimeMs = (event: HistoryEvent): number => tsToMs(event.eventTime);

export interface HistoryFigures {
  events: number;
  /** The history as protobuf, as the server stores it (payloads encrypted). */
  bytes: number;
  /** Events by type, most frequent first. */
  counts: [string, number][];
  /** The biggest event; for a completed activity, with the activity's type. */
  largestEvent: { type: string; bytes: number };
  firstEventMs: number;
  lastEventMs: number;
  /** When a cancellation of the run was requested (the first request), or null. */
  cancelRequestedMs: number | null;
  /** Failures recorded in the history (workflow tasks, activities), decoded, with how often each occurred. */
  failures: { kind: string; message: string; times: number }[];
  /** Per activity type, most running time first: how many ran, and their summed waiting and running times. */
  activities: ActivityTimes[];
  /** Every workflow task and activity, in order, with its times from the first event (`BENCH_TIMELINE=1` prints it). */
  timeline: { what: string; scheduledMs: number; startedMs: number; closedMs: number }[];
}

export interface ActivityTimes {
  type: string;
  count: number;
  /** From scheduled to started (the last attempt's start), summed. */
  queuedMs: number;
  /** From started to closed, summed. */
  runningMs: number;
}

const WORKFLOW_TASK = 'workflow task';

/** Workflow tasks and activities from scheduled to closed (the last attempt's start), as offsets from the history's first event. */
function timelineOf(events: readonly HistoryEvent[]): HistoryFigures['timeline'] {
  if (events.length === 0) return [];
  const first = eventTimeMs(events[0]);
  const open = new Map<string, { what: string; scheduledMs: number; startedMs: number; closedMs: number }>();
  const timeline: HistoryFigures['timeline'] = [];
  for (const event of events) {
    const at = eventTimeMs(event) - first;
    const id = String(event.eventId);
    if (event.activityTaskScheduledEventAttributes) open.set(id, { what: event.activityTaskScheduledEventAttributes.activityType?.name ?? '?', scheduledMs: at, startedMs: Number.NaN, closedMs: Number.NaN });
    if (event.workflowTaskScheduledEventAttributes) open.set(id, { what: WORKFLOW_TASK, scheduledMs: at, startedMs: Number.NaN, closedMs: Number.NaN });
    const started = event.activityTaskStartedEventAttributes ?? event.workflowTaskStartedEventAttributes;
    const entry = started ? open.get(String(started.scheduledEventId)) : undefined;
    if (entry) entry.startedMs = at;
    const closed =
      event.activityTaskCompletedEventAttributes ?? event.activityTaskFailedEventAttributes ?? event.activityTaskTimedOutEventAttributes ??
      event.workflowTaskCompletedEventAttributes ?? event.workflowTaskFailedEventAttributes ?? event.workflowTaskTimedOutEventAttributes;
    const done = closed ? open.get(String(closed.scheduledEventId)) : undefined;
    if (done) {
      done.closedMs = at;
      timeline.push(done);
    }
  }
  return timeline.sort((a, b) => a.scheduledMs - b.scheduledMs);
}

/** How long the activities of a timeline waited for a worker and ran, by type. */
function activityTimes(timeline: HistoryFigures['timeline']): ActivityTimes[] {
  const byType = new Map<string, ActivityTimes>();
  for (const t of timeline) {
    if (t.what === WORKFLOW_TASK || Number.isNaN(t.startedMs)) continue;
    const times = byType.get(t.what) ?? { type: t.what, count: 0, queuedMs: 0, runningMs: 0 };
    times.count += 1;
    times.queuedMs += t.startedMs - t.scheduledMs;
    times.runningMs += t.closedMs - t.startedMs;
    byType.set(t.what, times);
  }
  return [...byType.values()].sort((a, b) => b.runningMs - a.runningMs);
}

function failureOf(event: HistoryEvent): { kind: string; failure: temporal.api.failure.v1.IFailure | null | undefined; cause?: string } | null {
  if (event.workflowTaskFailedEventAttributes) {
    const attributes = event.workflowTaskFailedEventAttributes;
    const cause = temporal.api.enums.v1.WorkflowTaskFailedCause[attributes.cause ?? 0];
    return { kind: 'workflow task failed', failure: attributes.failure, cause };
  }
  if (event.activityTaskFailedEventAttributes) return { kind: 'activity failed', failure: event.activityTaskFailedEventAttributes.failure };
  if (event.activityTaskTimedOutEventAttributes) return { kind: 'activity timed out', failure: event.activityTaskTimedOutEventAttributes.failure };
  if (event.workflowExecutionFailedEventAttributes) return { kind: 'workflow failed', failure: event.workflowExecutionFailedEventAttributes.failure };
  if (event.workflowExecutionTerminatedEventAttributes) {
    return { kind: 'workflow terminated', failure: { message: event.workflowExecutionTerminatedEventAttributes.reason ?? '' } };
  }
  return null;
}

/** Length, size, event kinds and decoded failures of a fetched history. */
export async function historyFigures(client: Client, history: History): Promise<HistoryFigures> {
  const events = history.events ?? [];
  const counts = new Map<string, number>();
  let largestEvent = { type: '-', bytes: 0 };
  const failures = new Map<string, { kind: string; message: string; times: number }>();
  const activityTypes = new Map<string, string>();
  for (const event of events) {
    const scheduled = event.activityTaskScheduledEventAttributes;
    if (scheduled) activityTypes.set(String(event.eventId), scheduled.activityType?.name ?? '?');
    const type = eventTypeName(event);
    counts.set(type, (counts.get(type) ?? 0) + 1);
    const bytes = temporal.api.history.v1.HistoryEvent.encode(event).finish().byteLength;
    if (bytes > largestEvent.bytes) {
      const completed = event.activityTaskCompletedEventAttributes;
      largestEvent = { type: completed ? `${type} (${activityTypes.get(String(completed.scheduledEventId)) ?? '?'})` : type, bytes };
    }
    const failed = failureOf(event);
    if (!failed) continue;
    let message = failed.failure?.message ?? '';
    try {
      const error = await decodeOptionalFailureToOptionalError(client.options.loadedDataConverter, failed.failure);
      if (error) message = error.message + (error.cause instanceof Error ? `: ${error.cause.message}` : '');
    } catch {
      // left as recorded
    }
    message = `${failed.cause ? `${failed.cause}: ` : ''}${message}`.slice(0, 600);
    const key = `${failed.kind}\u0000${message}`;
    const seen = failures.get(key) ?? { kind: failed.kind, message, times: 0 };
    seen.times += 1;
    failures.set(key, seen);
  }
  const timeline = timelineOf(events);
  const cancelRequested = events.find((e) => e.workflowExecutionCancelRequestedEventAttributes);
  return {
    events: events.length,
    bytes: temporal.api.history.v1.History.encode(history).finish().byteLength,
    counts: [...counts].sort((a, b) => b[1] - a[1]),
    largestEvent,
    firstEventMs: events.length ? eventTimeMs(events[0]) : Number.NaN,
    lastEventMs: events.length ? eventTimeMs(events[events.length - 1]) : Number.NaN,
    cancelRequestedMs: cancelRequested ? eventTimeMs(cancelRequested) : null,
    failures: [...failures.values()],
    activities: activityTimes(timeline),
    timeline,
  };
}

/** One accepted `approve` Update, and the first activity the run started after it. */
export interface ApprovalStart {
  acceptedMs: number;
  activity: string | null;
  activityStartedMs: number | null;
}

/**
 * For every accepted `approve` Update, in order: when the server accepted it, and when the first
 * activity scheduled after it started (both from the history's event times).
 */
export function approvalStarts(history: History): ApprovalStart[] {
  const events = history.events ?? [];
  const startedBySchedule = new Map<string, HistoryEvent>();
  for (const event of events) {
    const started = event.activityTaskStartedEventAttributes;
    if (started) startedBySchedule.set(String(started.scheduledEventId), event);
  }
  const starts: ApprovalStart[] = [];
  events.forEach((event, index) => {
    const accepted = event.workflowExecutionUpdateAcceptedEventAttributes;
    if (!accepted || accepted.acceptedRequest?.input?.name !== 'approve') return;
    const scheduled = events.slice(index + 1).find((e) => e.activityTaskScheduledEventAttributes);
    const started = scheduled ? startedBySchedule.get(String(scheduled.eventId)) : undefined;
    starts.push({
      acceptedMs: eventTimeMs(event),
      activity: scheduled?.activityTaskScheduledEventAttributes?.activityType?.name ?? null,
      activityStartedMs: started ? eventTimeMs(started) : null,
    });
  });
  return starts;
}
