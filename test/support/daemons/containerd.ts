import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createTempDir, removeDir, type AfterHook } from '../temp-dir.js';
import { requireTools, run, type RunOptions, type RunResult } from '../tools.js';
import { spawnDaemon, waitUntilReady } from './daemon-process.js';

/** The Debian package of containerd and ctr, for toolSkipReason and requireTools. */
export const containerdTools = [
  { name: 'containerd', debianPackage: 'containerd' },
  { name: 'ctr', debianPackage: 'containerd' },
] as const;

export interface Containerd {
  /** The gRPC socket, for `ctr --address`. */
  readonly address: string;
  /** `ctr --address ADDRESS ARGS`. */
  ctr(args: readonly string[], options?: RunOptions): Promise<RunResult>;
  logs(): string;
}

/** containerd 1.6 as root with its own root, state and sockets in a temp dir (config version 2). Stopped after `t`. */
export async function startContainerd(t: AfterHook): Promise<Containerd> {
  const [containerdPath, ctrPath] = requireTools(...containerdTools) as [string, string];
  const dir = await createTempDir('berth-containerd-');
  const address = join(dir, 'containerd.sock');
  const config = [
    'version = 2',
    `root = ${JSON.stringify(join(dir, 'root'))}`,
    `state = ${JSON.stringify(join(dir, 'state'))}`,
    '[grpc]',
    `  address = ${JSON.stringify(address)}`,
    '[ttrpc]',
    `  address = ${JSON.stringify(`${address}.ttrpc`)}`,
    '[debug]',
    `  address = ${JSON.stringify(`${address}.debug`)}`,
    '[metrics]',
    '  address = ""',
    '',
  ].join('\n');
  const configFile = join(dir, 'config.toml');
  await writeFile(configFile, config);
  const daemon = spawnDaemon(containerdPath, ['--config', configFile]);
  t.after(async () => {
    // One hook, in this order: the daemon is gone before its directory is removed.
    await daemon.stop();
    await removeDir(dir);
  });
  const ctr: Containerd['ctr'] = (args, options = {}) => run(ctrPath, ['--address', address, ...args], { timeoutMs: 120_000, ...options });
  await waitUntilReady(daemon, 'containerd', async () => (await ctr(['version'], { timeoutMs: 10_000 })).code === 0);
  return { address, ctr, logs: daemon.logs };
}
