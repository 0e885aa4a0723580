import { chmod, lstat, mkdir, opendir } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Everything under Berth's data directory is for its owner only: image content, tags, state, keys and audit are
 * private whatever the namespace settings say (tokens guard the network, modes guard the disk). Files are created
 * with these modes explicitly, so a permissive umask (0, 002) changes nothing; what older versions or a careless
 * `cp -r` left behind is tightened at start (see repairPrivateModes).
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
 * (chmod would follow them out of the data directory), and so is a path that vanished meanwhile.
 */
async function tighten(path: string, repair: ModeRepair): Promise<'directory' | 'other' | 'gone'> {
  const info = await lstat(path).catch(() => undefined);
  if (!info || info.isSymbolicLink()) return 'gone';
  if ((info.mode & groupOtherBits) !== 0) {
    try {
      await chmod(path, info.mode & 0o7700);
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
  if ((await tighten(dataDir, repair)) !== 'directory') return repair;
  const dir = await opendir(dataDir);
  for await (const entry of dir) await tighten(join(dataDir, entry.name), repair);
  return repair;
}

/**
 * The rest of the check: every path below the data directory, one system call at a time, so it can run in the
 * background after Berth listens without competing with requests (a store of a million files is a few seconds of
 * lstat). It is defence in depth: the inner modes matter only if the data directory is opened up again (a backup
 * restored with its modes, a chmod -R), and new files are created private anyway. `stopped()` ends it early.
 */
export async function repairTreeModes(dataDir: string, stopped: () => boolean = () => false): Promise<ModeRepair> {
  const repair = emptyRepair();
  async function visit(dir: string): Promise<void> {
    let handle;
    try {
      handle = await opendir(dir);
    } catch {
      return; // vanished or unreadable: nothing to fix through it
    }
    for await (const entry of handle) {
      if (stopped()) return;
      const path = join(dir, entry.name);
      if ((await tighten(path, repair)) === 'directory') await visit(path);
    }
  }
  await visit(dataDir);
  return repair;
}
