import { randomBytes } from 'node:crypto';
import { chmod, link, mkdir, open, readFile, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/**
 * A 256-bit key in a file of the data directory (mode 0600, folder 0700), created on first use.
 * Created race-free: written whole to a temp file, then hard-linked into place, so two processes
 * starting at once agree on one key and nobody ever reads a half-written one.
 */
export async function loadOrCreateSecretKey(dataDir: string, relativePath: string): Promise<Buffer> {
  const path = join(dataDir, relativePath);
  const dir = dirname(path);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const existing = await readKeyFile(path);
  if (existing) return existing;

  const temp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const handle = await open(temp, 'wx', 0o600);
  try {
    await handle.writeFile(`${randomBytes(32).toString('base64url')}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await link(temp, path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    await unlink(temp).catch(() => undefined);
  }
  const key = await readKeyFile(path);
  if (!key) throw new Error(`could not create the key ${path}`);
  return key;
}

/** The key in `<dataDir>/<relativePath>` when that file exists (null when not); nothing is created. */
export function readSecretKeyFile(dataDir: string, relativePath: string): Promise<Buffer | null> {
  return readKeyFile(join(dataDir, relativePath));
}

async function readKeyFile(path: string): Promise<Buffer | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  const key = Buffer.from(text.trim(), 'base64url');
  if (key.length !== 32) throw new Error(`${path} does not hold a 256-bit key; delete it to have a new one created`);
  return key;
}
