import { lstat, readdir, readFile, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Adapter } from 'lowdb';
import { pidExists } from '../runtime/process-liveness.js';
import { normalizeState, StateFileError, type State } from './schema.js';
import { writePrivateFileAtomically } from '../config/private-file.js';

/**
 * A lowdb adapter for state.json. lowdb's own JSONFile (steno) writes through `.state.json.tmp` with the default
 * file mode, so the renamed file would be world-readable (token hashes, settings). This one creates the temporary
 * file 0600 with a unique name, fsyncs it, then renames it over the target: readers see the old or the new file,
 * never a torn one, and the mode is right from the first byte.
 */
export class SecureJsonFile implements Adapter<State> {
  constructor(readonly path: string) {}

  async read(): Promise<State | null> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
    return parseStateText(text, this.path);
  }

  async write(data: State): Promise<void> {
    await writePrivateFileAtomically(this.path, `${JSON.stringify(data, null, 2)}\n`);
  }
}

/**
 * Removes the temp files of writers killed between writing and renaming (`.state.json.<pid>.<random>.tmp`). Call it
 * while holding the state lock: writes happen only under it, so a temp file of a live writer cannot be in progress
 * then, except one of a writer whose lock was taken over as stale; those are spared for a minute.
 */
export async function removeAbandonedTemps(path: string): Promise<number> {
  const prefix = `.${basename(path)}.`;
  let removed = 0;
  for (const name of await readdir(dirname(path))) {
    if (!name.startsWith(prefix) || !name.endsWith('.tmp')) continue;
    const pid = Number(name.slice(prefix.length).split('.')[0]);
    const temp = join(dirname(path), name);
    const info = await lstat(temp).catch(() => undefined);
    if (!info?.isFile()) continue;
    if ((Number.isInteger(pid) && pidExists(pid) && pid !== process.pid) && Date.now() - info.mtimeMs < 60_000) continue;
    await unlink(temp).catch(() => undefined);
    removed += 1;
  }
  return removed;
}

export function parseStateText(text: string, path: string): State {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new StateFileError(path, `not valid JSON (${(error as Error).message}); fix or move the file away`, { cause: error });
  }
  return normalizeState(raw, path);
}
