/**
 * The signatures of a run's manifest rows (see `manifest.ts`). Each row carries an HMAC-SHA256,
 * under the deployment keyring's `manifest` key, over the run key, the list's (final) name, the
 * row's position, the list's length and the row's document: a row cannot be altered, added,
 * moved to another run, list or position, or dropped without the reader noticing. A list ends
 * with a signed end row at `seq = total`, so a list cut short (even to nothing) is noticed too.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { keyById, purposeKey, SecretKeyError, type Keyring, type SecretKey } from '../secrets';

/** A manifest row as the target stores it; the end row has `seq = total` and an empty body. */
export interface SignedRow {
  seq: number;
  body: string;
  total: number;
  key_id: string;
  mac: string;
}

/** Which list of which run a row belongs to. */
export interface ListName {
  runKey: string;
  list: string;
}

/** Thrown when a manifest row is forged, altered, duplicated or missing; names the table and the row, never a key. */
export class ManifestTamperedError extends Error {
  constructor(
    readonly table: string,
    readonly seq: number | null,
    reason: string,
  ) {
    super(`the run's manifest table ${table}${seq === null ? ':' : ` at seq ${seq}`} ${reason}: refusing to act on it (someone or something other than the migrator wrote to it)`);
    this.name = 'ManifestTamperedError';
  }
}

const LABEL = 'clickhouse-migrator manifest row v1';

/** The MAC of one row: the end row (`seq === total`) signs no body. */
export function rowMac(key: Buffer, where: ListName, seq: number, total: number, body: string | null): string {
  const message = JSON.stringify([LABEL, where.runKey, where.list, seq, total, seq === total ? null : body]);
  return createHmac('sha256', key).update(message, 'utf8').digest('hex');
}

const RECORD_LABEL = 'clickhouse-migrator manifest record v1';

/**
 * The signature of a record of a flat manifest table (the journal), which rows are added to one
 * by one: over the run, the table and the record's fields, in order.
 */
export function signRecord(fields: readonly unknown[], where: ListName, key: SecretKey): { key_id: string; mac: string } {
  return { key_id: key.id, mac: recordMac(purposeKey(key, 'manifest'), where, fields) };
}

/** Checks a record that {@link signRecord} signed; `what` names it in the error. */
export function checkRecord(row: { key_id: string; mac: string }, fields: readonly unknown[], where: ListName, keyring: Keyring, table: string, what: string): void {
  const refuse = (reason: string) => new ManifestTamperedError(table, null, `${what} ${reason}`);
  if (!row.key_id || !row.mac) throw refuse('is not signed');
  let key: Buffer;
  try {
    key = purposeKey(keyById(keyring, row.key_id), 'manifest');
  } catch (err) {
    if (err instanceof SecretKeyError) throw refuse(`names key id ${row.key_id}, which this worker does not hold`);
    throw err;
  }
  if (!sameMac(row.mac, recordMac(key, where, fields))) throw refuse('fails its signature check');
}

function recordMac(key: Buffer, where: ListName, fields: readonly unknown[]): string {
  return createHmac('sha256', key).update(JSON.stringify([RECORD_LABEL, where.runKey, where.list, ...fields]), 'utf8').digest('hex');
}

/** The signed rows of a list of documents (already JSON), its end row last. */
export function signList(bodies: readonly string[], where: ListName, key: SecretKey): SignedRow[] {
  const mk = purposeKey(key, 'manifest');
  const total = bodies.length;
  const row = (seq: number, body: string): SignedRow => ({ seq, body, total, key_id: key.id, mac: rowMac(mk, where, seq, total, body) });
  return [...bodies.map((body, seq) => row(seq, body)), row(total, '')];
}

/**
 * The documents of `rows` (the rows of `range`, or of the whole list, plus its end row) once
 * every check holds: each MAC under the key its row names, one end row, every seq of the range
 * exactly once. Otherwise a {@link ManifestTamperedError} naming `table` and the row.
 */
export function verifyRows(rows: readonly SignedRow[], where: ListName, keyring: Keyring, table: string, range?: { from: number; to: number }): string[] {
  const keys = new Map<string, Buffer>();
  const sorted = [...rows].map(normalised).sort((a, b) => a.seq - b.seq);
  for (const row of sorted) checkMac(row, where, macKey(keyring, keys, row, table), table);
  const ends = sorted.filter((r) => r.seq === r.total);
  if (ends.length !== 1) throw new ManifestTamperedError(table, ends[1]?.seq ?? null, ends.length === 0 ? 'has no end row (rows were removed)' : 'has a second end row');
  const total = ends[0].total;
  const data = sorted.filter((r) => r !== ends[0]);
  const from = range ? Math.max(0, Math.floor(range.from)) : 0;
  const to = range ? Math.min(total, Math.floor(range.to)) : total;
  const odd = data.find((r) => r.total !== total);
  if (odd) throw new ManifestTamperedError(table, odd.seq, `was signed for a list of ${odd.total} rows, not ${total}`);
  for (let i = 0; i < data.length; i++) {
    if (data[i].seq !== from + i) throw new ManifestTamperedError(table, data[i].seq, data[i].seq < from + i ? 'is duplicated' : `follows seq ${from + i - 1}: rows are missing`);
  }
  if (data.length !== Math.max(0, to - from)) throw new ManifestTamperedError(table, from + data.length, 'is missing');
  return data.map((r) => r.body);
}

/** ClickHouse sends UInt64 as strings in JSON. */
function normalised(row: SignedRow): SignedRow {
  return { seq: Number(row.seq), body: String(row.body ?? ''), total: Number(row.total), key_id: String(row.key_id ?? ''), mac: String(row.mac ?? '') };
}

function macKey(keyring: Keyring, keys: Map<string, Buffer>, row: SignedRow, table: string): Buffer {
  if (!row.key_id || !row.mac) throw new ManifestTamperedError(table, row.seq, 'is not signed');
  let key = keys.get(row.key_id);
  if (!key) {
    try {
      key = purposeKey(keyById(keyring, row.key_id), 'manifest');
    } catch (err) {
      if (err instanceof SecretKeyError) throw new ManifestTamperedError(table, row.seq, `names key id ${row.key_id}, which this worker does not hold`);
      throw err;
    }
    keys.set(row.key_id, key);
  }
  return key;
}

function checkMac(row: SignedRow, where: ListName, key: Buffer, table: string): void {
  if (!sameMac(row.mac, rowMac(key, where, row.seq, row.total, row.body))) throw new ManifestTamperedError(table, row.seq, 'fails its signature check');
}

function sameMac(given: string, computed: string): boolean {
  const [actual, expected] = [Buffer.from(given, 'hex'), Buffer.from(computed, 'hex')];
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}
