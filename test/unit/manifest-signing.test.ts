import { checkRecord, ManifestTamperedError, signList, signRecord, verifyRows, type SignedRow } from '../../src/activities/manifest-signing';
import { keyringOf } from '../../src/secrets';

const keyring = keyringOf('manifest signing test key');
const where = { runKey: '0123456789abcdef', list: 'units' };
const TABLE = '__migrator_manifest_0123456789abcdef.units';
const bodies = ['{"database":"app","table":"a"}', '{"database":"app","table":"b"}', '{"database":"app","table":"c"}'];

function verify(rows: SignedRow[], options: { ring?: typeof keyring; at?: typeof where; range?: { from: number; to: number } } = {}): string[] {
  return verifyRows(rows, options.at ?? where, options.ring ?? keyring, TABLE, options.range);
}

function refusal(rows: SignedRow[], options: Parameters<typeof verify>[1] = {}): ManifestTamperedError {
  try {
    verify(rows, options);
  } catch (err) {
    if (err instanceof ManifestTamperedError) return err;
    throw err;
  }
  throw new Error('the rows were accepted');
}

describe('manifest rows are signed and checked', () => {
  const signed = signList(bodies, where, keyring.active);

  it('when the rows are as written, every document comes back in order, whatever order ClickHouse sent them in', () => {
    expect(verify([...signed].reverse())).toEqual(bodies);
    expect(verify([signed[1], signed[2], signed[3]], { range: { from: 1, to: 10 } })).toEqual(bodies.slice(1));
  });

  it('when a list is empty, its end row alone proves it', () => {
    expect(verify(signList([], where, keyring.active))).toEqual([]);
  });

  it('when a document is altered, the row is refused by its seq, and the message names the table but no key', () => {
    const err = refusal(signed.map((r) => (r.seq === 1 ? { ...r, body: '{"database":"other","table":"b"}' } : r)));
    expect(err.message).toContain(TABLE);
    expect(err.seq).toBe(1);
    expect(err.message).not.toContain('manifest signing test key');
  });

  it('when a row is duplicated with another document and a copied MAC, it is refused', () => {
    expect(refusal([...signed, { ...signed[0], body: '{"database":"other","table":"x"}' }]).seq).toBe(0);
  });

  it('when a genuine row is replayed twice, it is refused as a duplicate', () => {
    expect(refusal([...signed, signed[2]]).message).toMatch(/seq 2 is duplicated/);
  });

  it('when a row is unsigned or signed with a key the worker lacks, it is refused', () => {
    expect(refusal(signed.map((r) => (r.seq === 0 ? { ...r, mac: '' } : r))).message).toMatch(/not signed/);
    const foreign = signList(bodies, where, keyringOf('someone else').active);
    expect(refusal(foreign).message).toMatch(/does not hold/);
  });

  it('when rows are removed (from the middle, the end, or all of them), the list is refused', () => {
    expect(refusal(signed.filter((r) => r.seq !== 1)).seq).toBe(2);
    expect(refusal(signed.filter((r) => r.seq !== 3)).message).toMatch(/no end row/);
    expect(refusal(signed.filter((r) => r.seq === 3)).seq).toBe(0);
    expect(refusal([signed[2]], { range: { from: 0, to: 2 } }).message).toMatch(/no end row/);
  });

  it('when a range is read, rows missing from it are refused', () => {
    expect(refusal([signed[2], signed[3]], { range: { from: 1, to: 3 } }).seq).toBe(2);
  });

  it('when rows are moved to another run, list or position, they are refused', () => {
    expect(() => verify(signed, { at: { ...where, runKey: 'fedcba9876543210' } })).toThrow(ManifestTamperedError);
    expect(() => verify(signed, { at: { ...where, list: 'resync_1_0' } })).toThrow(ManifestTamperedError);
    const swapped = signed.map((r) => (r.seq === 0 ? { ...r, body: signed[1].body } : r.seq === 1 ? { ...r, body: signed[0].body } : r));
    expect(() => verify(swapped)).toThrow(ManifestTamperedError);
  });

  it('when the active key rotated since the list was written, the previous key still opens it', () => {
    const rotated = keyringOf('a newer key', ['manifest signing test key']);
    expect(verify(signed, { ring: rotated })).toEqual(bodies);
  });

  it('when the end row and a longer list are forged around a truncated one, the old rows do not fit', () => {
    const longer = signList([...bodies, '{"database":"app","table":"d"}'], where, keyring.active);
    expect(refusal([...signed.slice(0, 3), longer[4]]).message).toMatch(/signed for a list of 3 rows, not 4/);
  });
});

describe('journal records are signed and checked', () => {
  const at = { runKey: '0123456789abcdef', list: 'journal' };
  const fields = ['app', 'events', '202501', 120, false];
  const check = (row: { key_id: string; mac: string }, f: unknown[] = fields, ring = keyring) => () => checkRecord(row, f, at, ring, 'db.journal', 'the entry of app.events partition 202501');

  it('when a record is as signed, it passes, also after the key rotated', () => {
    const row = signRecord(fields, at, keyring.active);
    expect(check(row)).not.toThrow();
    expect(check(row, fields, keyringOf('a newer key', ['manifest signing test key']))).not.toThrow();
  });

  it('when a field, the run or the signature changes, or it is unsigned, the record is refused', () => {
    const row = signRecord(fields, at, keyring.active);
    expect(check(row, ['other', 'events', '202501', 120, false])).toThrow(ManifestTamperedError);
    expect(check(row, ['app', 'events', '202501', 120, true])).toThrow(/fails its signature check/);
    expect(() => checkRecord(row, fields, { ...at, runKey: 'fedcba9876543210' }, keyring, 'db.journal', 'x')).toThrow(ManifestTamperedError);
    expect(check({ ...row, mac: '00'.repeat(32) })).toThrow(/fails its signature check/);
    expect(check({ key_id: '', mac: '' })).toThrow(/the entry of app.events partition 202501 is not signed/);
  });
});
