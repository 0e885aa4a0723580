import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { createDaemonSandbox, type DaemonSandbox } from '../daemons/sandbox.js';
import { startDaemonProcess, type DaemonProcess } from '../daemons/daemon-process.js';
import { freePort, probe } from '../net.js';
import { requireTools, run, runOk, toolSkipReason, type ToolRequirement } from '../tools.js';
import { cephConfig } from './ceph-config.js';

/**
 * A throwaway S3 service for tests: Ceph's radosgw (Debian's 16.2) over a single-node cluster of one monitor
 * and one memstore OSD, all on 127.0.0.1 with ports picked at start, everything in one temp directory.
 * Outside CI it is skipped when Ceph is not installed (`radosgwSkipReason`); in CI `requireRadosgw` fails.
 *
 * Every daemon runs in the foreground as a child of this process, in its own process group, inside a
 * daemon sandbox: `stop()` ends each group and removes the directory, the sandbox's exit hook does the same
 * when this process exits, and the next run sweeps what a SIGKILLed test process left.
 */

export const cephTools: readonly ToolRequirement[] = [
  { name: 'ceph-mon', debianPackage: 'ceph-mon' },
  // monmaptool comes with ceph-base, which ceph-mon depends on.
  { name: 'monmaptool', debianPackage: 'ceph-mon' },
  { name: 'ceph-osd', debianPackage: 'ceph-osd' },
  { name: 'radosgw', debianPackage: 'radosgw' },
  { name: 'ceph', debianPackage: 'ceph-common' },
  { name: 'ceph-authtool', debianPackage: 'ceph-common' },
  { name: 'radosgw-admin', debianPackage: 'ceph-common' },
];

/** node:test's `skip` option: a reason naming the Debian packages outside CI when Ceph is missing. */
export function radosgwSkipReason(): string | undefined {
  return toolSkipReason(...cephTools);
}

/** Throws (failing the test; in CI nothing is skipped) when a Ceph binary is missing. */
export function requireRadosgw(): void {
  requireTools(...cephTools);
}

export interface RadosgwServer {
  /** `http://127.0.0.1:PORT`, for path-style requests. */
  readonly endpoint: string;
  readonly region: string;
  /** Of the one S3 user created at start. */
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
  /** A bucket created at start. */
  readonly bucket: string;
  /** Wall time from the call to a bucket that answers. */
  readonly startupMs: number;
  /** Creates another (empty) bucket; a random name when none is given. */
  createBucket(name?: string): Promise<string>;
  /** The last lines of each daemon's output and of radosgw's log, for assertion messages. */
  logTail(): string;
  /** Kills every daemon (their whole process groups) and removes the directory. Idempotent. */
  stop(): Promise<void>;
}

export interface RadosgwOptions {
  /** RAM the memstore OSD may fill with object data. Default 3 GiB (only what is stored is used). */
  readonly memstoreBytes?: number;
  /** Limit for the whole start. Default 120 s: a loaded 2-core machine is slow to create radosgw's pools. */
  readonly startTimeoutMs?: number;
}

const region = 'us-east-1';

export async function startRadosgw(options: RadosgwOptions = {}): Promise<RadosgwServer> {
  requireRadosgw();
  const started = performance.now();
  const sandbox = await createDaemonSandbox('ceph');
  const daemons: DaemonProcess[] = [];
  const stop = async (): Promise<void> => {
    // SIGKILL, not a clean shutdown: the data is thrown away, and radosgw and the OSD take seconds to stop.
    await Promise.all(daemons.map((daemon) => daemon.kill()));
    await sandbox.remove();
  };
  try {
    const cluster = await startCluster(sandbox, daemons, options);
    const client = new S3Client({
      endpoint: cluster.endpoint,
      region,
      forcePathStyle: true,
      credentials: cluster.credentials,
      requestChecksumCalculation: 'WHEN_REQUIRED',
    });
    const createBucket = async (name = `berth-${randomBytes(6).toString('hex')}`): Promise<string> => {
      await client.send(new CreateBucketCommand({ Bucket: name }));
      return name;
    };
    const bucket = await createBucket();
    let stopping: Promise<void> | undefined;
    return {
      ...cluster,
      region,
      bucket,
      startupMs: performance.now() - started,
      createBucket,
      logTail: () => logTail(daemons),
      stop: () => {
        stopping ??= (async () => {
          client.destroy();
          await stop();
        })();
        return stopping;
      },
    };
  } catch (error) {
    const tail = logTail(daemons);
    await stop();
    throw new Error(`radosgw did not start: ${error instanceof Error ? error.message : String(error)}\n${tail}`, { cause: error });
  }
}

interface Cluster {
  readonly endpoint: string;
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
}

async function startCluster(sandbox: DaemonSandbox, daemons: DaemonProcess[], options: RadosgwOptions): Promise<Cluster> {
  const deadline = Date.now() + (options.startTimeoutMs ?? 120_000);
  const remaining = (): number => Math.max(deadline - Date.now(), 1000);
  const dir = sandbox.dir;
  for (const sub of ['run', 'log', 'mon/ceph-a', 'osd/ceph-0', 'rgw']) await mkdir(sandbox.path(sub), { recursive: true });
  const fsid = randomUUID();
  const monPort = await freePort();
  const rgwPort = await freePort();
  const conf = sandbox.path('ceph.conf');
  await writeFile(conf, cephConfig({ fsid, dir, monPort, rgwPort, memstoreBytes: options.memstoreBytes ?? 3 * 1024 ** 3 }));
  const ceph = (args: string[]) => run('ceph', ['-c', conf, '--connect-timeout', '10', ...args], { timeoutMs: 30_000 });

  await runOk('ceph-authtool', ['--create-keyring', sandbox.path('keyring'), '--gen-key', '-n', 'mon.', '--cap', 'mon', 'allow *']);
  await runOk('monmaptool', ['--create', '--fsid', fsid, '--addv', 'a', `[v1:127.0.0.1:${monPort}]`, sandbox.path('monmap')]);
  await runOk('ceph-mon', ['-c', conf, '--mkfs', '-i', 'a', '--monmap', sandbox.path('monmap'), '--keyring', sandbox.path('keyring')]);
  daemons.push(
    await startDaemonProcess({
      name: 'ceph-mon',
      command: 'ceph-mon',
      args: ['-f', '-c', conf, '-i', 'a'],
      sandbox,
      isReady: async () => (await ceph(['mon', 'stat'])).code === 0,
      startTimeoutMs: remaining(),
    }),
  );

  // Right after the monitor starts, the CLI now and then sends its command before it has the monmap and the
  // monitor refuses it ("wrong fsid"): retry. `osd new <uuid>` is idempotent.
  const osdUuid = randomUUID();
  const osdId = await retry('ceph osd new', deadline, async () => {
    const result = await ceph(['osd', 'new', osdUuid]);
    return result.code === 0 ? result.stdout.trim() : undefined;
  });
  await runOk('ceph-osd', ['-c', conf, '-i', osdId, '--mkfs', '--osd-uuid', osdUuid], { timeoutMs: remaining() });
  // The same race can fail the OSD's first monitor command (about one start in four): it then exits, and
  // another start goes through.
  daemons.push(
    await retry('ceph-osd', deadline, async () => {
      try {
        return await startDaemonProcess({
          name: `ceph-osd.${osdId}`,
          command: 'ceph-osd',
          args: ['-f', '-c', conf, '-i', osdId],
          sandbox,
          isReady: async () => /"num_up_osds":1\b/.test((await ceph(['osd', 'stat', '-f', 'json'])).stdout),
          startTimeoutMs: remaining(),
        });
      } catch (error) {
        if (/exited while starting/.test(String(error))) return undefined;
        throw error;
      }
    }),
  );

  const endpoint = `http://127.0.0.1:${rgwPort}`;
  daemons.push(
    await startDaemonProcess({
      name: 'radosgw',
      command: 'radosgw',
      args: ['-f', '-c', conf, '-n', 'client.rgw.a'],
      sandbox,
      // radosgw opens its port only after it created its pools.
      isReady: async () => (await probe(`${endpoint}/`, 2000)) > 0,
      startTimeoutMs: remaining(),
    }),
  );
  const credentials = { accessKeyId: `BERTH${randomBytes(8).toString('hex').toUpperCase()}`, secretAccessKey: randomBytes(24).toString('base64url') };
  // Its own admin socket: the default name would be radosgw's (same client name, same run directory).
  await runOk(
    'radosgw-admin',
    ['-c', conf, '-n', 'client.rgw.a', '--admin-socket', sandbox.path('run', 'radosgw-admin.asok'), 'user', 'create', '--uid=berth', '--display-name=berth',
      `--access-key=${credentials.accessKeyId}`, `--secret-key=${credentials.secretAccessKey}`],
    { timeoutMs: remaining() },
  );
  return { endpoint, credentials };
}

/** Calls `attempt` until it returns a value, 200 ms apart, until the deadline. */
async function retry<T>(what: string, deadline: number, attempt: () => Promise<T | undefined>): Promise<T> {
  for (;;) {
    const value = await attempt();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what} did not succeed in time`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

function logTail(daemons: readonly DaemonProcess[]): string {
  return daemons.map((daemon) => `--- ${daemon.name} ---\n${daemon.logTail(20)}`).join('\n');
}
