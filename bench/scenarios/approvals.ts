/**
 * `approvals`: runs with approvals on, each gate approved through the HTTP API. For every approval:
 * the time from sending `POST /migrations/:id/approve` (this machine's clock) to the start of the
 * next step's first activity (the history's event time, written by the Temporal server on this
 * same machine, so one clock).
 */
import type { StepName } from '../../src/workflows/types';
import { ENDED, expectStatus, pollState } from '../api-client';
import { createItemsDatabase } from '../data';
import { approvalStarts } from '../history';
import { percentile } from '../report';
import type { Scenario } from './scenario';

const RUNS = Number(process.env.BENCH_APPROVAL_RUNS ?? 2);
const GATES: StepName[] = ['configure', 'validation', 'migration'];
interface Approval {
  id: string;
  step: StepName;
  sentAtMs: number;
  responseMs: number;
}

export const approvalsScenario: Scenario = {
  name: 'approvals',
  fields: ['approve_to_start_ms'],
  async run(stack, summary) {
    const api = await stack.api();
    const toStart: number[] = [];
    const acceptedToStart: number[] = [];
    const responses: number[] = [];
    for (let run = 1; run <= RUNS; run++) {
      const id = `bench-approvals-${run}`;
      const database = `bench_approvals_${run}`;
      await createItemsDatabase(stack.source, database, ['a', 'b'], 1000);
      expectStatus(await api.request('operator', 'POST', '/migrations', stack.startRequest(id, [database], true)), 201, `POST /migrations ${id}`);
      const sent: Approval[] = [];
      for (const step of GATES) {
        await pollState(api, id, (s) => s.awaitingApproval?.step === step, `a wait for approval of ${step}`);
        const res = expectStatus(await api.request('approver', 'POST', `/migrations/${id}/approve`, { step, comment: 'bench' }), 202, `approve ${step} of ${id}`);
        sent.push({ id, step, sentAtMs: res.sentAtMs, responseMs: res.ms });
      }
      const final = await pollState(api, id, (s) => ENDED.includes(s.status), 'the end of the run');
      if (final.status !== 'completed') throw new Error(`${id} ended ${final.status}: ${final.error?.message ?? ''}`);
      const starts = approvalStarts(await stack.client.workflow.getHandle(id).fetchHistory());
      if (starts.length !== sent.length) throw new Error(`${id}: ${starts.length} approve Updates accepted in the history, ${sent.length} sent`);
      sent.forEach((approval, i) => {
        const { acceptedMs, activity, activityStartedMs } = starts[i];
        if (activityStartedMs === null) throw new Error(`${id}: no activity started after the approval of ${approval.step}`);
        toStart.push(activityStartedMs - approval.sentAtMs);
        acceptedToStart.push(activityStartedMs - acceptedMs);
        responses.push(approval.responseMs);
        console.log(
          `  ${id} ${approval.step}: POST sent → ${activity} started ${activityStartedMs - approval.sentAtMs} ms ` +
            `(sent → Update accepted ${acceptedMs - approval.sentAtMs} ms, accepted → started ${activityStartedMs - acceptedMs} ms); the POST answered in ${approval.responseMs.toFixed(0)} ms`,
        );
      });
    }
    summary.approve_to_start_ms = percentile(toStart, 50).toFixed(0);
    console.log(
      `approvals: ${toStart.length} approvals, approve_to_start_ms p50 ${summary.approve_to_start_ms} max ${Math.max(...toStart)}; ` +
        `Update accepted → activity started p50 ${percentile(acceptedToStart, 50)} ms; POST answered p50 ${percentile(responses, 50).toFixed(0)} ms   (target ≤ 200)`,
    );
  },
};
