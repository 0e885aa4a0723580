import { randomBytes } from 'node:crypto';
import { link, mkdir, open, readFile, readdir, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { currentProcessIdentity, livenessOf, type ProcessIdentity } from '../runtime/process-liveness.js';

/**
 * A cross-process lock for short read-modify-write sections shared by the server and the CLI, that stays correct
 * when a holder is killed (kill -9) while several others wait.
 *
 * The lock is a folder (`<path>.d`) of numbered generations. Taking the lock means creating generation n+1 when
 * generation n, the highest, is released or abandoned; a generation file is created by `link()` from a temp file
 * that already holds its owner (pid, host and the process's start time), so it exists whole or not at all, and two
 * takers cannot create the same number: exactly one wins, whatever they saw. Nothing is ever moved aside or put
 * back, so no taker can remove a lock somebody else just took (the flaw of rename-and-put-back take-overs).
 *
 * - Released: the owner adds `<n>.released` beside its generation.
 * - Abandoned, at once: the owner's process is gone (dead pid, or the pid now belongs to a process that started at
 *   another time: runtime/process-liveness.ts); never waited out.
 * - Abandoned after `staleMs`: the owner runs on another host (only age can tell), or is alive but stopped touching
 *   its file (the owner touches it every `staleMs / 3` while it holds the lock, so a slow owner is never taken over).
 * - Stale listing: a taker that saw an old highest number may create a generation below the real highest one (old
 *   generations are tidied away); right after creating it, it lists again and backs off if a higher one exists.
 *   The highest generation is never deleted (a holder deletes only those below its predecessor), so it is seen.
 *
 * Temp files of a taker killed before its link are removed by the next taker once a few seconds old.
 */
export interface FileLockOptions {
  /** A lock whose owner is alive (or on another host) but has not touched it for this long is abandoned. Default 10 s. */
  staleMs?: number;
  /** Give up waiting after this long. Default 30 s. */
  timeoutMs?: number;
  /** Told when this taker took over an abandoned lock, and why (logs, tests). */
  onTakeOver?: (takeOver: LockTakeOver) => void;
}

export interface LockOwner extends ProcessIdentity {
  /** Unique per acquisition. */
  id: string;
  acquiredAt: string;
}

export interface LockTakeOver {
  /**
   * `owner-gone`: its process no longer exists; `stale`: alive or elsewhere, but silent for `staleMs`; `unreadable`:
   * no owner can be read from it (not a file this module wrote) for 2 s.
   */
  reason: 'owner-gone' | 'stale' | 'unreadable';
  owner: LockOwner | null;
  generation: number;
}

export class LockTimeoutError extends Error {
  readonly code = 'BERTH_LOCK_TIMEOUT';
  constructor(readonly path: string, owner: LockOwner | null) {
    super(`timed out waiting for the lock ${path}` + (owner ? ` (held by pid ${owner.pid} on ${owner.host})` : ''));
    this.name = 'LockTimeoutError';
  }
}

let identity: ProcessIdentity | undefined;
/** Read once: a process's identity does not change. */
const thisProcess = () => (identity ??= currentProcessIdentity());

/** A generation file without a readable owner is abandoned once this old. */
const unreadableStaleMs = 2_000;
/** Temp files younger than this may belong to a taker about to link them. */
const tempGraceMs = 5_000;
const generationPattern = /^\d{12}$/;
const releasedSuffix = '.released';

function errnoCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error ? String((error as { code: unknown }).code) : undefined;
}

const generationName = (generation: number) => String(generation).padStart(12, '0');

interface Listing {
  highest: number;
  released: Set<number>;
  generations: number[];
  temps: string[];
}

async function list(folder: string): Promise<Listing> {
  const listing: Listing = { highest: 0, released: new Set(), generations: [], temps: [] };
  for (const name of await readdir(folder)) {
    if (generationPattern.test(name)) {
      const generation = Number(name);
      listing.generations.push(generation);
      listing.highest = Math.max(listing.highest, generation);
    } else if (name.endsWith(releasedSuffix) && generationPattern.test(name.slice(0, -releasedSuffix.length))) {
      listing.released.add(Number(name.slice(0, -releasedSuffix.length)));
    } else if (name.startsWith('tmp-')) {
      listing.temps.push(name);
    }
  }
  return listing;
}

async function readOwner(path: string): Promise<LockOwner | null> {
  try {
    const parsed: unknown = JSON.parse(await readFile(path, 'utf8'));
    if (typeof parsed === 'object' && parsed !== null && 'pid' in parsed && 'id' in parsed && 'startedAtMs' in parsed) return parsed as LockOwner;
    return null;
  } catch {
    return null;
  }
}

/** Why the generation's owner no longer holds it, or undefined while it does. */
async function abandonment(path: string, staleMs: number): Promise<LockTakeOver['reason'] | undefined> {
  let info;
  try {
    info = await stat(path);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return undefined; // tidied away: a higher generation exists, list again
    throw error;
  }
  const owner = await readOwner(path);
  const age = Date.now() - info.mtimeMs;
  // Unreadable cannot come from link() (whole or nothing), only from a hand or a broken disk: no owner keeps it.
  if (!owner) return age > unreadableStaleMs ? 'unreadable' : undefined;
  if (livenessOf(owner) === 'gone') return 'owner-gone';
  return age > staleMs ? 'stale' : undefined;
}

/** Creates `name` holding `owner` whole, or fails with EEXIST: a temp file linked into place. */
async function createGeneration(folder: string, generation: number, owner: LockOwner): Promise<boolean> {
  const temp = join(folder, `tmp-${owner.id}-${generation}`);
  await writeFile(temp, JSON.stringify(owner), { mode: 0o600 });
  try {
    await link(temp, join(folder, generationName(generation)));
    return true;
  } catch (error) {
    if (errnoCode(error) === 'EEXIST') return false;
    throw error;
  } finally {
    await unlink(temp).catch(() => undefined);
  }
}

async function removeQuietly(path: string): Promise<void> {
  await unlink(path).catch((error: unknown) => {
    if (errnoCode(error) !== 'ENOENT') throw error;
  });
}

/** Acquires the lock named `path`, runs `fn`, releases. Waits with a small jittered backoff while someone holds it. */
export async function withFileLock<T>(path: string, fn: () => Promise<T>, options: FileLockOptions = {}): Promise<T> {
  const staleMs = options.staleMs ?? 10_000;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const folder = `${path}.d`;
  await mkdir(folder, { recursive: true, mode: 0o700 });
  const me: LockOwner = { ...thisProcess(), id: randomBytes(8).toString('hex'), acquiredAt: '' };
  const deadline = Date.now() + timeoutMs;
  let delay = 2;
  let generation = 0;
  let tidyAfterRelease: Listing | undefined;
  for (;;) {
    const listing = await list(folder);
    const top = listing.highest;
    const topPath = join(folder, generationName(top));
    const free = top === 0 || listing.released.has(top);
    const reason = free ? undefined : await abandonment(topPath, staleMs);
    if (free || reason) {
      me.acquiredAt = new Date().toISOString();
      if (await createGeneration(folder, top + 1, me)) {
        // Saw a stale listing (the real highest generation was created after it): not ours after all.
        if ((await list(folder)).highest === top + 1) {
          generation = top + 1;
          if (reason) options.onTakeOver?.({ reason, owner: await readOwner(topPath), generation: top });
          tidyAfterRelease = listing;
          break;
        }
        await removeQuietly(join(folder, generationName(top + 1)));
      }
      continue; // Another taker won this number: look again at once.
    }
    if (Date.now() > deadline) throw new LockTimeoutError(path, await readOwner(topPath));
    await sleep(delay + Math.random() * delay);
    delay = Math.min(delay * 2, 50);
  }

  const mine = join(folder, generationName(generation));
  const keepAlive = setInterval(() => {
    const now = new Date();
    utimes(mine, now, now).catch(() => undefined);
  }, Math.max(50, Math.floor(staleMs / 3)));
  keepAlive.unref();
  try {
    return await fn();
  } finally {
    clearInterval(keepAlive);
    const marker = await open(`${mine}${releasedSuffix}`, 'w', 0o600);
    await marker.close();
    // After the release, so that others do not wait for it (safe at any time: it never touches the highest).
    if (tidyAfterRelease) await tidy(folder, generation, tidyAfterRelease).catch(() => undefined);
  }
}

/**
 * Removes generations below our predecessor (never the highest: see the top) and temp files of takers killed before
 * their link. Done by each holder once it released, so the folder stays a few files long.
 */
async function tidy(folder: string, generation: number, listing: Listing): Promise<void> {
  for (const old of listing.generations) {
    if (old >= generation - 1) continue;
    await removeQuietly(join(folder, generationName(old)));
    await removeQuietly(join(folder, `${generationName(old)}${releasedSuffix}`));
  }
  for (const released of listing.released) {
    if (released < generation - 1) await removeQuietly(join(folder, `${generationName(released)}${releasedSuffix}`));
  }
  for (const temp of listing.temps) {
    const info = await stat(join(folder, temp)).catch(() => undefined);
    if (info && Date.now() - info.mtimeMs > tempGraceMs) await removeQuietly(join(folder, temp));
  }
}
