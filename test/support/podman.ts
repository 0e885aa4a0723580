import { mkdir, writeFile } from 'node:fs/promises';
import { createDaemonSandbox } from './daemons/sandbox.js';
import type { AfterHook } from './temp-dir.js';
import { run, runOk, type RunOptions, type RunResult } from './tools.js';

/**
 * podman with everything of its own in one sandbox (no daemon): image store (vfs driver: plain directories),
 * run root, libpod's tmp dir (locks, the events log), the staging dir for pulled blobs, containers.conf,
 * registries.conf and the credentials file. Tests never touch or depend on the machine's images or
 * configuration and can run in parallel. The sandbox is removed after the test with whatever podman left
 * mounted below it unmounted first (see daemons/sandbox.ts).
 */
export interface IsolatedPodmanOptions {
  /**
   * registries.conf, as a user writes it (for example what `berth mirror-config` prints). Default: no
   * unqualified-search registries and no mirrors, so only fully qualified names pull, from where they say.
   */
  readonly registriesConf?: string;
}

export interface IsolatedPodman {
  /** Global flags pointing podman at the isolated store; put them before the subcommand. */
  readonly globalArgs: readonly string[];
  /** Variables that point podman at the sandbox's configuration files (already set for run/runOk). */
  readonly env: Readonly<Record<string, string>>;
  /** The sandbox directory. */
  readonly dir: string;
  run(args: readonly string[], options?: RunOptions): Promise<RunResult>;
  runOk(args: readonly string[], options?: RunOptions): Promise<RunResult>;
}

function tomlString(value: string): string {
  return JSON.stringify(value); // a JSON string is a valid TOML basic string
}

export async function createIsolatedPodman(t: AfterHook, options: IsolatedPodmanOptions = {}): Promise<IsolatedPodman> {
  const sandbox = await createDaemonSandbox('pod');
  t.after(() => sandbox.remove());
  const path = sandbox.path;
  await mkdir(path('copy-tmp'), { recursive: true });
  const containersConf = path('containers.conf');
  const registriesConf = path('registries.conf');
  await writeFile(containersConf, `[engine]\nimage_copy_tmp_dir = ${tomlString(path('copy-tmp'))}\n`, { mode: 0o600 });
  await writeFile(registriesConf, options.registriesConf ?? 'unqualified-search-registries = []\n', { mode: 0o600 });
  // podman refuses a REGISTRY_AUTH_FILE that does not exist: start with no credentials at all.
  await writeFile(path('auth.json'), '{}\n', { mode: 0o600 });
  const env = {
    CONTAINERS_CONF: containersConf,
    CONTAINERS_REGISTRIES_CONF: registriesConf,
    REGISTRY_AUTH_FILE: path('auth.json'),
  };
  const globalArgs = [
    '--root',
    path('root'),
    '--runroot',
    path('run'),
    '--tmpdir',
    path('tmp'),
    '--storage-driver',
    'vfs',
    '--events-backend',
    'file',
    '--cgroup-manager',
    'cgroupfs',
  ];
  const withDefaults = (runOptions: RunOptions = {}): RunOptions => ({ timeoutMs: 120_000, ...runOptions, env: { ...env, ...runOptions.env } });
  return {
    globalArgs,
    env,
    dir: sandbox.dir,
    run: (args, runOptions) => run('podman', [...globalArgs, ...args], withDefaults(runOptions)),
    runOk: (args, runOptions) => runOk('podman', [...globalArgs, ...args], withDefaults(runOptions)),
  };
}
