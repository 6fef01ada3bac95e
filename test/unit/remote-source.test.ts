import { ApplicationFailure } from '@temporalio/activity';
import { passwordResolver, SecretNotForServerError } from '../../src/activities/password-refs';
import { remoteSource } from '../../src/activities/remote';
import type { ClickHouseConnection } from '../../src/clickhouse/connection';
import { parseAllowlist } from '../../src/endpoint-allowlist';
import { keyringOf } from '../../src/secrets';
import type { EndpointRef } from '../../src/workflows/types';

/**
 * Stand-ins for the two connections: a target that offers remote() and keeps statements out of
 * its log, and a source (18.16-like) that cannot name its native port. Every statement is recorded.
 */
function servers() {
  const sent: string[] = [];
  const target = {
    endpoint: { url: 'http://ch-target:8123', username: 'default', password: 't' },
    server: async () => ({ version: '18.16.1', capabilities: { remote: true, remoteSecure: true, unloggedStatements: true } }),
    exec: async (sql: string) => void sent.push(sql),
    rows: async (sql: string) => (sent.push(sql), []),
  } as unknown as ClickHouseConnection;
  const source = {
    endpoint: { url: 'http://ch-source:8123', username: 'reader', password: 'the-password' },
    rows: async () => [],
  } as unknown as ClickHouseConnection;
  return { source, target, sent };
}

const keyring = keyringOf('unit tests of remoteSource, no sealed passwords');
const sourceRef: EndpointRef = { url: 'http://ch-source:8123', username: 'reader', password: null, passwordRef: 'orders-ro' };
const declared = (list: string) => passwordResolver({ env: { MIGRATOR_PASSWORD_ORDERS_RO: 'the-password', MIGRATOR_PASSWORD_ORDERS_RO_SERVERS: list } });

describe('the native address remote() is given', () => {
  it('when the request names no native port, the one beside the HTTP port is checked against the secret all the same', async () => {
    const { source, target, sent } = servers();
    const passwords = declared('ch-source:8123, ch-target:8123');
    const attempt = remoteSource({ keyring, passwords }, source, target, sourceRef);
    await expect(attempt).rejects.toThrow(SecretNotForServerError);
    await expect(attempt).rejects.toThrow(/"orders-ro" may not be sent to ch-source:9000 \(the source's native port, which the target reaches with remote\(\)\)/);
    expect(sent).toEqual([]);
  });

  it('is checked against the endpoint allowlist, for a sealed password too', async () => {
    const { source, target } = servers();
    const attempt = remoteSource({ keyring, allowEndpoint: parseAllowlist('ch-source:8123,ch-target:8123') }, source, target, { ...sourceRef, passwordRef: undefined });
    await expect(attempt).rejects.toThrow(ApplicationFailure);
    await expect(attempt).rejects.toMatchObject({ type: 'EndpointNotAllowed', nonRetryable: true, message: "the source's native port ch-source:9000 is not in this worker's MIGRATOR_ENDPOINT_ALLOWLIST" });
  });

  it('when the secret is not declared for the target, which would receive it inside remote(), the server path is not offered', async () => {
    const { source, target, sent } = servers();
    const remote = await remoteSource({ keyring, passwords: declared('ch-source:*') }, source, target, sourceRef);
    expect(remote).toEqual({ ok: false, reason: expect.stringContaining('"orders-ro" may not be sent to ch-target:8123 (the target') });
    expect(sent).toEqual([]);
  });

  it('when every address is declared, the statement carries the call', async () => {
    const { source, target, sent } = servers();
    const remote = await remoteSource({ keyring, passwords: declared('ch-source:8123,ch-source:9000,ch-target:8123') }, source, target, sourceRef);
    if (!remote.ok) throw new Error(remote.reason);
    await remote.exec((from) => `SELECT 1 FROM ${from('db', 't')}`);
    expect(sent).toEqual(["SELECT 1 FROM remote('ch-source:9000', 'db', 't', 'reader', 'the-password')"]);
  });
});
