import { randomBytes } from 'node:crypto';
import { open, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

// Keys and certificates live in the data directory, which is for its owner only (config/private-modes.ts). The
// certificates are public by nature, but a copy for others is what `berth ca export` writes, not this one.
export { ensurePrivateDir, privateDirMode, privateFileMode } from '../config/private-modes.js';

/**
 * Writes `data` to `path` so that a crash or kill leaves either the old file or the complete new one, never a
 * half-written key: the bytes go to a temp file in the same directory, created with its final `mode` (so a
 * private key is never readable by others, not even for a moment), fsync-ed, then renamed over `path`.
 */
export async function writeFileAtomic(path: string, data: string, mode: number): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  // 'wx': fail rather than follow a symlink or reuse a file someone else created under the temp name.
  const handle = await open(temp, 'wx', mode);
  try {
    await handle.writeFile(data, 'utf8');
    await handle.sync();
  } catch (error) {
    await handle.close();
    await rm(temp, { force: true });
    throw error;
  }
  await handle.close();
  try {
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  await syncDir(dirname(path));
}

/** Makes the rename durable: without it a power cut can forget the new directory entry. */
async function syncDir(dir: string): Promise<void> {
  let handle;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch {
    // Some platforms (Windows) cannot open or fsync a directory: the rename is still atomic there.
  } finally {
    await handle?.close();
  }
}

/** The file's text, or undefined when it does not exist. Other errors (permissions, EISDIR) are thrown. */
export async function readTextIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
