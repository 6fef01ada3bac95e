import { ClickHouseQueryError } from '../../src/clickhouse/errors';
import { createMarkerSql, markerTaken, noMarker, READ_SERVER_ID_SQL, sameOrigin, sameServerVerdict } from '../../src/clickhouse/identity';
import { IDENTITY_DATABASE, INTERNAL_PREFIX, parseScratchName } from '../../src/clickhouse/scratch';

const chError = (code: number) => new ClickHouseQueryError(`code ${code}`, 'source', code, undefined);
const urls = { source: 'http://localhost:8123', target: 'http://127.0.0.1:8123' };

describe('the server identity marker', () => {
  it('lives in a database of the migrator that no cleanup reads as a run\'s object', () => {
    expect(IDENTITY_DATABASE.startsWith(INTERNAL_PREFIX)).toBe(true);
    expect(parseScratchName(IDENTITY_DATABASE)).toBeNull();
    expect(READ_SERVER_ID_SQL).toBe(`SELECT id FROM \`${IDENTITY_DATABASE}\`.\`server\` LIMIT 1`);
  });

  it('is created without IF NOT EXISTS, so that exactly one of racing creators wins', () => {
    const [database, table] = createMarkerSql("it's");
    expect(database).toBe(`CREATE DATABASE IF NOT EXISTS \`${IDENTITY_DATABASE}\``);
    expect(table).toBe(`CREATE TABLE \`${IDENTITY_DATABASE}\`.\`server\` ENGINE = Log AS SELECT 'it\\'s' AS id`);
    expect(markerTaken(chError(57))).toBe(true);
    expect(markerTaken(chError(60))).toBe(false);
  });

  it('is missing when the server answers unknown table or unknown database, and only then', () => {
    expect(noMarker(chError(60))).toBe(true);
    expect(noMarker(chError(81))).toBe(true);
    expect(noMarker(chError(497))).toBe(false);
    expect(noMarker(new Error('connect ECONNREFUSED'))).toBe(false);
  });
});

describe('whether the source is the target', () => {
  it('is the same server when the source reads the target\'s id, whatever the URLs say', () => {
    expect(sameServerVerdict('id-1', { id: 'id-1' }, { source: 'http://a:8123', target: 'http://b:8123' })).toBe(true);
  });

  it('is another server when the source has no marker, or another id, or an empty one', () => {
    expect(sameServerVerdict('id-1', { error: chError(81) }, urls)).toBe(false);
    expect(sameServerVerdict('id-1', { error: chError(60) }, urls)).toBe(false);
    expect(sameServerVerdict('id-1', { id: 'id-2' }, urls)).toBe(false);
    expect(sameServerVerdict('id-1', { id: null }, urls)).toBe(false);
  });

  it('falls back to comparing the URL origins when the source cannot read the marker', () => {
    expect(sameServerVerdict('id-1', { error: chError(497) }, urls)).toBe(false);
    expect(sameServerVerdict('id-1', { error: new Error('refused') }, { source: 'http://ch:8123/', target: 'http://CH:8123' })).toBe(true);
  });

  it('by origin: scheme, host as written and port', () => {
    expect(sameOrigin('http://ch:80', 'http://ch')).toBe(true);
    expect(sameOrigin('http://ch:8123', 'https://ch:8123')).toBe(false);
    expect(sameOrigin('http://localhost:8123', 'http://127.0.0.1:8123')).toBe(false);
    expect(sameOrigin('not a url', 'not a url')).toBe(false);
  });
});
