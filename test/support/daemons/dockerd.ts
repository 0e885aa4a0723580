import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createTempDir, removeDir, type AfterHook } from '../temp-dir.js';
import { requireTools, run, type RunOptions, type RunResult } from '../tools.js';
import { spawnDaemon, waitUntilReady } from './daemon-process.js';

/** The Debian packages of dockerd and its CLI, for toolSkipReason and requireTools. */
export const dockerdTools = [
  { name: 'dockerd', debianPackage: 'docker.io' },
  { name: 'docker', debianPackage: 'docker.io' },
] as const;

export interface Dockerd {
  /** `unix:///…/docker.sock`, for `docker -H`. */
  readonly host: string;
  /** `docker -H HOST ARGS`; `configDir` becomes DOCKER_CONFIG (the CLI's credentials, ~/.docker by default). */
  docker(args: readonly string[], options?: RunOptions & { configDir?: string }): Promise<RunResult>;
  logs(): string;
}

/**
 * dockerd 20.10 as root without a network of its own (no iptables, no bridge, vfs storage), with its data root,
 * exec root, socket and pid file in a temp dir and `daemonJson` as its --config-file (registry-mirrors and
 * insecure-registries as `berth mirror-config` prints them). Stopped after `t`.
 */
export async function startDockerd(t: AfterHook, daemonJson: Readonly<Record<string, unknown>>): Promise<Dockerd> {
  const [dockerdPath, dockerPath] = requireTools(...dockerdTools) as [string, string];
  const dir = await createTempDir('berth-dockerd-');
  const configFile = join(dir, 'daemon.json');
  await writeFile(configFile, JSON.stringify(daemonJson));
  const host = `unix://${join(dir, 'docker.sock')}`;
  const daemon = spawnDaemon(dockerdPath, [
    '--iptables=false',
    '--ip6tables=false',
    '--bridge=none',
    '--storage-driver=vfs',
    '--data-root', join(dir, 'root'),
    '--exec-root', join(dir, 'exec'),
    '-H', host,
    '--pidfile', join(dir, 'docker.pid'),
    '--config-file', configFile,
  ]);
  t.after(async () => {
    // One hook, in this order: the daemon is gone before its directory is removed.
    await daemon.stop();
    await removeDir(dir);
  });
  const docker: Dockerd['docker'] = (args, options = {}) => {
    const { configDir, ...runOptions } = options;
    const env = { ...runOptions.env, ...(configDir ? { DOCKER_CONFIG: configDir } : {}) };
    return run(dockerPath, ['-H', host, ...args], { timeoutMs: 120_000, ...runOptions, env });
  };
  await waitUntilReady(daemon, 'dockerd', async () => (await docker(['version'], { timeoutMs: 10_000 })).code === 0);
  return { host, docker, logs: daemon.logs };
}
