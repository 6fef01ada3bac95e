/**
 * Number formatting and the summary line of the benchmark. A figure a scenario did not measure is
 * printed as `n/a` (not selected) or `failed` (the scenario ended with an error), never invented.
 */

export const seconds = (ms: number): string => (ms / 1000).toFixed(2);
export const ratio = (a: number, b: number): string => (a / b).toFixed(3);
export const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(0);
export const kib = (bytes: number): string => (bytes / 1024).toFixed(1);

/** The `p`-th percentile (0 to 100) of `values`, nearest rank. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

export async function timed<T>(work: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const began = performance.now();
  const value = await work();
  return { ms: performance.now() - began, value };
}

/**
 * The middle of three timings: one run on two shared cores varies by ±10 %. When the slowest is
 * more than 1.5 times the fastest, the line says so: a ratio against it is then unreliable.
 */
export async function medianOfThree(label: string, once: () => Promise<number>): Promise<number> {
  const runs: number[] = [];
  for (let i = 0; i < 3; i++) runs.push(await once());
  const sorted = [...runs].sort((a, b) => a - b);
  const spread = sorted[2] / sorted[0];
  const noisy = spread > 1.5 ? `; the slowest took ${spread.toFixed(1)} times the fastest: noisy` : '';
  console.log(`${label} in ${seconds(sorted[1])} s (median of ${runs.map(seconds).join(', ')} s${noisy})`);
  return sorted[1];
}

/** The fields of the last line, in their order; scenarios fill in what they measured. */
export const SUMMARY_FIELDS = [
  'copy_ratio',
  'stream_ratio',
  'total_ratio',
  'backup_ratio',
  'worker_peak_mib',
  'tuned_copy_ratio',
  'many_tables_ratio',
  'many_partitions_ratio',
  'approve_to_start_ms',
  'rollback_s',
  'rollback_prove_s',
  'rollback_cancel_to_end_s',
  'replacing_copy_ratio',
  'replacing_total_ratio',
  'order_copy_cost',
  'order_total_cost',
  'replacing_verify_s',
  'throttle_server_ratio',
  'throttle_worker_ratio',
] as const;
export type SummaryField = (typeof SUMMARY_FIELDS)[number];
export type Summary = Partial<Record<SummaryField, string>>;

/** `bench: copy_ratio=… … approve_to_start_ms=…`, one line to compare across versions. */
export function summaryLine(summary: Summary): string {
  return `bench: ${SUMMARY_FIELDS.map((field) => `${field}=${summary[field] ?? 'n/a'}`).join(' ')}`;
}
