import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../tools.js';

/**
 * A temp directory that holds everything one daemon instance owns (its root, state, sockets, config), with a
 * teardown that leaves nothing behind: the daemon's process groups are ended, whatever is still mounted below
 * the directory is unmounted (dockerd bind-mounts its data root onto itself; containerd mounts layers while
 * it unpacks them, and a daemon killed mid-way leaves those mounts), and only then is the directory removed.
 * Removing first would be wrong twice over: rm fails on a mount point, and it would descend into the mount.
 *
 * Three ways out, all covered: `remove()` from a test's after hook (the usual one, also when the test
 * failed); a synchronous pass on process exit (SIGINT/SIGTERM end this process through process.exit, see
 * tools.ts); and, for a test process that died of SIGKILL, a sweep at the next sandbox creation of any
 * sandbox whose owning process is gone.
 */

const sandboxPrefix = 'berth-daemon-';
const ownerFile = 'owner.json';

interface OwnerRecord {
  /** The test process that created the sandbox. */
  readonly pid: number;
  /** Process-group leaders started for this sandbox (daemons are spawned detached, each its own group). */
  readonly groups: readonly number[];
}

export interface DaemonSandbox {
  /** The directory; short, because unix socket paths inside it must stay under 108 bytes. */
  readonly dir: string;
  /** `join(dir, ...parts)`. */
  path(...parts: string[]): string;
  /** Records a daemon's process group, so that a sweep after this process was killed can end it. */
  recordGroup(pid: number): Promise<void>;
  /** Ends recorded groups still alive (SIGKILL), unmounts everything below `dir`, removes it. Idempotent. */
  remove(): Promise<void>;
}

/** Mount points at or below `dir`, deepest first (from /proc/self/mountinfo; octal escapes decoded). */
export function mountsBelow(dir: string, mountinfo = readFileSync('/proc/self/mountinfo', 'utf8')): string[] {
  const points = mountinfo
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((field): field is string => field !== undefined && field !== '')
    .map((field) => field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8))))
    .filter((point) => point === dir || point.startsWith(`${dir}/`));
  // Deepest first: a parent cannot be unmounted while a child is mounted on it. Duplicates (stacked mounts) stay.
  return points.sort((a, b) => b.length - a.length);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** SIGKILL to a recorded group, only if its leader still runs with this sandbox in its command line (no pid reuse accidents). */
function killGroupOf(dir: string, leader: number): void {
  try {
    if (!readFileSync(`/proc/${leader}/cmdline`, 'utf8').includes(dir)) return;
  } catch {
    return; // gone
  }
  try {
    process.kill(-leader, 'SIGKILL');
  } catch {
    // already gone
  }
}

function readOwnerSync(dir: string): OwnerRecord | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, ownerFile), 'utf8')) as OwnerRecord;
  } catch {
    return undefined;
  }
}

/** Unmounts (lazily when a plain unmount is refused) and removes; throws if something stays mounted. */
function removeSync(dir: string): void {
  for (const point of mountsBelow(dir)) {
    try {
      execFileSync('umount', [point], { stdio: 'ignore' });
    } catch {
      try {
        execFileSync('umount', ['-l', point], { stdio: 'ignore' });
      } catch {
        // checked below
      }
    }
  }
  const left = mountsBelow(dir);
  if (left.length > 0) throw new Error(`still mounted, not removing ${dir}: ${left.join(', ')}`);
  rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
}

async function removeAsync(dir: string): Promise<void> {
  for (const point of mountsBelow(dir)) {
    const plain = await run('umount', [point], { timeoutMs: 30_000 });
    if (plain.code !== 0) await run('umount', ['-l', point], { timeoutMs: 30_000 });
  }
  const left = mountsBelow(dir);
  if (left.length > 0) throw new Error(`still mounted, not removing ${dir}: ${left.join(', ')}`);
  // maxRetries: a daemon that just exited may still be closing files (EBUSY/ENOTEMPTY races).
  await rm(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
}

let swept = false;

/**
 * Cleans up sandboxes left by test processes that no longer exist (killed with SIGKILL, or a crashed
 * runner): their daemons are killed, their mounts unmounted, their directories removed. Runs once per
 * process by itself, at the first sandbox creation; returns the directories it removed.
 */
export function sweepAbandonedSandboxes(): string[] {
  swept = true;
  const removed: string[] = [];
  let names: string[];
  try {
    names = readdirSync(tmpdir()).filter((name) => name.startsWith(sandboxPrefix));
  } catch {
    return removed;
  }
  for (const name of names) {
    const dir = join(tmpdir(), name);
    const owner = readOwnerSync(dir);
    if (!owner || owner.pid === process.pid || isAlive(owner.pid)) continue;
    for (const leader of owner.groups) killGroupOf(dir, leader);
    try {
      removeSync(dir);
      removed.push(dir);
    } catch (error) {
      console.error(`berth test support: could not clean up ${dir}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  return removed;
}

/** This process's sandboxes not yet removed, with their recorded process groups. */
const liveSandboxes = new Map<string, number[]>();
let exitHookInstalled = false;

function onExit(): void {
  for (const [dir, groups] of liveSandboxes) {
    for (const leader of groups) killGroupOf(dir, leader);
    try {
      removeSync(dir);
    } catch {
      // the next run's sweep retries
    }
  }
  liveSandboxes.clear();
}

/** Creates `$TMPDIR/berth-daemon-<kind>-XXXXXX`; the caller arranges `remove()` (usually in `t.after`). */
export async function createDaemonSandbox(kind: string): Promise<DaemonSandbox> {
  if (!swept) sweepAbandonedSandboxes();
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', onExit);
  }
  const dir = await mkdtemp(join(tmpdir(), `${sandboxPrefix}${kind}-`));
  const groups: number[] = [];
  const writeOwner = (): Promise<void> => writeFile(join(dir, ownerFile), JSON.stringify({ pid: process.pid, groups } satisfies OwnerRecord));
  await writeOwner();
  liveSandboxes.set(dir, groups);
  let removed: Promise<void> | undefined;
  return {
    dir,
    path: (...parts) => join(dir, ...parts),
    recordGroup: async (pid) => {
      groups.push(pid);
      await writeOwner();
    },
    remove: () => {
      removed ??= (async () => {
        for (const leader of groups) killGroupOf(dir, leader);
        await removeAsync(dir);
        liveSandboxes.delete(dir);
      })();
      return removed;
    },
  };
}
