import { legacyTargetLockId, lockedResource, serverLockId, targetLockId } from '../../src/workflows/target-lock';
import { decisionRefusal, fourEyesOn, IGNORED_SIGNALS_KEPT, inBatches, initialState, legacyRunKeyOf, optionalText, recordIgnoredSignal, runKeyOf, type GateState } from '../../src/workflows/state';
import type { MigrationInput, MigrationState, StepName } from '../../src/workflows/types';

describe('decisionRefusal', () => {
  const gate = (awaiting: StepName | null, approved: StepName[] = [], barred: string | null = null, rejected: StepName | null = null): GateState => ({
    awaiting,
    approved: new Set(approved),
    barred,
    rejected,
  });

  it('when the decision names the step the run waits for, it fits', () => {
    expect(decisionRefusal({ step: 'configure', by: 'ana' }, gate('configure'))).toBeNull();
  });

  it('when the decision names another step, the reason names both', () => {
    expect(decisionRefusal({ step: 'migration' }, gate('configure'))).toBe('the run is waiting for approval of "configure", not "migration"');
  });

  it('when the step is already approved, it says so, even while the gate is still open', () => {
    expect(decisionRefusal({ step: 'configure' }, gate('configure', ['configure']))).toBe('"configure" is already approved');
    expect(decisionRefusal({ step: 'configure' }, gate('validation', ['configure']))).toBe('"configure" is already approved');
  });

  it('when the run waits for nothing, or the payload is malformed, it says so', () => {
    expect(decisionRefusal({ step: 'configure' }, gate(null))).toMatch(/not waiting/);
    expect(decisionRefusal(null, gate('configure'))).toMatch(/must be one of/);
    expect(decisionRefusal({ step: 42 }, gate('configure'))).toMatch(/must be one of/);
  });

  it('when the starter of the run decides under four eyes, it is refused; anyone else is not', () => {
    expect(decisionRefusal({ step: 'configure', by: 'olga' }, gate('configure', [], 'olga'))).toMatch(/olga.*four eyes/);
    expect(decisionRefusal({ step: 'configure', by: 'ana' }, gate('configure', [], 'olga'))).toBeNull();
  });

  it('when the run was rejected, even while its gate is still open (a decision of the same workflow task), any decision is refused with the rejected step', () => {
    expect(decisionRefusal({ step: 'configure', by: 'ana' }, gate('configure', [], null, 'configure'))).toBe('the run was rejected at step "configure"');
    expect(decisionRefusal({ step: 'validation' }, gate('validation', ['configure'], null, 'validation'))).toBe('the run was rejected at step "validation"');
    expect(decisionRefusal(null, gate('configure', [], null, 'configure'))).toBe('the run was rejected at step "configure"');
  });
});

describe('recordIgnoredSignal', () => {
  const entry = (i: number) => ({ name: 'approve', step: `s${i}`, reason: 'no', at: `t${i}` });

  it('when fewer signals than it keeps are ignored, it lists them all and counts none dropped', () => {
    const state: Pick<MigrationState, 'ignoredSignals' | 'ignoredSignalsDropped'> = { ignoredSignals: [] };
    for (let i = 0; i < IGNORED_SIGNALS_KEPT; i++) recordIgnoredSignal(state, entry(i));
    expect(state.ignoredSignals).toHaveLength(IGNORED_SIGNALS_KEPT);
    expect(state.ignoredSignalsDropped).toBeUndefined();
  });

  it('when 100 signals are ignored, it keeps the latest 20 in order and counts the 80 it let go', () => {
    const state: Pick<MigrationState, 'ignoredSignals' | 'ignoredSignalsDropped'> = { ignoredSignals: [] };
    for (let i = 0; i < 100; i++) recordIgnoredSignal(state, entry(i));
    expect(state.ignoredSignals.map((e) => e.step)).toEqual(Array.from({ length: 20 }, (_, i) => `s${80 + i}`));
    expect(state.ignoredSignalsDropped).toBe(80);
  });
});

describe('fourEyesOn', () => {
  it('is on for runs started by a known subject unless switched off', () => {
    expect(fourEyesOn({ approvals: { required: true }, requestedBy: 'olga' })).toBe(true);
    expect(fourEyesOn({ approvals: { required: true, fourEyes: false }, requestedBy: 'olga' })).toBe(false);
    expect(fourEyesOn({ approvals: { required: true } })).toBe(false);
  });
});

describe('state document', () => {
  it('starts with every step pending and empty progress', () => {
    const input = { id: 'm1', approvals: { required: true } } as MigrationInput;
    const state = initialState(input, 'run-1');
    expect(state.steps.map((s) => [s.name, s.status])).toEqual([
      ['backup', 'pending'],
      ['configure', 'pending'],
      ['validation', 'pending'],
      ['migration', 'pending'],
    ]);
    expect(state).toMatchObject({ id: 'm1', runId: 'run-1', status: 'running', awaitingApproval: null, approvals: [] });
  });

  it('reads optional text fields and ignores other types', () => {
    expect(optionalText({ by: 'ana', comment: 3 }, 'by')).toBe('ana');
    expect(optionalText({ by: 'ana', comment: 3 }, 'comment')).toBeNull();
  });
});

describe('inBatches', () => {
  it('splits 5,000 units into 200 batches of 25, in order', () => {
    const units = Array.from({ length: 5000 }, (_, i) => i);
    const batches = inBatches(units, Math.ceil(units.length / 200));
    expect(batches).toHaveLength(200);
    expect(batches.flat()).toEqual(units);
  });

  it('keeps each unit alone when there are few, and never makes empty batches', () => {
    expect(inBatches([1, 2, 3], Math.ceil(3 / 200))).toEqual([[1], [2], [3]]);
    expect(inBatches([], 5)).toEqual([]);
  });
});

describe('lock ids', () => {
  it('name the target by host and port, so two URLs of one server share a lock, and two servers do not', () => {
    expect(lockedResource('http://CH.example:8123/', 'shop')).toBe('ch.example:8123/shop');
    expect(lockedResource('http://user@ch.example:8123/path?x=1', 'shop')).toBe('ch.example:8123/shop');
    expect(lockedResource('https://ch.example', 'shop')).toBe('ch.example:443/shop');
    expect(lockedResource('http://[::1]:8124', 'shop')).toBe('[::1]:8124/shop');
    expect(targetLockId('http://CH.example:8123/', 'shop')).toBe(targetLockId('http://user@ch.example:8123/path?x=1', 'shop'));
    expect(targetLockId('http://ch.example:8124', 'shop')).not.toBe(targetLockId('http://ch.example:8123', 'shop'));
    expect(legacyTargetLockId('http://CH.example:8123/', 'shop')).toBe('migration-lock:ch.example:8123/shop');
  });

  it('show neither the server nor the database (workflow ids are not encrypted)', () => {
    const id = targetLockId('http://ch.example:8123', 'shop');
    expect(id).toMatch(/^migration-lock-[0-9a-f]{16}$/);
    expect(id).not.toMatch(/ch\.example|shop|8123/);
  });

  it('of a server that said who it is name it by its id, whatever URL reached it, and hide the id and the database', () => {
    const id = serverLockId('5b0c7a4e-1f7e-4a51-9d43-0e6f2f1f8a10', 'shop');
    expect(id).toMatch(/^migration-lock-[0-9a-f]{16}$/);
    expect(id).not.toMatch(/5b0c7a4e|shop/);
    expect(serverLockId('5b0c7a4e-1f7e-4a51-9d43-0e6f2f1f8a10', 'shop')).toBe(id);
    expect(serverLockId('5b0c7a4e-1f7e-4a51-9d43-0e6f2f1f8a10', 'shop2')).not.toBe(id);
    expect(serverLockId('another-server', 'shop')).not.toBe(id);
  });

  it('differ for every database of a large estate', () => {
    const ids = new Set(Array.from({ length: 20_000 }, (_, i) => targetLockId('http://127.0.0.1:8123', `db_${i}`)));
    expect(ids.size).toBe(20_000);
  });
});

describe('run keys', () => {
  // Two version 7 run ids of one millisecond: the same timestamp, the same 12 bits of rand_a.
  const first = '01a25194-cde8-7002-8488-fd7ac16ff3ce';
  const second = '01a25194-cde8-7002-b920-041f6178f327';

  it('when two runs start in one millisecond, their keys differ: the key is the random end of the run id', () => {
    expect(runKeyOf(first)).toBe('8488fd7ac16ff3ce');
    expect(runKeyOf(second)).not.toBe(runKeyOf(first));
  });

  it('runs from before the patch keep the key they named their objects by, which such runs could share', () => {
    expect(legacyRunKeyOf(first)).toBe('01a25194cde87002');
    expect(legacyRunKeyOf(second)).toBe(legacyRunKeyOf(first));
  });
});
