import { mkdir, writeFile } from 'node:fs/promises';
import type { AfterHook } from '../temp-dir.js';
import { requireTool, run, runOk, type RunOptions, type RunResult } from '../tools.js';
import { launchContainerd } from './containerd.js';
import { startDaemonProcess, type DaemonProcess } from './daemon-process.js';
import { dockerCli, dockerd as dockerdTool } from './requirements.js';
import { createDaemonSandbox, type DaemonSandbox } from './sandbox.js';

/**
 * dockerd 20.10 as root without a network, confined to one sandbox: data root, exec root, API socket,
 * pidfile, daemon.json and trust key all inside it, and a containerd of its own (`--containerd`), because
 * dockerd otherwise adopts whatever answers on /run/containerd/containerd.sock or starts one of its own in a
 * session we cannot reach. No iptables, no bridge, no IP forwarding (dockerd would flip the host's
 * net.ipv4.ip_forward), vfs storage (plain directories), cgroupfs (no systemd on the bus).
 * The docker CLI gets its own config directory, so it never reads the machine's credentials.
 */

export interface DockerdOptions {
  /**
   * daemon.json as a client of Berth writes it (for example the `registry-mirrors` object that
   * `berth mirror-config` prints). The sandbox adds only the trust key's path, which dockerd 20.10 would
   * otherwise write to /etc/docker/key.json, shared by every instance.
   */
  readonly daemonJson?: Readonly<Record<string, unknown>>;
}

export interface DockerdInstance {
  /** `unix:///…/docker.sock`, for `docker -H`. */
  readonly host: string;
  readonly sandbox: DaemonSandbox;
  readonly dockerd: DaemonProcess;
  readonly containerd: DaemonProcess;
  /** The daemon.json it was started with (after the sandbox's addition). */
  readonly daemonJson: Readonly<Record<string, unknown>>;
  /** `docker -H HOST ARGS` with the sandbox's DOCKER_CONFIG. */
  docker(args: readonly string[], options?: RunOptions): Promise<RunResult>;
  dockerOk(args: readonly string[], options?: RunOptions): Promise<RunResult>;
  /** The last lines of dockerd's and containerd's logs, for assertion messages. */
  logTail(lines?: number): string;
  /** Stops dockerd, then its containerd, then removes the sandbox (unmounting what is left). Idempotent. */
  stop(): Promise<void>;
}

/** A dockerd of its own, stopped and cleaned up after `t` (also when the test fails). */
export async function startDockerd(t: AfterHook, options: DockerdOptions = {}): Promise<DockerdInstance> {
  const dockerdBinary = requireTool(dockerdTool);
  const dockerBinary = requireTool(dockerCli);
  const sandbox = await createDaemonSandbox('dkd');
  let containerd: DaemonProcess | undefined;
  let dockerd: DaemonProcess | undefined;
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      // dockerd first: it unmounts its data root on a clean shutdown and talks to containerd while it does.
      await dockerd?.stop();
      await containerd?.stop();
      await sandbox.remove();
    })();
    return stopped;
  };
  t.after(stop);

  const host = `unix://${sandbox.path('docker.sock')}`;
  const env = { DOCKER_CONFIG: sandbox.path('docker-config'), DOCKER_HOST: undefined, DOCKER_CONTEXT: undefined, DOCKER_TLS_VERIFY: undefined, DOCKER_CERT_PATH: undefined };
  const docker = (args: readonly string[], runOptions: RunOptions = {}): Promise<RunResult> =>
    run(dockerBinary, ['-H', host, ...args], { timeoutMs: 120_000, ...runOptions, env: { ...env, ...runOptions.env } });
  const daemonJson = { ...options.daemonJson, 'deprecated-key-path': sandbox.path('key.json') };
  try {
    await mkdir(sandbox.path('docker-config'), { recursive: true, mode: 0o700 });
    const configFile = sandbox.path('daemon.json');
    await writeFile(configFile, `${JSON.stringify(daemonJson, null, 2)}\n`, { mode: 0o600 });
    const launched = await launchContainerd(sandbox);
    containerd = launched.process;
    dockerd = await startDaemonProcess({
      name: 'dockerd',
      command: dockerdBinary,
      args: [
        '--iptables=false',
        '--ip6tables=false',
        '--ip-forward=false',
        '--ip-masq=false',
        '--bridge=none',
        '--storage-driver=vfs',
        '--exec-opt',
        'native.cgroupdriver=cgroupfs',
        '--data-root',
        sandbox.path('data'),
        '--exec-root',
        sandbox.path('exec'),
        '-H',
        host,
        '--pidfile',
        sandbox.path('dockerd.pid'),
        '--config-file',
        configFile,
        '--containerd',
        launched.address,
        '--log-level=debug',
      ],
      sandbox,
      isReady: async () => (await docker(['version', '--format', '{{.Server.Version}}'], { timeoutMs: 10_000 })).code === 0,
    });
  } catch (error) {
    await stop();
    throw error;
  }
  const started = { dockerd, containerd };
  return {
    host,
    sandbox,
    dockerd: started.dockerd,
    containerd: started.containerd,
    daemonJson,
    docker,
    dockerOk: (args, runOptions = {}) => runOk(dockerBinary, ['-H', host, ...args], { timeoutMs: 120_000, ...runOptions, env: { ...env, ...runOptions.env } }),
    logTail: (lines = 40) => `--- dockerd ---\n${started.dockerd.logTail(lines)}\n--- containerd ---\n${started.containerd.logTail(Math.ceil(lines / 4))}`,
    stop,
  };
}
