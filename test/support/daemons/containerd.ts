import { mkdir, writeFile } from 'node:fs/promises';
import type { AfterHook } from '../temp-dir.js';
import { requireTool, run, runOk, type RunOptions, type RunResult } from '../tools.js';
import { startDaemonProcess, type DaemonProcess } from './daemon-process.js';
import { containerd as containerdTool, ctr as ctrTool } from './requirements.js';
import { createDaemonSandbox, type DaemonSandbox } from './sandbox.js';

/**
 * containerd 1.6 as root with everything of its own in one sandbox: root, state, gRPC/ttrpc/debug sockets,
 * the opt directory, no CRI plugin (it would want CNI and its own network setup) and only the `native`
 * snapshotter (plain directories, which need no kernel support). Two instances never meet, so tests may run
 * in parallel with each other and with a containerd the machine itself runs.
 */

export interface ContainerdInstance {
  /** The gRPC socket, for `ctr --address` and `dockerd --containerd`. */
  readonly address: string;
  readonly sandbox: DaemonSandbox;
  readonly process: DaemonProcess;
  /** `ctr --address ADDRESS --namespace NAMESPACE ARGS` (namespace `berth-test` unless given). */
  ctr(args: readonly string[], options?: RunOptions & { namespace?: string }): Promise<RunResult>;
  ctrOk(args: readonly string[], options?: RunOptions & { namespace?: string }): Promise<RunResult>;
  /** Stops containerd and removes its sandbox (unmounting what is left). Idempotent. */
  stop(): Promise<void>;
}

/** Plugins a pull does not use; each would reach outside the sandbox or need kernel features. */
const disabledPlugins = [
  'io.containerd.grpc.v1.cri',
  'io.containerd.snapshotter.v1.aufs',
  'io.containerd.snapshotter.v1.btrfs',
  'io.containerd.snapshotter.v1.devmapper',
  'io.containerd.snapshotter.v1.overlayfs',
  'io.containerd.snapshotter.v1.zfs',
  'io.containerd.runtime.v1.linux',
];

function tomlString(value: string): string {
  return JSON.stringify(value); // a JSON string is a valid TOML basic string
}

/** config.toml (version 2) confining one containerd to `dir`. */
export function containerdConfig(dir: (...parts: string[]) => string): string {
  return [
    'version = 2',
    `root = ${tomlString(dir('root'))}`,
    `state = ${tomlString(dir('state'))}`,
    `temp = ${tomlString(dir('tmp'))}`,
    `disabled_plugins = [${disabledPlugins.map(tomlString).join(', ')}]`,
    '',
    '[grpc]',
    `  address = ${tomlString(dir('containerd.sock'))}`,
    '',
    '[ttrpc]',
    `  address = ${tomlString(dir('containerd.sock.ttrpc'))}`,
    '',
    '[debug]',
    `  address = ${tomlString(dir('debug.sock'))}`,
    '  level = "debug"',
    '',
    '[metrics]',
    '  address = ""',
    '',
    '[plugins."io.containerd.internal.v1.opt"]',
    `  path = ${tomlString(dir('opt'))}`,
    '',
  ].join('\n');
}

/**
 * Starts containerd in `sandbox/subdir` (the sandbox is the caller's: dockerd keeps its containerd in its
 * own). Resolves once `ctr version` answers.
 */
export async function launchContainerd(sandbox: DaemonSandbox, subdir = 'containerd'): Promise<{ address: string; process: DaemonProcess }> {
  const binary = requireTool(containerdTool);
  const ctrBinary = requireTool(ctrTool);
  const dir = (...parts: string[]): string => sandbox.path(subdir, ...parts);
  await mkdir(dir('tmp'), { recursive: true });
  const configFile = dir('config.toml');
  await writeFile(configFile, containerdConfig(dir), { mode: 0o600 });
  const address = dir('containerd.sock');
  const daemon = await startDaemonProcess({
    name: 'containerd',
    command: binary,
    args: ['--config', configFile],
    sandbox,
    isReady: async () => (await run(ctrBinary, ['--address', address, 'version'], { timeoutMs: 10_000 })).code === 0,
  });
  return { address, process: daemon };
}

/** A containerd of its own, stopped and cleaned up after `t` (also when the test fails). */
export async function startContainerd(t: AfterHook): Promise<ContainerdInstance> {
  const ctrBinary = requireTool(ctrTool);
  const sandbox = await createDaemonSandbox('ctd');
  let launched: Awaited<ReturnType<typeof launchContainerd>> | undefined;
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      await launched?.process.stop();
      await sandbox.remove();
    })();
    return stopped;
  };
  t.after(stop);
  try {
    launched = await launchContainerd(sandbox);
  } catch (error) {
    await stop();
    throw error;
  }
  const { address, process: daemon } = launched;
  const ctrArgs = (args: readonly string[], namespace = 'berth-test'): string[] => ['--address', address, '--namespace', namespace, ...args];
  return {
    address,
    sandbox,
    process: daemon,
    ctr: (args, options = {}) => run(ctrBinary, ctrArgs(args, options.namespace), { timeoutMs: 120_000, ...options }),
    ctrOk: (args, options = {}) => runOk(ctrBinary, ctrArgs(args, options.namespace), { timeoutMs: 120_000, ...options }),
    stop,
  };
}
