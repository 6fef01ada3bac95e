import type { Stack } from '../stack';
import type { Summary, SummaryField } from '../report';

/** One scenario of `npm run bench`, selected by its name in BENCH_SCENARIOS. */
export interface Scenario {
  name: string;
  /** The fields of the last line it fills in (`failed` when it throws). */
  fields: SummaryField[];
  /** Runs only when BENCH_SCENARIOS names it, never by default. */
  optIn?: boolean;
  /** Prints its figures as it measures them and fills `summary`. */
  run(stack: Stack, summary: Summary): Promise<void>;
}
