import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PasswordRefError, passwordResolver, requireDeclaredServer, SecretNotForServerError } from '../../src/activities/password-refs';
import { parseServerList } from '../../src/endpoint-allowlist';
import { PASSWORD_REF_PATTERN } from '../../src/workflows/types';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'migrator-refs-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('the servers a secret may be sent to', () => {
  it('are read from <ref>.servers beside it: one a line or comma separated, with # comments', () => {
    writeFileSync(join(dir, 'orders-ro'), 'hunter2\n');
    writeFileSync(join(dir, 'orders-ro.servers'), '# the orders cluster\nch1.example:8123, ch1.example:9000\n\n[::1]:*  # any port of this one\n');
    const secrets = passwordResolver({ secretsDir: dir, env: {} });
    const servers = secrets.servers('orders-ro');
    expect([servers('ch1.example', 8123), servers('CH1.example', 9000), servers('[::1]', 1)]).toEqual([true, true, true]);
    expect([servers('ch1.example', 8124), servers('ch2.example', 8123), servers('127.0.0.1', 9000)]).toEqual([false, false, false]);
    expect(secrets.password('orders-ro')).toBe('hunter2');
  });

  it('are read from MIGRATOR_PASSWORD_<REF>_SERVERS when there is no file', () => {
    const secrets = passwordResolver({ secretsDir: dir, env: { MIGRATOR_PASSWORD_ORDERS_RO: 'pw', MIGRATOR_PASSWORD_ORDERS_RO_SERVERS: '127.0.0.1:8123,127.0.0.1:9000' } });
    const servers = secrets.servers('orders-ro');
    expect([servers('127.0.0.1', 8123), servers('127.0.0.1', 9000), servers('127.0.0.1', 8124)]).toEqual([true, true, false]);
  });

  it('when a secret declares none, it is refused, naming the file and the variable that would declare them', () => {
    const secrets = passwordResolver({ secretsDir: dir, env: { MIGRATOR_PASSWORD_ORDERS_RO: 'pw' } });
    expect(() => secrets.servers('orders-ro')).toThrow(SecretNotForServerError);
    expect(() => secrets.servers('orders-ro')).toThrow('the secret "orders-ro" declares no servers it may be sent to, so it is sent nowhere: list them (host:port or host:*) in the file MIGRATOR_SECRETS_DIR/orders-ro.servers or the environment variable MIGRATOR_PASSWORD_ORDERS_RO_SERVERS');
    writeFileSync(join(dir, 'orders-ro.servers'), '# nothing yet\n');
    expect(() => secrets.servers('orders-ro')).toThrow(/declares no servers/);
  });

  it('refuses a bare * and any entry that is not host:port or host:*, naming where it was read, never the password', () => {
    const secrets = passwordResolver({ secretsDir: dir, env: { MIGRATOR_PASSWORD_A: 'the-password', MIGRATOR_PASSWORD_A_SERVERS: '*' } });
    expect(() => secrets.servers('a')).toThrow('the servers of the secret "a" (MIGRATOR_PASSWORD_A_SERVERS): "*" is not host:port or host:* ("*" alone is not allowed here)');
    writeFileSync(join(dir, 'a.servers'), '127.0.0.1:8123\nch example:1\n');
    expect(() => secrets.servers('a')).toThrow(/MIGRATOR_SECRETS_DIR\/a\.servers\): "ch example:1"/);
    expect(() => parseServerList('x', '127.0.0.1:*, *')).toThrow(/"\*"/);
  });

  it('a server outside the list is refused with the ref, the address and how to add it', () => {
    const servers = parseServerList('x', '127.0.0.1:8123');
    expect(() => requireDeclaredServer(servers, 'orders-ro', '127.0.0.1', 8123, 'the source')).not.toThrow();
    expect(() => requireDeclaredServer(servers, 'orders-ro', '127.0.0.1', 9000, "the source's native port")).toThrow(
      `the secret "orders-ro" may not be sent to 127.0.0.1:9000 (the source's native port): it is declared for other servers only. If it may go there, add 127.0.0.1:9000 to the file MIGRATOR_SECRETS_DIR/orders-ro.servers or the environment variable MIGRATOR_PASSWORD_ORDERS_RO_SERVERS`,
    );
  });
});

describe('a reference', () => {
  it('never names a declaration of servers, in the directory or in the environment', () => {
    for (const ref of ['a.servers', 'a_servers', 'a-SERVERS', 'a.Servers']) expect(PASSWORD_REF_PATTERN.test(ref)).toBe(false);
    for (const ref of ['servers', 'a.servers2', 'a.serversx', 'my-servers-pw', 'a.pw']) expect(PASSWORD_REF_PATTERN.test(ref)).toBe(true);
    writeFileSync(join(dir, 'a.servers'), '127.0.0.1:8123\n');
    const secrets = passwordResolver({ secretsDir: dir, env: { MIGRATOR_PASSWORD_A_SERVERS: '127.0.0.1:8123' } });
    expect(() => secrets.password('a.servers')).toThrow(PasswordRefError);
    expect(() => secrets.password('a_servers')).toThrow(PasswordRefError);
  });
});

describe('a secret this worker lacks', () => {
  it('is reported as missing, not as undeclared: another worker may hold it and its servers', () => {
    const secrets = passwordResolver({ secretsDir: dir, env: {} });
    expect(() => secrets.servers('orders-ro')).toThrow(PasswordRefError);
  });
});
