import { join } from 'node:path';
import { makeTempDir, type AfterHook } from './temp-dir.js';
import { run, runOk, type RunOptions, type RunResult } from './tools.js';

/**
 * podman with its own image store in a temp dir (vfs driver, no daemon), so tests never touch or depend on
 * the machine's images and can run in parallel.
 */
export interface IsolatedPodman {
  /** Global flags pointing podman at the isolated store; put them before the subcommand. */
  readonly globalArgs: readonly string[];
  run(args: readonly string[], options?: RunOptions): Promise<RunResult>;
  runOk(args: readonly string[], options?: RunOptions): Promise<RunResult>;
}

export async function createIsolatedPodman(t: AfterHook): Promise<IsolatedPodman> {
  const dir = await makeTempDir(t, 'berth-podman-');
  const globalArgs = ['--root', join(dir, 'root'), '--runroot', join(dir, 'run'), '--storage-driver', 'vfs', '--events-backend', 'none'];
  const withDefaults = (options?: RunOptions): RunOptions => ({ timeoutMs: 120_000, ...options });
  return {
    globalArgs,
    run: (args, options) => run('podman', [...globalArgs, ...args], withDefaults(options)),
    runOk: (args, options) => runOk('podman', [...globalArgs, ...args], withDefaults(options)),
  };
}
