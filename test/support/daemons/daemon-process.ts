import { spawn, type ChildProcess } from 'node:child_process';
import { trackChild } from '../tools.js';

/**
 * A long-running daemon (dockerd, containerd) as a child of the test: its output kept for failure messages,
 * stopped with SIGTERM (SIGKILL after a grace period) when the test ends. The launchers next to this file
 * give each daemon its own root, state and socket under a temp dir, so tests never touch the machine's.
 */
export interface DaemonProcess {
  readonly child: ChildProcess;
  /** Everything it printed (the last 2 MiB). */
  logs(): string;
  /** Resolves once it has exited (SIGTERM, then SIGKILL after `graceMs`). Idempotent. */
  stop(): Promise<void>;
}

const maxLogChars = 2 * 1024 * 1024;

export function spawnDaemon(command: string, args: readonly string[], graceMs = 20_000): DaemonProcess {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  trackChild(child);
  let log = '';
  const append = (chunk: Buffer) => {
    log += chunk.toString('utf8');
    if (log.length > maxLogChars) log = log.slice(-maxLogChars);
  };
  child.stdout.on('data', append);
  child.stderr.on('data', append);
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', () => resolve());
  });
  let stopping: Promise<void> | undefined;
  return {
    child,
    logs: () => log,
    stop() {
      if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
      stopping ??= (async () => {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      })();
      return stopping;
    },
  };
}

/** Polls `ready` until it returns true; fails with the daemon's output when it exits first or `timeoutMs` passes. */
export async function waitUntilReady(daemon: DaemonProcess, what: string, ready: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (daemon.child.exitCode !== null || daemon.child.signalCode !== null) {
      throw new Error(`${what} exited before it was ready:\n${daemon.logs().slice(-4000)}`);
    }
    if (await ready()) return;
    if (Date.now() > deadline) throw new Error(`${what} not ready within ${timeoutMs} ms:\n${daemon.logs().slice(-4000)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
