import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { createBoundedLog } from './bounded-log.js';
import { runOk, trackChild } from './tools.js';

/**
 * Berth as a real child process (`node bin/berth.js serve ...`), for end-to-end tests and the benchmark.
 * Berth prints one JSON log line per event on stdout; startBerth resolves on the line whose msg is
 * "berth ready" and takes the server's URL from its `url` field, so the default `--listen 127.0.0.1:0`
 * has no free-port race.
 */

/** bin/berth.js at the repository root (this file runs from dist/test/support/). */
export const berthBin = fileURLToPath(new URL('../../../bin/berth.js', import.meta.url));

export interface StartBerthOptions {
  /** `--data DIR`. */
  readonly dataDir: string;
  /** `--listen` value; default `127.0.0.1:0` (the ready line tells the real port). */
  readonly listen?: string;
  /** `--tls-listen` value; default `127.0.0.1:0` with token auth, `off` otherwise. The ready line's `tlsUrl` tells the port. */
  readonly tlsListen?: string;
  /** `--auth` value (default 'none'); null leaves the flag out. */
  readonly auth?: string | null;
  /** Extra arguments appended after the defaults. */
  readonly args?: readonly string[];
  /** Merged over process.env. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Extra `node` flags before the script, for example ['--max-old-space-size=256']. */
  readonly nodeArgs?: readonly string[];
  /** Script to run instead of bin/berth.js (another entry point, or a test double for this helper's own tests). */
  readonly bin?: string;
  /** Limit for the ready line. Default 20 s. */
  readonly startTimeoutMs?: number;
}

/** One parsed stdout line (non-JSON lines are kept as `{ msg: line, raw: true }`). */
export type BerthLogLine = Record<string, unknown> & { readonly msg?: unknown };

export interface BerthExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface BerthProcess {
  /** From the ready line, for example `http://127.0.0.1:5000`. */
  readonly url: string;
  /** `127.0.0.1:5000`, for image references. */
  readonly host: string;
  readonly pid: number;
  readonly process: ChildProcess;
  /** The ready line itself. */
  readonly ready: BerthLogLine;
  /** Everything printed on stdout and stderr (capped to the last 8 MiB). */
  logs(): string;
  /** Parsed stdout lines so far (the newest 100,000 at least). */
  logLines(): readonly BerthLogLine[];
  /** Resolves with the first log line (past or future) matching `predicate`; rejects on timeout or exit. */
  waitForLog(predicate: (line: BerthLogLine) => boolean, timeoutMs?: number): Promise<BerthLogLine>;
  /** Peak resident set size so far (VmHWM from /proc), in bytes; undefined once the process has exited. */
  peakRssBytes(): Promise<number | undefined>;
  /** Sends `signal` (default SIGTERM), SIGKILL after 10 s; resolves with how it exited. Idempotent. */
  stop(signal?: NodeJS.Signals): Promise<BerthExit>;
  /** Same as stop(). */
  close(): Promise<BerthExit>;
  /** SIGKILL now (crash tests). */
  kill(): void;
  /** Resolves when the process exits, however it exits. */
  exited: Promise<BerthExit>;
  /** A fresh one-time GUI sign-in link, from `berth ui-url --data DIR` as a user gets one. */
  signInUrl(): Promise<string>;
}

const maxLogChars = 8 * 1024 * 1024;
/** Parsed lines kept (the newest): enough for any test, bounded for a benchmark's millions of pull lines. */
const maxLogLines = 100_000;

/** VmHWM (peak RSS) of a Linux process in bytes, or undefined if it cannot be read. */
export async function readPeakRss(pid: number): Promise<number | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const match = /^VmHWM:\s+(\d+)\s+kB$/m.exec(status);
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

function parseLine(line: string): BerthLogLine {
  try {
    const parsed: unknown = JSON.parse(line);
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed as BerthLogLine;
  } catch {
    // not JSON: kept as text below
  }
  return { msg: line, raw: true };
}

/** Starts Berth and resolves once it logged "berth ready"; rejects with its output if it exits or times out first. */
export async function startBerth(options: StartBerthOptions): Promise<BerthProcess> {
  const args = [...(options.nodeArgs ?? []), options.bin ?? berthBin, 'serve', '--data', options.dataDir, '--listen', options.listen ?? '127.0.0.1:0'];
  if (options.auth !== null) args.push('--auth', options.auth ?? 'none');
  // Berth also opens an HTTPS listener (default 127.0.0.1:5443): tests must not fight over that port.
  if (!options.args?.includes('--tls-listen')) args.push('--tls-listen', options.tlsListen ?? (options.auth === 'token' ? '127.0.0.1:0' : 'off'));
  args.push(...(options.args ?? []));
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries({ ...process.env, ...options.env })) if (value !== undefined) env[key] = value;

  // process.execPath, not a shell: the PID we hold is Berth's own, which the benchmark's RSS reading needs.
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  trackChild(child);

  const output = createBoundedLog(maxLogChars);
  const lines: BerthLogLine[] = [];
  const waiters = new Set<{ predicate: (line: BerthLogLine) => boolean; resolve: (line: BerthLogLine) => void }>();
  let partial = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    output.append(chunk);
    partial += chunk;
    const split = partial.split('\n');
    partial = split.pop() ?? '';
    for (const text of split) {
      if (text.trim() === '') continue;
      const line = parseLine(text);
      lines.push(line);
      if (lines.length > 2 * maxLogLines) lines.splice(0, lines.length - maxLogLines);
      for (const waiter of waiters) {
        if (waiter.predicate(line)) {
          waiters.delete(waiter);
          waiter.resolve(line);
        }
      }
    }
  });
  child.stderr.setEncoding('utf8').on('data', output.append);

  let exitInfo: BerthExit | undefined;
  const exited = new Promise<BerthExit>((resolve) => {
    child.on('exit', (code, signal) => {
      exitInfo = { code, signal };
      resolve(exitInfo);
    });
    child.on('error', () => {
      exitInfo = { code: null, signal: null };
      resolve(exitInfo);
    });
  });

  const waitForLog = (predicate: (line: BerthLogLine) => boolean, timeoutMs = 10_000): Promise<BerthLogLine> => {
    const seen = lines.find(predicate);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const waiter = {
        predicate,
        resolve: (line: BerthLogLine) => {
          clearTimeout(timer);
          resolve(line);
        },
      };
      const timer = setTimeout(() => {
        waiters.delete(waiter);
        reject(new Error(`no matching Berth log line within ${timeoutMs} ms\n--- logs ---\n${output.text().slice(-4000)}`));
      }, timeoutMs);
      waiters.add(waiter);
      void exited.then((info) => {
        if (!waiters.has(waiter)) return;
        waiters.delete(waiter);
        clearTimeout(timer);
        reject(new Error(`Berth exited (code ${info.code ?? 'none'}, signal ${info.signal ?? 'none'}) before the expected log line\n--- logs ---\n${output.text().slice(-4000)}`));
      });
    });
  };

  let ready: BerthLogLine;
  try {
    ready = await waitForLog((line) => line.msg === 'berth ready', options.startTimeoutMs ?? 20_000);
  } catch (error) {
    child.kill('SIGKILL');
    await exited;
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`Berth did not start (node ${args.join(' ')}): ${reason}`);
  }
  const url = typeof ready.url === 'string' ? ready.url.replace(/\/$/, '') : undefined;
  if (!url || !/^https?:\/\/[^/]+:\d+$/.test(url) || url.endsWith(':0')) {
    child.kill('SIGKILL');
    await exited;
    throw new Error(`Berth's ready line has no usable url field: ${JSON.stringify(ready)}`);
  }

  let stopping: Promise<BerthExit> | undefined;
  const stop = (signal: NodeJS.Signals = 'SIGTERM'): Promise<BerthExit> => {
    if (exitInfo) return Promise.resolve(exitInfo);
    stopping ??= (async () => {
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const info = await exited;
      clearTimeout(timer);
      return info;
    })();
    return stopping;
  };

  return {
    url,
    host: new URL(url).host,
    pid: child.pid ?? 0,
    process: child,
    ready,
    logs: output.text,
    logLines: () => lines,
    waitForLog,
    peakRssBytes: () => (exitInfo || child.pid === undefined ? Promise.resolve(undefined) : readPeakRss(child.pid)),
    stop,
    close: () => stop(),
    kill: () => {
      child.kill('SIGKILL');
    },
    exited,
    async signInUrl() {
      const printed = await runOk(process.execPath, [berthBin, 'ui-url', '--data', options.dataDir], { timeoutMs: 30_000 });
      return printed.stdout.trim();
    },
  };
}
