import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';

/**
 * Whether a process recorded in a file (a running server, a lock owner) is still that process. A pid alone is not
 * enough: after a crash and a reboot, or on a busy machine, the number is soon reused by something else. So the
 * record also carries when its process started, and on Linux that is compared with the kernel's own start time of
 * the pid (from /proc). Elsewhere the pid check alone decides.
 */
export interface ProcessIdentity {
  pid: number;
  /** `os.hostname()` of the machine the process runs on: a pid means nothing on another host. */
  host: string;
  /** Epoch milliseconds when the process started. */
  startedAtMs: number;
}

/** This process, as others will check it. */
export function currentProcessIdentity(): ProcessIdentity {
  return { pid: process.pid, host: hostname(), startedAtMs: processStartTimeMs(process.pid) ?? Math.round(Date.now() - process.uptime() * 1000) };
}

/** `alive`: the same process still runs; `gone`: it does not; `unknown`: it runs on another host, so only it can tell. */
export type Liveness = 'alive' | 'gone' | 'unknown';

/** Start times from /proc are in clock ticks; the recorded one may come from `process.uptime()`: allow for both. */
const startTimeToleranceMs = 2_000;

export function livenessOf(identity: ProcessIdentity): Liveness {
  if (identity.host !== hostname()) return 'unknown';
  if (identity.pid === process.pid) return 'alive';
  if (!pidExists(identity.pid)) return 'gone';
  const started = processStartTimeMs(identity.pid);
  if (started === undefined) return 'alive';
  return Math.abs(started - identity.startedAtMs) <= startTimeToleranceMs ? 'alive' : 'gone';
}

/** Boot time, read once; null where /proc/stat has none. */
/** Whether some process of this user has the pid (it may not be the one that wrote a record: see livenessOf). */
export function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    // ESRCH: no such process. EPERM: the pid belongs to another user, so it is not one of ours.
    return false;
  }
}

let bootTimeMs: number | undefined | null;
/** USER_HZ, the unit of /proc/<pid>/stat's start time: 100 on every Linux architecture Node supports. */
const clockTicksPerSecond = 100;

/** Linux only: when `pid` started, from field 22 of /proc/<pid>/stat and the boot time in /proc/stat. */
export function processStartTimeMs(pid: number): number | undefined {
  if (process.platform !== 'linux') return undefined;
  try {
    if (bootTimeMs === undefined) {
      const btime = /^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'));
      bootTimeMs = btime ? Number(btime[1]) * 1000 : null;
    }
    if (bootTimeMs === null) return undefined;
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may contain spaces: count fields after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[19]);
    return Number.isFinite(ticks) ? bootTimeMs + (ticks * 1000) / clockTicksPerSecond : undefined;
  } catch {
    return undefined;
  }
}
