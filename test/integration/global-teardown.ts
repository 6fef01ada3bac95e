import { rmSync } from 'node:fs';

/** Stops the servers the global setup started and removes their files. */
export default async function globalTeardown(): Promise<void> {
  const running = globalThis.__MIGRATOR_TEST_STACK__;
  if (!running) return;
  await Promise.allSettled(running.stops.map((stop) => stop()));
  rmSync(running.dir, { recursive: true, force: true });
}
