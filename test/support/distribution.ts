import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createBoundedLog } from './bounded-log.js';
import { freePort, waitForHttp } from './net.js';
import { createTempDir, removeDir } from './temp-dir.js';
import { findTool, requireTool, run, runOk, trackChild } from './tools.js';

/**
 * Debian's `docker-registry` (CNCF distribution 2.8) as a real peer for tests and the benchmark: an upstream
 * for mirror tests, a reference for the protocol, a baseline for performance. One process per call, on
 * 127.0.0.1 with an ephemeral port and its own temporary storage.
 */

export const distributionBinary = '/usr/bin/docker-registry';

export type DistributionLogLevel = 'error' | 'warn' | 'info' | 'debug';

export interface DistributionOptions {
  /** distribution's own log level (stderr). Default 'info'. */
  readonly logLevel?: DistributionLogLevel;
  /** Apache combined access log on stdout, parsed into `requests()`. Default true; the benchmark turns it off. */
  readonly accessLog?: boolean;
  /** Basic auth from an htpasswd file (bcrypt). distribution only accepts it with TLS in practice for docker clients. */
  readonly auth?: { readonly username: string; readonly password: string; readonly realm?: string };
  /** Serve HTTPS with this certificate (PEM files). */
  readonly tls?: { readonly certFile: string; readonly keyFile: string };
  /** `storage.delete.enabled` (DELETE of manifests and blobs). Default false, as in distribution. */
  readonly deleteEnabled?: boolean;
  /** Pull-through cache mode: distribution proxies this upstream (and refuses pushes). */
  readonly proxy?: { readonly remoteUrl: string; readonly username?: string; readonly password?: string };
  /** Use this storage directory (kept on stop). By default a temp dir is created and removed on stop. */
  readonly storageDir?: string;
  /**
   * distribution's `s3` storage driver on an S3-compatible service (radosgw) instead of the filesystem: the
   * scale-out peer of the benchmark. Blob GETs are served by the registry itself (`storage.redirect.disable`), as
   * Berth serves them by default, rather than redirected to the object store.
   */
  readonly s3?: DistributionS3;
  /**
   * `http.secret`, which signs upload state: several processes behind one balancer need the same one, or a PATCH
   * that lands on another process than its POST is refused. Default: random per process.
   */
  readonly httpSecret?: string;
  /** Limit for the process to answer GET /v2/. Default 15 s. */
  readonly startTimeoutMs?: number;
}

/** distribution 2.8's s3 driver settings (registry/storage/driver/s3-aws/s3.go): path-style with a regionendpoint. */
export interface DistributionS3 {
  /** `http://127.0.0.1:PORT`. */
  readonly endpoint: string;
  readonly region: string;
  readonly bucket: string;
  readonly accessKey: string;
  readonly secretKey: string;
}

/** One line of the access log. */
export interface AccessLogEntry {
  readonly method: string;
  /** Path with query string, as requested. */
  readonly path: string;
  readonly status: number;
  readonly bytes: number;
  readonly user: string;
  readonly userAgent: string;
}

export interface DistributionServer {
  /** `http://127.0.0.1:PORT` (or https://). */
  readonly url: string;
  /** `127.0.0.1:PORT`, for image references (`${host}/repo:tag`). */
  readonly host: string;
  readonly port: number;
  readonly storageDir: string;
  readonly configFile: string;
  /** PID of the current process (changes after `restart`). */
  pid(): number | undefined;
  /** Everything the process printed (stderr app log and stdout access log, interleaved), capped to the last 8 MiB. */
  logs(): string;
  /** Parsed access-log lines so far (empty when accessLog is off). */
  requests(): readonly AccessLogEntry[];
  /** Graceful stop (SIGTERM, SIGKILL after 5 s); removes the storage dir if this helper created it. Idempotent. */
  stop(): Promise<void>;
  /** Same as stop(). */
  close(): Promise<void>;
  /** SIGKILL now, keeping the storage: for "upstream went away" tests. `restart()` brings it back on the same port. */
  kill(): void;
  /** Starts the process again on the same port and storage (after kill() or to pick up a changed config). */
  restart(): Promise<void>;
}

const maxLogChars = 8 * 1024 * 1024;
const accessLine = /^(\S+) \S+ (\S+) \[[^\]]*\] "(\S+) (\S+)[^"]*" (\d{3}) (\d+|-) "[^"]*" "([^"]*)"/;

/** bcrypt htpasswd line: apache2-utils' htpasswd when present, else Python's crypt (both give $2?$ hashes). */
export async function htpasswdLine(username: string, password: string): Promise<string> {
  if (findTool('htpasswd')) {
    const result = await runOk('htpasswd', ['-nbB', '-C', '5', username, password], { timeoutMs: 10_000 });
    return result.stdout.trim();
  }
  const python = findTool('python3');
  if (!python) throw new Error('no bcrypt tool for htpasswd: apt-get install apache2-utils');
  const script = 'import crypt,sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=32)))';
  const result = await run(python, ['-W', 'ignore', '-c', script, password], { timeoutMs: 10_000 });
  const hash = result.stdout.trim();
  if (result.code !== 0 || !hash.startsWith('$2')) throw new Error(`no bcrypt tool for htpasswd: apt-get install apache2-utils (${result.stderr.trim()})`);
  return `${username}:${hash}`;
}

function yamlString(value: string): string {
  return JSON.stringify(value); // JSON strings are valid YAML double-quoted scalars
}

function configYaml(options: DistributionOptions, storageDir: string, port: number, htpasswdFile: string | undefined): string {
  const lines = [
    'version: 0.1',
    'log:',
    `  level: ${options.logLevel ?? 'info'}`,
    '  formatter: text',
    '  accesslog:',
    `    disabled: ${options.accessLog === false ? 'true' : 'false'}`,
    'storage:',
    ...(options.s3
      ? [
          '  s3:',
          `    regionendpoint: ${yamlString(options.s3.endpoint)}`,
          `    region: ${yamlString(options.s3.region)}`,
          `    bucket: ${yamlString(options.s3.bucket)}`,
          `    accesskey: ${yamlString(options.s3.accessKey)}`,
          `    secretkey: ${yamlString(options.s3.secretKey)}`,
          // http:// endpoint; signature v4 (radosgw accepts both); with regionendpoint set, 2.8 uses path-style.
          '    secure: false',
          '    v4auth: true',
          '  redirect:',
          '    disable: true',
        ]
      : ['  filesystem:', `    rootdirectory: ${yamlString(storageDir)}`]),
    '  cache:',
    '    blobdescriptor: inmemory',
    '  delete:',
    `    enabled: ${options.deleteEnabled === true ? 'true' : 'false'}`,
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    `  secret: ${yamlString(options.httpSecret ?? randomBytes(16).toString("hex"))}`,
  ];
  if (options.tls) {
    lines.push('  tls:', `    certificate: ${yamlString(options.tls.certFile)}`, `    key: ${yamlString(options.tls.keyFile)}`);
  }
  if (htpasswdFile && options.auth) {
    lines.push('auth:', '  htpasswd:', `    realm: ${yamlString(options.auth.realm ?? 'berth-test')}`, `    path: ${yamlString(htpasswdFile)}`);
  }
  if (options.proxy) {
    lines.push('proxy:', `  remoteurl: ${yamlString(options.proxy.remoteUrl)}`);
    if (options.proxy.username !== undefined) lines.push(`  username: ${yamlString(options.proxy.username)}`);
    if (options.proxy.password !== undefined) lines.push(`  password: ${yamlString(options.proxy.password)}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Starts docker-registry and resolves once GET /v2/ answers (200, or 401 with auth). */
export async function startDistribution(options: DistributionOptions = {}): Promise<DistributionServer> {
  requireTool({ name: distributionBinary, debianPackage: 'docker-registry' });
  const workDir = await createTempDir('berth-distribution-');
  const storageDir = options.storageDir ?? join(workDir, 'storage');
  const configFile = join(workDir, 'config.yml');
  // Async cleanup cannot run when the process dies of a signal or process.exit(); this can.
  const removeOnExit = (): void => rmSync(workDir, { recursive: true, force: true });
  process.on('exit', removeOnExit);
  let htpasswdFile: string | undefined;
  if (options.auth) {
    htpasswdFile = join(workDir, 'htpasswd');
    await writeFile(htpasswdFile, `${await htpasswdLine(options.auth.username, options.auth.password)}\n`, { mode: 0o600 });
  }

  const output = createBoundedLog(maxLogChars);
  const entries: AccessLogEntry[] = [];
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let exitNote: string | undefined;

  // With S3, the config alone says where and as whom: the machine's AWS_* settings (a CA bundle, a profile) stay out.
  const childEnv = options.s3 ? Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('AWS_'))) : process.env;
  const append = output.append;
  const spawnOn = (port: number): void => {
    exitNote = undefined;
    const proc = spawn(distributionBinary, ['serve', configFile], { stdio: ['ignore', 'pipe', 'pipe'], env: childEnv });
    trackChild(proc);
    child = proc;
    let partial = '';
    proc.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      append(chunk);
      partial += chunk;
      const lines = partial.split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        const match = accessLine.exec(line);
        if (!match) continue;
        entries.push({
          method: match[3] as string,
          path: match[4] as string,
          status: Number(match[5]),
          bytes: match[6] === '-' ? 0 : Number(match[6]),
          user: match[2] as string,
          userAgent: match[7] as string,
        });
      }
    });
    proc.stderr?.setEncoding('utf8').on('data', append);
    exited = new Promise((resolve) => {
      proc.on('exit', (code, signal) => {
        exitNote = `docker-registry exited (code ${code ?? 'none'}, signal ${signal ?? 'none'}) on port ${port}`;
        resolve();
      });
      proc.on('error', (error) => {
        exitNote = `docker-registry could not start: ${error.message}`;
        resolve();
      });
    });
  };

  const scheme = options.tls ? 'https' : 'http';
  const boot = async (fixedPort?: number): Promise<number> => {
    // A port picked by freePort can be taken before docker-registry binds it: retry with a new one.
    for (let attempt = 1; ; attempt++) {
      const port = fixedPort ?? (await freePort());
      // Owner-only: it may hold S3 credentials.
      await writeFile(configFile, configYaml(options, storageDir, port, htpasswdFile), { mode: 0o600 });
      spawnOn(port);
      try {
        await waitForHttp(`${scheme}://127.0.0.1:${port}/v2/`, { timeoutMs: options.startTimeoutMs ?? 15_000, abort: () => exitNote });
        return port;
      } catch (error) {
        child?.kill('SIGKILL');
        await exited;
        const reason = error instanceof Error ? error.message : String(error);
        if (fixedPort !== undefined || attempt >= 3 || !/address already in use/.test(output.text())) {
          throw new Error(`docker-registry did not start: ${reason}\n--- logs ---\n${output.text().slice(-4000)}`);
        }
      }
    }
  };

  let port: number;
  try {
    port = await boot();
  } catch (error) {
    process.off('exit', removeOnExit);
    await removeDir(workDir);
    throw error;
  }

  let stopped = false;
  const stopProcess = async (): Promise<void> => {
    const proc = child;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await stopProcess();
    process.off('exit', removeOnExit);
    // workDir holds config and htpasswd, and the storage unless the caller supplied its own directory.
    await removeDir(workDir);
  };

  return {
    url: `${scheme}://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    port,
    storageDir,
    configFile,
    pid: () => child?.pid,
    logs: output.text,
    requests: () => entries,
    stop,
    close: stop,
    kill: () => {
      child?.kill('SIGKILL');
    },
    restart: async () => {
      if (stopped) throw new Error('docker-registry was stopped: start a new one');
      await stopProcess();
      await boot(port);
    },
  };
}
