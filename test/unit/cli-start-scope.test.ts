import { UsageError } from '../../src/cli/exit-codes';
import { buildStartRequest, parseStartFile, type StartFlags } from '../../src/cli/start-file';
import { parseByteRate, parseDuration, parseRowRate, parseWeekdays } from '../../src/cli/start-scope';

const fromFlags = (flags: StartFlags, file?: unknown) => buildStartRequest({ flags, file, env: {} }).body as Record<string, unknown>;

const SCOPE_FILE = `
source: { url: "http://source:8123" }
target: { url: "http://target:8123" }
databases:
  - demo
  - { source: shop, target: shop_v2 }
exclude: ["demo.tmp_*"]
mode: data
schedule:
  notBefore: "2030-01-01T00:00:00Z"
  window: { days: [sat, sun], start: "01:00", durationSeconds: 4h, timeZone: UTC }
  onWindowEnd: finish
options:
  parallelism: 4
  maxBytesPerSecond: 20MiB
  maxRowsPerSecond: 50k
`;

describe('the scope of a transfer from the start file', () => {
  it('takes databases entries as {source, target}, the filters, mode and schedule as given, and rates and durations with units', () => {
    const body = fromFlags({}, parseStartFile(SCOPE_FILE, 'run.yaml'));
    expect(body).toEqual({
      source: { url: 'http://source:8123' },
      target: { url: 'http://target:8123' },
      databases: ['demo', { source: 'shop', target: 'shop_v2' }],
      exclude: ['demo.tmp_*'],
      mode: 'data',
      schedule: { notBefore: '2030-01-01T00:00:00Z', window: { days: ['sat', 'sun'], start: '01:00', durationSeconds: 4 * 3600, timeZone: 'UTC' }, onWindowEnd: 'finish' },
      options: { parallelism: 4, maxBytesPerSecond: 20 * 2 ** 20, maxRowsPerSecond: 50_000 },
    });
  });

  it('when the file is JSON with numbers, they are sent as they are', () => {
    const file = parseStartFile('{"databases":["a"],"options":{"maxBytesPerSecond":1048576},"schedule":{"window":{"durationSeconds":60}}}', 'run.json');
    expect(fromFlags({}, file)).toMatchObject({ options: { maxBytesPerSecond: 1_048_576 }, schedule: { window: { durationSeconds: 60 } } });
  });

  it('when a value with units in the file cannot be read, it says which field', () => {
    expect(() => fromFlags({}, { options: { maxBytesPerSecond: '20M' } })).toThrow(/options\.maxBytesPerSecond in the start file "20M" is not a rate in bytes/);
    expect(() => fromFlags({}, { schedule: { window: { durationSeconds: 'two hours' } } })).toThrow(/schedule\.window\.durationSeconds/);
  });
});

describe('the scope flags of start', () => {
  it('when every scope field comes from flags, the body has the API shape', () => {
    const body = fromFlags({
      database: ['demo', 'logs'],
      rename: ['demo=demo_v2'],
      include: ['demo.*', 'logs.events'],
      exclude: ['demo.tmp_*'],
      mode: 'schema',
      notBefore: '2030-01-01T22:00:00+01:00',
      windowDays: 'mon,tue',
      windowStart: '22:00',
      windowDuration: '2h',
      windowTz: 'Europe/Berlin',
      onWindowEnd: 'pause',
      maxBytesPerSecond: '20MiB',
      maxRowsPerSecond: '100000',
    });
    expect(body).toEqual({
      databases: [{ source: 'demo', target: 'demo_v2' }, 'logs'],
      include: ['demo.*', 'logs.events'],
      exclude: ['demo.tmp_*'],
      mode: 'schema',
      schedule: { notBefore: '2030-01-01T22:00:00+01:00', window: { days: ['mon', 'tue'], start: '22:00', durationSeconds: 7200, timeZone: 'Europe/Berlin' }, onWindowEnd: 'pause' },
      options: { maxBytesPerSecond: 20_971_520, maxRowsPerSecond: 100_000 },
    });
  });

  it('when a rename names a database not listed, it is added; a rename of a file entry replaces it', () => {
    expect(fromFlags({ rename: ['shop=shop_v2'] }).databases).toEqual([{ source: 'shop', target: 'shop_v2' }]);
    const file = parseStartFile(SCOPE_FILE, 'run.yaml');
    expect(fromFlags({ rename: ['shop=shop_v3', 'demo=demo_v2', 'logs=logs_old'] }, file).databases).toEqual([
      { source: 'demo', target: 'demo_v2' },
      { source: 'shop', target: 'shop_v3' },
      { source: 'logs', target: 'logs_old' },
    ]);
  });

  it('when flags and a file are both given, each flag overrides its field and the rest of the file stays', () => {
    const file = parseStartFile(SCOPE_FILE, 'run.yaml');
    const body = fromFlags({ exclude: ['*.tmp'], mode: 'full', windowStart: '02:30', windowTz: 'Europe/Berlin', maxBytesPerSecond: '1GB' }, file);
    expect(body).toMatchObject({
      databases: ['demo', { source: 'shop', target: 'shop_v2' }],
      exclude: ['*.tmp'],
      mode: 'full',
      schedule: { notBefore: '2030-01-01T00:00:00Z', window: { days: ['sat', 'sun'], start: '02:30', durationSeconds: 4 * 3600, timeZone: 'Europe/Berlin' }, onWindowEnd: 'finish' },
      options: { parallelism: 4, maxBytesPerSecond: 1e9, maxRowsPerSecond: 50_000 },
    });
    expect(body).not.toHaveProperty('include');
  });

  it('when the target is a cluster, the replication flags set replication and keep the rest of it from the file', () => {
    const file = parseStartFile('replication: { zooKeeperPath: "/zk/{database}/{table}", maxQueue: 10 }', 'run.yaml');
    expect(fromFlags({ targetCluster: 'target_replicas' }, file).replication).toEqual({ cluster: 'target_replicas', zooKeeperPath: '/zk/{database}/{table}', maxQueue: 10 });
    expect(fromFlags({ zookeeperPath: '/ch/{shard}/{database}/{table}' }).replication).toEqual({ zooKeeperPath: '/ch/{shard}/{database}/{table}' });
  });

  it('when no scope flag is given, the body has no scope field (the API keeps its defaults)', () => {
    expect(fromFlags({ database: ['a'] })).toEqual({ databases: ['a'] });
  });

  it('when a rename is not source=target, it is a usage error that shows the form', () => {
    for (const bad of ['shop', '=shop_v2', 'shop=']) expect(() => fromFlags({ rename: [bad] })).toThrow(new UsageError(`--rename "${bad}" must be source=target, e.g. --rename shop=shop_v2`));
  });

  it('with --changes-dir, the scope flags of a transfer are refused by name', () => {
    const changes = [{ version: '001', name: 'a', sql: 'SELECT 1' }];
    expect(() => buildStartRequest({ flags: { database: ['shop'], rename: ['a=b'], maxBytesPerSecond: '1MiB', windowDays: 'mon' }, env: {}, changes })).toThrow(
      /leave out --rename, --window-days, --max-bytes-per-second/,
    );
  });
});

describe('values with units', () => {
  it('reads byte rates in decimal and binary units, with or without /s', () => {
    expect(['1048576', '20MiB', '20 MiB/s', '20mib', '1.5GiB', '20MB', '3kb', '2TiB', '512B'].map((v) => parseByteRate(v, '--x'))).toEqual([
      1_048_576, 20_971_520, 20_971_520, 20_971_520, 1_610_612_736, 20_000_000, 3000, 2 * 2 ** 40, 512,
    ]);
    for (const bad of ['20M', 'fast', '-1MiB', '', '20 MiBps']) expect(() => parseByteRate(bad, '--max-bytes-per-second')).toThrow(/--max-bytes-per-second .* 20MiB \(20 × 2\^20\), 20MB/);
  });

  it('reads row rates with k, M, G', () => {
    expect(['50000', '50k', '1.5M', '2G', '10/s'].map((v) => parseRowRate(v, '--x'))).toEqual([50_000, 50_000, 1_500_000, 2e9, 10]);
    expect(() => parseRowRate('50 rows', '--max-rows-per-second')).toThrow(/not a number of rows/);
  });

  it('reads durations as plain seconds or days, hours, minutes and seconds', () => {
    expect(['7200', '2h', '7200s', '90m', '1h30m', '1d', '1h 0m 5s', '0'].map((v) => parseDuration(v, '--x'))).toEqual([7200, 7200, 7200, 5400, 5400, 86_400, 3605, 0]);
    for (const bad of ['', 'h', '2 hours', '30m2h', '-5']) expect(() => parseDuration(bad, '--window-duration')).toThrow(/--window-duration .* is not a duration/);
  });

  it('reads days as a list or a range, wrapping past Sunday; unknown single days go on for the API to name', () => {
    expect(parseWeekdays('mon,tue', '--x')).toEqual(['mon', 'tue']);
    expect(parseWeekdays('Mon-Fri', '--x')).toEqual(['mon', 'tue', 'wed', 'thu', 'fri']);
    expect(parseWeekdays('fri-mon, wed', '--x')).toEqual(['fri', 'sat', 'sun', 'mon', 'wed']);
    expect(parseWeekdays('monday', '--x')).toEqual(['monday']);
    expect(() => parseWeekdays('mon-funday', '--window-days')).toThrow(/--window-days: "mon-funday" is not a range/);
    expect(() => parseWeekdays(' , ', '--window-days')).toThrow(/names no day/);
  });
});
