import { ApplicationFailure } from '@temporalio/common';
import { describeFailure, MAX_ERROR_TEXT } from '../../src/workflows/failures';

describe('describeFailure', () => {
  it('keeps the type and message of an application failure', () => {
    expect(describeFailure(ApplicationFailure.nonRetryable('the target is not ready', 'TargetNotReady'))).toEqual({ type: 'TargetNotReady', message: 'the target is not ready' });
  });

  it('when a server replied at length, cuts the text the state keeps to a bounded length', () => {
    const described = describeFailure(ApplicationFailure.retryable('x'.repeat(50_000), 'ClickHouseUnavailable'));
    expect(described.message).toHaveLength(MAX_ERROR_TEXT + 1);
    expect(described.message.endsWith('…')).toBe(true);
  });
});
