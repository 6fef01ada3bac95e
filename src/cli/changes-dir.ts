/**
 * `start --changes-dir`: the folder of versioned changes, read in the layout it is kept in
 * (src/changes/layouts.ts), and the line that tells the user what was read and what will not run.
 */
import { ChangeLayoutError, readChangesDir, type ReadChanges } from '../changes/layouts';
import { UsageError } from './exit-codes';

/**
 * Reads the changes of `dir`. A folder that cannot be read, fits no layout or holds no version is
 * a UsageError that says why.
 */
export async function readChangesFolder(dir: string): Promise<ReadChanges> {
  let read: ReadChanges;
  try {
    read = await readChangesDir(dir);
  } catch (err) {
    if (err instanceof ChangeLayoutError) throw new UsageError(`--changes-dir ${dir}: ${err.message}`);
    const code = (err as NodeJS.ErrnoException).code;
    if (typeof code === 'string') throw new UsageError(`--changes-dir ${dir} cannot be read: ${code}`);
    throw err;
  }
  if (read.changes.length === 0) throw new UsageError(`--changes-dir ${dir} holds no versions (files named like 001_create_orders.sql)`);
  return read;
}

/** `read 3 versions from ./migrations (golang-migrate layout); not run: 001_x.down.sql (…)`. */
export function describeChangesRead(dir: string, read: ReadChanges): string {
  const versions = `read ${read.changes.length} ${read.changes.length === 1 ? 'version' : 'versions'} from ${dir} (${read.layout} layout)`;
  if (read.ignored.length === 0) return versions;
  return `${versions}; not run: ${read.ignored.map((i) => `${i.file} (${i.reason})`).join(', ')}`;
}
