import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';

/**
 * External tools for real-client tests (skopeo, podman, wrk, ...).
 *
 * Outside CI a test whose tool is missing is skipped, with the Debian package to install in the reason.
 * In CI (`CI` set) a missing tool is a failure, never a skip: a green CI run must mean the clients ran.
 * Pattern:
 *   test('push with skopeo', { skip: toolSkipReason('skopeo') }, async () => {
 *     requireTools('skopeo'); // throws in CI when skopeo is missing
 *     ...
 *   });
 * or, shorter, `toolTest('push with skopeo', ['skopeo'], async (t) => { ... })`.
 */

/** A tool by binary name, with the Debian package that provides it. */
export interface ToolRequirement {
  readonly name: string;
  readonly debianPackage: string;
}

/** A binary name known to `knownTools`, or an explicit requirement. */
export type ToolSpec = string | ToolRequirement;

/** Debian packages for the tools Berth's tests and benchmark use. */
export const knownTools: Readonly<Record<string, string>> = {
  skopeo: 'skopeo',
  podman: 'podman',
  buildah: 'buildah',
  umoci: 'umoci',
  wrk: 'wrk',
  curl: 'curl',
  tar: 'tar',
  openssl: 'openssl',
  htpasswd: 'apache2-utils',
  'docker-registry': 'docker-registry',
  chromium: 'chromium',
  // the load balancer in front of the multi-node tests (test/support/services/haproxy.ts).
  haproxy: 'haproxy',
  // util-linux's script(1): runs a command on a pseudo-terminal (what `berth serve` prints for a person).
  script: 'bsdutils',
};

export function inCi(): boolean {
  const value = process.env.CI;
  return value !== undefined && value !== '' && value !== '0' && value.toLowerCase() !== 'false';
}

function toRequirement(spec: ToolSpec): ToolRequirement {
  if (typeof spec !== 'string') return spec;
  return { name: spec, debianPackage: knownTools[spec] ?? spec };
}

/** Absolute path of an executable found on PATH (or the absolute path itself if executable), else undefined. */
export function findTool(name: string, _debianPackage?: string): string | undefined {
  const candidates = isAbsolute(name)
    ? [name]
    : (process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin').split(delimiter).filter(Boolean).map((dir) => join(dir, name));
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here: keep looking
    }
  }
  return undefined;
}

function missingMessage(missing: readonly ToolRequirement[]): string {
  const names = missing.map((tool) => tool.name).join(', ');
  const packages = [...new Set(missing.map((tool) => tool.debianPackage))].join(' ');
  return `${names} not found: apt-get install ${packages}`;
}

/**
 * The `skip` option for node:test. Outside CI: a reason naming the Debian package(s) when a tool is missing,
 * else undefined. In CI: always undefined, so the test runs and `requireTools` fails it.
 */
export function toolSkipReason(...tools: ToolSpec[]): string | undefined {
  if (inCi()) return undefined;
  const missing = tools.map(toRequirement).filter((tool) => findTool(tool.name) === undefined);
  return missing.length > 0 ? missingMessage(missing) : undefined;
}

/** Throws (failing the test) when a tool is missing; returns the absolute paths in order. */
export function requireTools(...tools: ToolSpec[]): string[] {
  const requirements = tools.map(toRequirement);
  const found = requirements.map((tool) => findTool(tool.name));
  const missing = requirements.filter((_, index) => found[index] === undefined);
  if (missing.length > 0) {
    throw new Error(`${missingMessage(missing)}${inCi() ? ' (CI is set: missing tools fail instead of skipping)' : ''}`);
  }
  return found as string[];
}

/** Absolute path of one required tool (throws like `requireTools`). */
export function requireTool(tool: ToolSpec): string {
  return requireTools(tool)[0] as string;
}

/**
 * Every child that the support code starts is tracked, so that none outlives this process: a child left
 * behind (a registry holding a port, a skopeo upload) would spoil the next test or benchmark run. Node does
 * not run 'exit' handlers when it dies of a signal, hence the SIGINT/SIGTERM handlers, installed once.
 */
const liveChildren = new Map<ChildProcess, boolean>();
let reaperInstalled = false;

function killTracked(child: ChildProcess, ownGroup: boolean): void {
  try {
    if (ownGroup && child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    else child.kill('SIGKILL');
  } catch {
    // already gone
  }
}

/** Kills every tracked child now (SIGKILL). */
export function killAllChildren(): void {
  for (const [child, ownGroup] of liveChildren) killTracked(child, ownGroup);
  liveChildren.clear();
}

/** Tracks a child until it exits; `ownGroup` when it was spawned detached (its group is killed with it). */
export function trackChild(child: ChildProcess, ownGroup = false): void {
  if (!reaperInstalled) {
    reaperInstalled = true;
    process.on('exit', killAllChildren);
    for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
      process.once(signal, () => {
        killAllChildren();
        process.exit(code);
      });
    }
  }
  liveChildren.set(child, ownGroup);
  child.once('exit', () => liveChildren.delete(child));
  child.once('error', () => liveChildren.delete(child));
}

export interface RunOptions {
  /** Hard limit: the process (and its process group) gets SIGKILL after this long. Default 60 s. */
  readonly timeoutMs?: number;
  /** Merged over process.env (a value of undefined removes the variable). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Written to stdin, then stdin is closed. Without it stdin is closed at once (no tool can wait on a tty). */
  readonly input?: string | Uint8Array;
  readonly cwd?: string;
  /** Keep at most this many bytes of each of stdout/stderr (the rest is dropped, flagged by `truncated`). Default 32 MiB. */
  readonly maxOutputBytes?: number;
}

export interface RunResult {
  /** Exit code, or null when the process was ended by a signal (for example after a timeout). */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
  readonly truncated: boolean;
  readonly durationMs: number;
}

/**
 * Runs a command to completion without a shell. Never hangs: after `timeoutMs` the whole process group is
 * killed, and the promise settles shortly after the process exits even if a grandchild still holds its pipes.
 * Rejects only when the command cannot be started (for example ENOENT), with the Debian package in the message.
 */
export function run(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const maxOutput = options.maxOutputBytes ?? 32 * 1024 * 1024;
  const started = performance.now();
  return new Promise<RunResult>((resolve, reject) => {
    const env: Record<string, string> = {};
    for (const [key, value] of Object.entries({ ...process.env, ...options.env })) if (value !== undefined) env[key] = value;
    // detached: the child leads its own process group, so a timeout also kills what it spawned.
    const child = spawn(command, [...args], { cwd: options.cwd, env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    trackChild(child, true);
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    const sizes = { stdout: 0, stderr: 0 };
    let truncated = false;
    let timedOut = false;
    let settled = false;
    let exitCode: number | null = null;
    let exitSignal: NodeJS.Signals | null = null;
    const collect = (chunks: Buffer[], key: 'stdout' | 'stderr') => (chunk: Buffer) => {
      if (sizes[key] >= maxOutput) {
        truncated = true;
        return;
      }
      const room = maxOutput - sizes[key];
      const kept = chunk.length > room ? chunk.subarray(0, room) : chunk;
      if (kept !== chunk) truncated = true;
      chunks.push(kept);
      sizes[key] += kept.length;
    };
    child.stdout.on('data', collect(stdout, 'stdout'));
    child.stderr.on('data', collect(stderr, 'stderr'));
    // A child that exits before reading its input makes stdin emit EPIPE: not our failure.
    child.stdin.on('error', () => undefined);
    if (options.input !== undefined) child.stdin.end(options.input);
    else child.stdin.end();

    const killGroup = (): void => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup();
    }, timeoutMs);
    let closeGrace: NodeJS.Timeout | undefined;

    const finish = (): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (closeGrace) clearTimeout(closeGrace);
      resolve({
        code: exitCode,
        signal: exitSignal,
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
        timedOut,
        truncated,
        durationMs: performance.now() - started,
      });
    };
    child.on('error', (error: NodeJS.ErrnoException) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      const hint = error.code === 'ENOENT' ? ` (not found: apt-get install ${knownTools[command] ?? command})` : '';
      reject(new Error(`cannot run ${command}: ${error.message}${hint}`, { cause: error }));
    });
    child.on('exit', (code, signal) => {
      exitCode = code;
      exitSignal = signal;
      // 'close' waits for the pipes; a grandchild holding them must not hang us.
      closeGrace = setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
        finish();
      }, 2000);
    });
    child.on('close', finish);
  });
}

/** Like `run`, but throws when the command times out or exits nonzero; the error carries the command and stderr. */
export async function runOk(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const result = await run(command, args, options);
  if (result.timedOut || result.code !== 0) {
    const what = result.timedOut
      ? `timed out after ${options.timeoutMs ?? 60_000} ms`
      : result.code === null ? `was killed by ${result.signal ?? 'a signal'}` : `exited with code ${result.code}`;
    const tail = (text: string): string => (text.length > 4000 ? `…${text.slice(-4000)}` : text).trim();
    throw new Error(
      `${command} ${args.join(' ')} ${what}\n--- stderr ---\n${tail(result.stderr)}` +
        (result.stdout.trim() ? `\n--- stdout ---\n${tail(result.stdout)}` : ''),
    );
  }
  return result;
}

/**
 * A node:test test that needs tools: skipped outside CI when one is missing, failed in CI.
 * `toolTest('pull with podman', ['podman', 'skopeo'], async (t) => { ... })`.
 */
export async function toolTest(
  name: string,
  tools: readonly ToolSpec[],
  fn: (t: import('node:test').TestContext) => Promise<void> | void,
  options: { timeout?: number } = {},
): Promise<void> {
  const { test } = await import('node:test');
  await test(name, { skip: toolSkipReason(...tools), timeout: options.timeout }, async (t) => {
    requireTools(...tools);
    await fn(t);
  });
}
