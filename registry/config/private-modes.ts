import { chmodSync, lstatSync, readdirSync } from 'node:fs';
import { chmod, lstat, mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Everything under Berth's data directory is for its owner only: image content, tags, state, keys and audit are
 * private whatever the namespace settings say (tokens guard the network, modes guard the disk). Files are created
 * with these modes explicitly, so a permissive umask (0, 002) changes nothing; what older versions or a careless
 * `cp -r` left behind is tightened at start (repairTopLevelModes, then repairTreeModes).
 */

/** Files: owner read/write only. */
export const privateFileMode = 0o600;
/** Directories: only the owner may list or enter them. */
export const privateDirMode = 0o700;
/** The bits that let group or others read, write or enter. */
const groupOtherBits = 0o077;

/** Creates the directory (and missing parents) 0700, or tightens an existing one to 0700. */
export async function ensurePrivateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: privateDirMode });
  const info = await lstat(dir);
  if ((info.mode & 0o777) !== privateDirMode) await chmod(dir, privateDirMode);
}

export interface ModeRepair {
  /** Paths whose group/other bits were removed. */
  fixed: number;
  /** Paths that needed it but could not be changed (another owner, a read-only mount): the first one is named. */
  failed: number;
  firstFailure?: string;
}

export function emptyRepair(): ModeRepair {
  return { fixed: 0, failed: 0 };
}

export function addRepairs(a: ModeRepair, b: ModeRepair): ModeRepair {
  const firstFailure = a.firstFailure ?? b.firstFailure;
  return { fixed: a.fixed + b.fixed, failed: a.failed + b.failed, ...(firstFailure ? { firstFailure } : {}) };
}

/**
 * Removes the group/other bits of one path; the owner's bits stay as they are. Symbolic links are left alone
 * (chmod would follow them out of the data directory), and so is a path that vanished meanwhile. Synchronous on
 * purpose: an lstat is microseconds, while a round trip through libuv's thread pool costs ~20 times that, which
 * for a large store is the difference between seconds and minutes (callers yield between batches).
 */
function tighten(path: string, repair: ModeRepair): 'directory' | 'other' | 'gone' {
  let info;
  try {
    info = lstatSync(path, { throwIfNoEntry: false });
  } catch {
    info = undefined;
  }
  if (!info || info.isSymbolicLink()) return 'gone';
  if ((info.mode & groupOtherBits) !== 0) {
    try {
      chmodSync(path, info.mode & 0o7700);
      repair.fixed += 1;
    } catch {
      repair.failed += 1;
      repair.firstFailure ??= path;
    }
  }
  return info.isDirectory() ? 'directory' : 'other';
}

/**
 * The synchronous part of the start-up check, O(1): the data directory itself and its direct children (blobs/,
 * repositories/, state.json, tls/, auth/, audit/...). Once the data directory is 0700 nobody else can reach
 * anything below it, whatever the inner modes, so this alone closes the hole before Berth serves a request.
 */
export async function repairTopLevelModes(dataDir: string): Promise<ModeRepair> {
  const repair = emptyRepair();
  await mkdir(dataDir, { recursive: true, mode: privateDirMode });
  if (tighten(dataDir, repair) !== 'directory') return repair;
  for (const name of await readdir(dataDir)) tighten(join(dataDir, name), repair);
  return repair;
}

/** Paths looked at between two yields to the event loop: a millisecond or two of system calls. */
const pathsPerBatch = 64;

/**
 * The rest of the check: every path below the data directory, in batches that give the event loop back after
 * each, so it runs in the background after Berth listens without holding up requests (measured on the 2-core
 * target machine: 20,000 paths in ~0.5 s, against ~2.7 s with one awaited lstat per path). It is defence in
 * depth: the inner modes matter only if the data directory is opened up again (a backup restored with its modes,
 * a chmod -R), and new files are created private anyway. `stopped()` ends it early.
 */
export async function repairTreeModes(dataDir: string, stopped: () => boolean = () => false): Promise<ModeRepair> {
  const repair = emptyRepair();
  const pending = [dataDir];
  let sinceYield = 0;
  while (pending.length > 0) {
    const dir = pending.pop() as string;
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      continue; // vanished or unreadable: nothing to fix through it
    }
    for (const name of names) {
      if (stopped()) return repair;
      const path = join(dir, name);
      if (tighten(path, repair) === 'directory') pending.push(path);
      if (++sinceYield >= pathsPerBatch) {
        sinceYield = 0;
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    }
  }
  return repair;
}
