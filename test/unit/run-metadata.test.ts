import { endpointAddress, runDetails, runSummary } from '../../src/temporal';

const input = {
  source: { url: 'http://ingest:s3cret@10.0.0.5:8123/?database=x', username: 'ingest', password: null },
  target: { url: 'https://ch.example:8443', username: 'admin', password: null },
  databases: ['shop', 'logs_raw', 'a`b*c', 'metrics', 'audit'],
  approvals: { required: true, fourEyes: true },
  requestedBy: 'ana',
  options: { onConflict: 'fail' as const, parallelism: 2, syncPasses: 3 },
};

describe('a run\'s Web UI summary and details', () => {
  it('the summary names source and target by host:port and the first databases, escaped for markdown', () => {
    expect(runSummary(input)).toBe('10.0.0.5:8123 → ch.example:8443: shop, logs\\_raw, a\\`b\\*c and 2 more');
  });

  it('the details say who started the run, what it moves and how, and hold no credential', () => {
    const details = runDetails(input);
    expect(details).toContain('Started by **ana**');
    expect(details).toContain('- **Databases:** shop, logs\\_raw, a\\`b\\*c, metrics, audit');
    expect(details).toContain('- **Approvals:** required before each step, never from the starter (four eyes)');
    expect(details).toContain('- **Options:** on conflict: fail, parallelism: 2, sync passes: 3');
    expect(details).not.toMatch(/s3cret|ingest|admin/);
  });

  it('an address without a port gets the scheme\'s', () => {
    expect([endpointAddress('http://ch.local'), endpointAddress('https://ch.local/')]).toEqual(['ch.local:80', 'ch.local:443']);
  });
});
