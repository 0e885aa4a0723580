import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { trackChild } from '../tools.js';
import type { DaemonSandbox } from './sandbox.js';

/**
 * One long-running daemon (containerd, dockerd) as a child in its own process group, with its output kept
 * for diagnosis, a start that polls a real readiness check (never a sleep), and a stop that ends the whole
 * group: SIGTERM for a clean shutdown (dockerd then unmounts its data root itself), SIGKILL when that takes
 * too long, and SIGKILL to the group once the leader is gone, for anything it left running.
 */

export interface DaemonProcessOptions {
  /** For messages: `dockerd`, `containerd`. */
  readonly name: string;
  /** Absolute path of the binary. */
  readonly command: string;
  readonly args: readonly string[];
  readonly sandbox: DaemonSandbox;
  /** Merged over process.env (undefined removes a variable). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Resolves true once the daemon answers; polled until then. */
  readonly isReady: () => Promise<boolean>;
  /** Limit for isReady to turn true. Default 90 s: a loaded 2-core machine starts dockerd slowly. */
  readonly startTimeoutMs?: number;
  /** Limit for a clean shutdown after SIGTERM before SIGKILL. Default 20 s. */
  readonly stopTimeoutMs?: number;
}

export interface DaemonExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface DaemonProcess {
  readonly name: string;
  readonly pid: number;
  /** Everything the daemon printed (stdout and stderr interleaved), capped to the last 8 MiB. */
  logs(): string;
  /** The last `lines` lines of the log, for assertion messages. */
  logTail(lines?: number): string;
  /** Resolves when the leader exits, however it exits. */
  readonly exited: Promise<DaemonExit>;
  /** Whether the leader has exited. */
  hasExited(): boolean;
  /** SIGTERM, SIGKILL after stopTimeoutMs, then SIGKILL to what is left of the group. Idempotent. */
  stop(): Promise<DaemonExit>;
  /** SIGKILL to the group now (crash tests); resolves once the leader is gone. */
  kill(): Promise<DaemonExit>;
}

const maxLogChars = 8 * 1024 * 1024;
const pollIntervalMs = 100;

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // the group is gone
  }
}

/** Starts the daemon and resolves once `isReady` says so; on failure the group is killed and the log is in the error. */
export async function startDaemonProcess(options: DaemonProcessOptions): Promise<DaemonProcess> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries({ ...process.env, ...options.env })) if (value !== undefined) env[key] = value;
  // detached: the daemon leads its own process group, so stop() reaches whatever it spawned.
  const child = spawn(options.command, [...options.args], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true, cwd: options.sandbox.dir });
  trackChild(child, true);
  let log = '';
  const append = (chunk: string): void => {
    log += chunk;
    if (log.length > maxLogChars) log = log.slice(log.length - maxLogChars);
  };
  child.stdout.setEncoding('utf8').on('data', append);
  child.stderr.setEncoding('utf8').on('data', append);
  let exitInfo: DaemonExit | undefined;
  const exited = new Promise<DaemonExit>((resolve) => {
    child.on('exit', (code, signal) => {
      exitInfo = { code, signal };
      resolve(exitInfo);
    });
    child.on('error', (error) => {
      append(`\n[${options.name} could not start: ${error.message}]\n`);
      exitInfo = { code: null, signal: null };
      resolve(exitInfo);
    });
  });
  const pid = child.pid;
  if (pid !== undefined) await options.sandbox.recordGroup(pid);

  const logTail = (lines = 40): string => log.trimEnd().split('\n').slice(-lines).join('\n');
  const finish = async (): Promise<DaemonExit> => {
    const info = await exited;
    // What is left of the group. Linux hands out no PID still in use as a group ID, so while members remain
    // the number is ours; once /proc/PID exists again it belongs to a new process, which must not be hit.
    if (pid !== undefined && !existsSync(`/proc/${pid}`)) signalGroup(pid, 'SIGKILL');
    return info;
  };
  const kill = (): Promise<DaemonExit> => {
    if (pid !== undefined && !exitInfo) signalGroup(pid, 'SIGKILL');
    return finish();
  };
  let stopping: Promise<DaemonExit> | undefined;
  const stop = (): Promise<DaemonExit> => {
    stopping ??= (async () => {
      if (exitInfo || pid === undefined) return finish();
      signalGroup(pid, 'SIGTERM');
      const timer = setTimeout(() => signalGroup(pid, 'SIGKILL'), options.stopTimeoutMs ?? 20_000);
      const info = await finish();
      clearTimeout(timer);
      return info;
    })();
    return stopping;
  };

  const deadline = Date.now() + (options.startTimeoutMs ?? 90_000);
  for (;;) {
    if (exitInfo) {
      await finish();
      throw new Error(`${options.name} exited while starting (code ${exitInfo.code ?? 'none'}, signal ${exitInfo.signal ?? 'none'})\n--- ${options.name} log ---\n${logTail()}`);
    }
    if (await options.isReady().catch(() => false)) break;
    if (Date.now() > deadline) {
      await kill();
      throw new Error(`${options.name} did not become ready within ${options.startTimeoutMs ?? 90_000} ms\n--- ${options.name} log ---\n${logTail()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, pollIntervalMs));
  }

  return {
    name: options.name,
    pid: pid ?? 0,
    logs: () => log,
    logTail,
    exited,
    hasExited: () => exitInfo !== undefined,
    stop,
    kill,
  };
}
