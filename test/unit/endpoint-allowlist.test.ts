import { AllowlistError, parseAllowlist, refusedAddress } from '../../src/endpoint-allowlist';

describe('the endpoint allowlist', () => {
  it('allows every server by default (*)', () => {
    expect(parseAllowlist('*')('ch.example', 8123)).toBe(true);
  });

  it('allows the listed hosts, on one port or on any, and nothing else', () => {
    const allow = parseAllowlist('127.0.0.1:*, CH.example:8443, [::1]:9000');
    expect([allow('127.0.0.1', 1), allow('ch.example', 8443), allow('[::1]', 9000)]).toEqual([true, true, true]);
    expect([allow('ch.example', 8123), allow('127.0.0.2', 8123), allow('[::1]', 9001)]).toEqual([false, false, false]);
  });

  it('when an entry is not host:port, host:* or *, says which', () => {
    expect(() => parseAllowlist('127.0.0.1')).toThrow(AllowlistError);
    expect(() => parseAllowlist('127.0.0.1:*,ch example:1')).toThrow(/"ch example:1"/);
  });

  it('checks the native port too: the target reaches the source there with remote()', () => {
    const allow = parseAllowlist('127.0.0.1:8123');
    expect(refusedAddress(allow, { url: 'http://127.0.0.1:8123' })).toBeNull();
    expect(refusedAddress(allow, { url: 'http://127.0.0.1:8123', nativePort: 9000 })).toBe('127.0.0.1:9000');
    expect(refusedAddress(allow, { url: 'https://ch.example' })).toBe('ch.example:443');
  });
});
