import { createLogger, REDACTED, temporalLogger } from '../../src/logging';

/** A logger of the API's configuration whose lines are kept, parsed, in `lines`. */
function capturedLogger(service = 'api') {
  const lines: Record<string, unknown>[] = [];
  const raw: string[] = [];
  const logger = createLogger({
    service,
    level: 'debug',
    destination: {
      write(line: string) {
        raw.push(line);
        lines.push(JSON.parse(line) as Record<string, unknown>);
      },
    },
  });
  return { logger, lines, raw };
}

const PASSWORD = 'hunter2-source-password';
const BEARER = 'Bearer tok-3f9a0c1b2d4e5f60718293a4b5c6d7e8';

describe('the configured logger', () => {
  it('when a password and a bearer token are logged, writes neither: both fields read as redacted', () => {
    const { logger, lines, raw } = capturedLogger();
    logger.info(
      {
        migrationId: 'demo-1',
        source: { url: 'http://127.0.0.1:8123', username: 'default', password: PASSWORD },
        req: { headers: { authorization: BEARER, 'content-type': 'application/json' } },
        token: BEARER.slice('Bearer '.length),
      },
      'request answered',
    );
    expect(raw.join('')).not.toContain(PASSWORD);
    expect(raw.join('')).not.toContain(BEARER.slice('Bearer '.length));
    expect(lines).toEqual([
      expect.objectContaining({
        level: 'info',
        service: 'api',
        msg: 'request answered',
        migrationId: 'demo-1',
        source: { url: 'http://127.0.0.1:8123', username: 'default', password: REDACTED },
        req: { headers: { authorization: REDACTED, 'content-type': 'application/json' } },
        token: REDACTED,
      }),
    ]);
  });

  it('writes one JSON object per line with an ISO time', () => {
    const { logger, lines, raw } = capturedLogger('worker');
    logger.warn('one');
    logger.error({ step: 'backup' }, 'two');
    expect(raw.every((line) => line.endsWith('\n') && line.indexOf('\n') === line.length - 1)).toBe(true);
    expect(lines.map((l) => [l.level, l.service, l.msg])).toEqual([
      ['warn', 'worker', 'one'],
      ['error', 'worker', 'two'],
    ]);
    expect(new Date(String(lines[0].time)).toISOString()).toBe(lines[0].time);
  });
});

describe('the Temporal SDK logger adapter', () => {
  it('names a workflow id as the migration id, its run id as the run id and an activity type as the activity, drops task tokens, and redacts like the logger', () => {
    const { logger, lines, raw } = capturedLogger('worker');
    temporalLogger(logger).info('activity completed', {
      sdkComponent: 'activity',
      workflowId: 'demo-1',
      workflowRunId: 'run-1',
      activityType: 'copyUnits',
      taskToken: 'CiQwMWEy',
      step: 'migration',
      target: { password: PASSWORD },
    });
    temporalLogger(logger).log('DEBUG', 'Workflow started', { workflowId: 'demo-1' });
    expect(raw.join('')).not.toContain(PASSWORD);
    expect(lines).toEqual([
      expect.objectContaining({ level: 'info', msg: 'activity completed', migrationId: 'demo-1', runId: 'run-1', activity: 'copyUnits', step: 'migration', target: { password: REDACTED } }),
      expect.objectContaining({ level: 'debug', msg: 'Workflow started', migrationId: 'demo-1' }),
    ]);
    expect(Object.keys(lines[0]).filter((k) => ['workflowId', 'workflowRunId', 'activityType', 'taskToken'].includes(k))).toEqual([]);
  });

  it('when the SDK logs the worker\'s options (with the payload codec\'s keys), writes none of them', () => {
    const { logger, lines, raw } = capturedLogger('worker');
    const key = Buffer.from('0123456789abcdef0123456789abcdef');
    temporalLogger(logger).debug('Creating worker', { sdkComponent: 'worker', options: { taskQueue: 'q', dataConverter: { payloadCodecs: [{ keyring: { active: { id: 'k1', key } } }] } } });
    logger.info({ codec: { keyring: { active: { id: 'k1', key } } } }, 'keyring nested');
    expect(raw.join('')).not.toContain(JSON.stringify(key.toJSON().data).slice(1, 20));
    expect(lines[0]).toEqual(expect.objectContaining({ msg: 'Creating worker', sdkComponent: 'worker' }));
    expect(lines[0]).not.toHaveProperty('options');
    expect(lines[1]).toEqual(expect.objectContaining({ codec: { keyring: REDACTED } }));
  });
});
