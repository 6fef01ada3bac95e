import { createIdentityActivities } from '../../src/activities/identity';
import { READ_SERVER_ID_SQL } from '../../src/clickhouse/identity';
import { IDENTITY_DATABASE } from '../../src/clickhouse/scratch';
import { quoteIdentifier } from '../../src/clickhouse/sql';
import { freePort } from '../../src/dev/ports';
import { seal } from '../../src/secrets';
import type { EndpointRef } from '../../src/workflows/types';
import { TEST_KEY, useTestServers } from './harness';
import { testStack, type TestClickHouse } from './stack-env';

const servers = useTestServers({ worker: false });
const { identifyServers } = createIdentityActivities({ keyring: TEST_KEY });

function endpoint(server: TestClickHouse, url = server.url): EndpointRef {
  return { url, username: server.username, password: seal(server.password, TEST_KEY) };
}

describe('the server identity marker on ClickHouse 18.16', () => {
  it('when eight runs reach a server without a marker at once, one creates it and all read the same id', async () => {
    // The source server: the target's marker names the target in the locks of other files' runs.
    await servers.source.exec(`DROP DATABASE IF EXISTS ${quoteIdentifier(IDENTITY_DATABASE)}`);

    const found = await Promise.all(Array.from({ length: 8 }, () => identifyServers({ target: endpoint(testStack().source) })));

    const ids = new Set(found.map((f) => f.serverId));
    expect(ids.size).toBe(1);
    expect(await servers.source.rows(READ_SERVER_ID_SQL.replace(' LIMIT 1', ''))).toEqual([{ id: [...ids][0] }]);
    expect(found.every((f) => !f.sameServer)).toBe(true);
  });

  it('when the source is the target under another name, says they are one server; two servers are two', async () => {
    const target = testStack().target;
    const byName = endpoint(target, target.url.replace('127.0.0.1', 'localhost'));

    const same = await identifyServers({ target: endpoint(target), source: byName });
    const other = await identifyServers({ target: endpoint(target), source: endpoint(testStack().source) });

    expect(same.sameServer).toBe(true);
    expect(other).toEqual({ serverId: same.serverId, sameServer: false });
  });

  it('when the source cannot be reached, compares the URLs instead', async () => {
    const target = testStack().target;
    const closed = `http://127.0.0.1:${await freePort()}`;

    const found = await identifyServers({ target: endpoint(target), source: endpoint(target, closed) });

    expect(found.sameServer).toBe(false);
  });
});
