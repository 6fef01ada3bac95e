import { inBatches, initialState, optionalText, signalMismatch } from '../../src/workflows/state';
import type { MigrationInput } from '../../src/workflows/types';

describe('signalMismatch', () => {
  it('when the signal names the step the run waits for, it fits', () => {
    expect(signalMismatch({ step: 'configure' }, 'configure')).toBeNull();
  });

  it('when the signal names another step, the reason names both', () => {
    expect(signalMismatch({ step: 'migration' }, 'configure')).toBe('the run is waiting for approval of "configure", not "migration"');
  });

  it('when the run waits for nothing, or the payload is malformed, it says so', () => {
    expect(signalMismatch({ step: 'configure' }, null)).toMatch(/not waiting/);
    expect(signalMismatch(null, 'configure')).toMatch(/must be one of/);
    expect(signalMismatch({ step: 42 }, 'configure')).toMatch(/must be one of/);
  });
});

describe('state document', () => {
  it('starts with every step pending and empty progress', () => {
    const input = { id: 'm1' } as MigrationInput;
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
