import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { open, readFile, rename, stat, unlink, utimes } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * A cross-process lock on one file path, for short read-modify-write sections shared by the server and the CLI.
 *
 * The lock is a file created with O_CREAT|O_EXCL (`wx`): exactly one process can create it. It holds who owns it,
 * so a waiter can take over a lock whose owner is gone: at once if the owner was a process on this host that no
 * longer exists, otherwise once the file is older than `staleMs`. The owner touches the file every `staleMs / 3`
 * while it holds the lock, so a slow but live owner is never taken over.
 */
export interface FileLockOptions {
  /** A lock file not touched for this long is abandoned. Default 10 s. */
  staleMs?: number;
  /** Give up waiting after this long. Default 30 s. */
  timeoutMs?: number;
}

export interface LockOwner {
  pid: number;
  host: string;
  id: string;
  acquiredAt: string;
}

export class LockTimeoutError extends Error {
  readonly code = 'BERTH_LOCK_TIMEOUT';
  constructor(readonly path: string, owner: LockOwner | null) {
    super(`timed out waiting for the lock ${path}` + (owner ? ` (held by pid ${owner.pid} on ${owner.host})` : ''));
    this.name = 'LockTimeoutError';
  }
}

function errnoCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error ? String((error as { code: unknown }).code) : undefined;
}

async function readOwner(path: string): Promise<LockOwner | null> {
  try {
    const parsed: unknown = JSON.parse(await readFile(path, 'utf8'));
    if (typeof parsed === 'object' && parsed !== null && 'pid' in parsed && 'id' in parsed) return parsed as LockOwner;
    return null;
  } catch {
    // Missing, or caught between create and write (empty): treat as unknown owner.
    return null;
  }
}

function processIsGone(owner: LockOwner): boolean {
  if (owner.host !== hostname()) return false; // another machine sharing the directory: only age can tell
  if (owner.pid === process.pid) return false;
  try {
    process.kill(owner.pid, 0);
    return false;
  } catch (error) {
    return errnoCode(error) === 'ESRCH';
  }
}

/** Acquires `path` (a lock file), runs `fn`, releases. Waits with a small jittered backoff while someone else holds it. */
export async function withFileLock<T>(path: string, fn: () => Promise<T>, options: FileLockOptions = {}): Promise<T> {
  const staleMs = options.staleMs ?? 10_000;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const me: LockOwner = { pid: process.pid, host: hostname(), id: randomBytes(8).toString('hex'), acquiredAt: '' };
  const deadline = Date.now() + timeoutMs;
  let delay = 2;
  for (;;) {
    me.acquiredAt = new Date().toISOString();
    try {
      const handle = await open(path, 'wx', 0o600);
      try {
        await handle.writeFile(JSON.stringify(me));
      } finally {
        await handle.close();
      }
      break;
    } catch (error) {
      if (errnoCode(error) !== 'EEXIST') throw error;
    }
    if (await takeOverIfAbandoned(path, staleMs)) continue;
    if (Date.now() > deadline) throw new LockTimeoutError(path, await readOwner(path));
    await sleep(delay + Math.random() * delay);
    delay = Math.min(delay * 2, 50);
  }

  const keepAlive = setInterval(() => {
    const now = new Date();
    utimes(path, now, now).catch(() => undefined);
  }, Math.max(50, Math.floor(staleMs / 3)));
  keepAlive.unref();
  try {
    return await fn();
  } finally {
    clearInterval(keepAlive);
    await release(path, me.id);
  }
}

async function release(path: string, id: string): Promise<void> {
  // Only remove the lock if it is still ours: if we were (wrongly) taken over, the file belongs to someone else now.
  const owner = await readOwner(path);
  if (owner?.id !== id) return;
  await unlink(path).catch((error: unknown) => {
    if (errnoCode(error) !== 'ENOENT') throw error;
  });
}

/**
 * Removes an abandoned lock. The file is first renamed to a unique name (only one waiter's rename can succeed),
 * then checked again: if what we moved aside turns out to be a fresh lock (a race with another taker), it is
 * moved back if the path is still free.
 */
async function takeOverIfAbandoned(path: string, staleMs: number): Promise<boolean> {
  let info;
  try {
    info = await stat(path);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return true; // released meanwhile: try again now
    throw error;
  }
  const owner = await readOwner(path);
  const old = Date.now() - info.mtimeMs > staleMs;
  const gone = owner !== null && processIsGone(owner);
  if (!old && !gone) return false;

  const aside = `${path}.stale-${randomBytes(6).toString('hex')}`;
  try {
    await rename(path, aside);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return true;
    throw error;
  }
  const movedOwner = await readOwner(aside);
  const movedInfo = await stat(aside).catch(() => null);
  const stillAbandoned =
    movedOwner?.id === owner?.id && (gone || (movedInfo !== null && Date.now() - movedInfo.mtimeMs > staleMs));
  if (!stillAbandoned) {
    // We moved someone's live lock: put it back unless the path was taken again in between.
    try {
      const handle = await open(path, 'wx', 0o600);
      await handle.writeFile(JSON.stringify(movedOwner));
      await handle.close();
    } catch {
      // The path is held again; the displaced owner will notice on release (its id no longer matches).
    }
  }
  await unlink(aside).catch(() => undefined);
  return true;
}
