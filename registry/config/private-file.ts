import { randomBytes } from 'node:crypto';
import { chmod, mkdir, open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { privateDirMode, privateFileMode } from './private-modes.js';

/**
 * Replaces `path` with `content` as one step, readable by the owner only: written to a 0600 temp file beside it,
 * fsynced, then renamed over it. A crash leaves the old file or the new one, never half of one; a temp file a kill
 * left is hidden (`.name.*.tmp`). For the small files that hold state and keys.
 */
export async function writePrivateFileAtomically(path: string, content: string | Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: privateDirMode });
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const handle = await open(temp, 'wx', privateFileMode);
  try {
    await handle.writeFile(content);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await unlink(temp).catch(() => undefined);
    throw error;
  }
  await handle.close();
  // A umask can only remove bits, but make the mode explicit anyway (umask 0 still yields 0600 here).
  await chmod(temp, privateFileMode);
  await rename(temp, path);
}
