import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { berthBin, startBerth, type BerthProcess } from '../support/berth-process.js';
import { freePort } from '../support/net.js';
import { haproxySkipReason, requireHaproxy, startHaproxy, type HaproxyServer, type HaproxyServerStats } from '../support/services/haproxy.js';
import { postgresSkipReason, requirePostgres, startPostgres, type PostgresDatabaseInfo, type PostgresServer } from '../support/services/postgres.js';
import { radosgwSkipReason, requireRadosgw, startRadosgw, type RadosgwServer } from '../support/services/radosgw.js';
import { createTempDir, removeDir } from '../support/temp-dir.js';
import { runOk } from '../support/tools.js';

/**
 * A team registry as the README's "Run a team registry" describes it, on one machine: a radosgw bucket and a
 * PostgreSQL database shared by N `berth serve` nodes (each with its own data directory, headless, plain HTTP on
 * loopback, token auth), and haproxy in front of them, round-robin per request. Every setting reaches the nodes as
 * a service manager would hand it over: environment variables and owner-only files, never the command line.
 */

export interface ClusterNode {
  /** `node0`, `node1`, ...: also the node's server name in haproxy's stats. */
  readonly name: string;
  readonly dataDir: string;
  /** The running process; replaced by `restart`. */
  readonly berth: BerthProcess;
}

export interface Cluster {
  /** The balancer: `http://127.0.0.1:PORT`. */
  readonly url: string;
  /** `127.0.0.1:PORT`, for image references. */
  readonly host: string;
  readonly nodes: readonly ClusterNode[];
  readonly proxy: HaproxyServer;
  /** The nodes' bucket on `radosgw`: its first bucket, or a new one when the services were borrowed. */
  readonly bucket: string;
  readonly radosgw: RadosgwServer;
  readonly postgres: PostgresServer;
  readonly database: PostgresDatabaseInfo;
  /** What every node (and every CLI command against the cluster) gets in its environment. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Wall times of the start, in ms: services (radosgw and PostgreSQL, in parallel), nodes, haproxy, total. */
  readonly startup: { readonly servicesMs: number; readonly nodesMs: number; readonly proxyMs: number; readonly totalMs: number };
  /**
   * Runs `berth ARGS --data DIR` with the cluster's environment, as an operator does from any machine that reaches the
   * database (README): DIR is an empty admin directory, or a node's data directory when `node` is given. Resolves
   * with stdout; throws on failure.
   */
  cli(args: readonly string[], node?: number): Promise<string>;
  /** Creates an access token through the CLI (the admin directory); resolves with its secret. */
  createToken(name: string, scope: string): Promise<string>;
  /** haproxy's request count per node, by node name. */
  requestsByNode(): Promise<Record<string, number>>;
  /** SIGKILL to one node (no clean shutdown); resolves once it is gone and haproxy has it DOWN. */
  killNode(index: number): Promise<void>;
  /** Starts a stopped or killed node again on its data directory; resolves once haproxy has it UP. */
  restartNode(index: number): Promise<void>;
  /** Stops haproxy, the nodes, PostgreSQL and radosgw (unless borrowed), and removes every directory. Idempotent. */
  stop(): Promise<void>;
}

export interface ClusterOptions {
  /** Default 3. */
  readonly nodes?: number;
  /** The nodes' `--auth`. Default `token`, as the README's team registry runs; the benchmark compares `none`. */
  readonly auth?: 'token' | 'none';
  /**
   * Running services to use instead of starting new ones (the benchmark runs several clusters on one radosgw and one
   * PostgreSQL): the cluster gets a new bucket and a new database on them, and stop() leaves them running.
   */
  readonly services?: { readonly radosgw: RadosgwServer; readonly postgres: PostgresServer };
  /**
   * The nodes' BERTH_ENCRYPTION. Default unset: a new S3 + PostgreSQL deployment is encrypted at rest, as the
   * README's team registry is; `off` keeps it unencrypted (the benchmark, comparable with its earlier rows).
   */
  readonly encryption?: 'auto' | 'off';
}

/** node:test's `skip` option for a cluster test: outside CI, a reason naming what is missing. */
export function clusterSkipReason(): string | undefined {
  return radosgwSkipReason() ?? postgresSkipReason() ?? haproxySkipReason();
}

/** Throws (failing the test; in CI nothing is skipped) when radosgw, PostgreSQL or haproxy is missing. */
export function requireCluster(): void {
  requireRadosgw();
  requirePostgres();
  requireHaproxy();
}

export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  requireCluster();
  const count = options.nodes ?? 3;
  const started = performance.now();
  const work = await createTempDir('berth-cluster-');
  const cleanups: (() => Promise<unknown>)[] = [() => removeDir(work)];
  const stopAll = async (): Promise<void> => {
    // Last started first: the balancer, the nodes, then the services they use.
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  };
  try {
    const borrowed = options.services;
    const [radosgw, postgres] = borrowed ? [borrowed.radosgw, borrowed.postgres] : await Promise.all([startRadosgw(), startPostgres()]);
    if (!borrowed) cleanups.push(() => radosgw.stop(), () => postgres.stop());
    const bucket = borrowed ? await radosgw.createBucket() : radosgw.bucket;
    const database = await postgres.createDatabase();
    const servicesMs = performance.now() - started;

    const secrets = join(work, 'secrets');
    await mkdir(secrets, { mode: 0o700 });
    const passwordFile = join(secrets, 'pg-password');
    await writeFile(passwordFile, `${database.connection.password}\n`, { mode: 0o600 });
    const masterKeyFile = join(secrets, 'master.key');
    await writeFile(masterKeyFile, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
    const env: Record<string, string | undefined> = {
      BERTH_METADATA: database.url,
      BERTH_METADATA_PASSWORD_FILE: passwordFile,
      BERTH_STORAGE: `s3://${bucket}?endpoint=${encodeURIComponent(radosgw.endpoint)}&region=${radosgw.region}`,
      BERTH_MASTER_KEY_FILE: masterKeyFile,
      AWS_ACCESS_KEY_ID: radosgw.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: radosgw.credentials.secretAccessKey,
      // Nothing of the machine's own AWS or PostgreSQL settings may leak in.
      AWS_PROFILE: undefined,
      AWS_SESSION_TOKEN: undefined,
      AWS_CONFIG_FILE: join(work, 'no-aws-config'),
      AWS_SHARED_CREDENTIALS_FILE: join(work, 'no-aws-credentials'),
      AWS_EC2_METADATA_DISABLED: 'true',
      PGPASSWORD: undefined,
      BERTH_LOG_LEVEL: undefined,
      BERTH_ENCRYPTION: options.encryption,
      // The machine's own ring file must not be offered to the database (storage-backend.ts ringFileOfEncryptedStorage).
      BERTH_ENCRYPTION_KEY_FILE: join(work, 'no-encryption-key-file'),
    };

    // The balancer's address is each node's --public-url (BERTH_PUBLIC_URL, as in the README's berth.env): challenges
    // name it as their realm, so haproxy needs no rule rewriting them.
    // Fixed ports, not port 0: haproxy's config names the nodes', a restarted node must come back on its own, and the
    // nodes name haproxy's. Taken together, so that no two are the same.
    let picked: number[] = [];
    while (new Set(picked).size !== count + 1) picked = await Promise.all(Array.from({ length: count + 1 }, () => freePort()));
    const [proxyPort, ...ports] = picked as [number, ...number[]];
    env.BERTH_PUBLIC_URL = `http://127.0.0.1:${proxyPort}`;

    const nodesStarted = performance.now();
    const dataDirs = Array.from({ length: count }, (_, index) => join(work, `node${index}`));
    const start = (index: number): Promise<BerthProcess> =>
      startBerth({ dataDir: dataDirs[index] as string, listen: `127.0.0.1:${ports[index]}`, auth: options.auth ?? 'token', tlsListen: 'off', env, startTimeoutMs: 60_000 });
    // All at once, as a service manager starts them: the first to reach the database migrates it under its lock.
    const processes = await Promise.allSettled(dataDirs.map((_, index) => start(index)));
    const nodes: { name: string; dataDir: string; berth: BerthProcess }[] = [];
    for (const [index, outcome] of processes.entries()) {
      if (outcome.status === 'fulfilled') nodes.push({ name: `node${index}`, dataDir: dataDirs[index] as string, berth: outcome.value });
    }
    cleanups.push(() => Promise.all(nodes.map((node) => node.berth.stop())));
    const failed = processes.find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
    if (failed) throw failed.reason;
    const nodesMs = performance.now() - nodesStarted;

    // No realm rewriting: the nodes name the balancer themselves (BERTH_PUBLIC_URL above).
    const proxy = await startHaproxy({ backends: nodes.map((node) => node.berth.host), port: proxyPort });
    cleanups.push(() => proxy.stop());

    const adminDir = join(work, 'admin');
    await mkdir(adminDir, { mode: 0o700 });
    const cli = async (args: readonly string[], node?: number): Promise<string> => {
      const dataDir = node === undefined ? adminDir : dataDirs[node];
      if (dataDir === undefined) throw new Error(`no node ${node}`);
      return (await runOk(process.execPath, [berthBin, ...args, '--data', dataDir], { env, timeoutMs: 60_000 })).stdout;
    };
    const requestsByNode = async (): Promise<Record<string, number>> =>
      Object.fromEntries((await proxy.stats()).map((server: HaproxyServerStats) => [server.name, server.requests]));
    let stopping: Promise<void> | undefined;
    return {
      url: proxy.url,
      host: proxy.host,
      nodes,
      proxy,
      bucket,
      radosgw,
      postgres,
      database,
      env,
      startup: { servicesMs, nodesMs, proxyMs: proxy.startupMs, totalMs: performance.now() - started },
      cli,
      async createToken(name, scope) {
        const printed = await cli(['token', 'create', '--name', name, '--scope', scope]);
        const secret = printed.trimEnd().split('\n').at(-1) ?? '';
        if (secret.length < 20) throw new Error(`berth token create printed no secret on its last line:\n${printed}`);
        return secret;
      },
      requestsByNode,
      async killNode(index) {
        const node = nodes[index];
        if (!node) throw new Error(`no node ${index}`);
        node.berth.kill();
        await node.berth.exited;
        await proxy.waitForStatus(node.name, 'DOWN');
      },
      async restartNode(index) {
        const node = nodes[index];
        if (!node) throw new Error(`no node ${index}`);
        await node.berth.stop();
        node.berth = await start(index);
        await proxy.waitForStatus(node.name, 'UP');
      },
      stop: () => {
        stopping ??= stopAll();
        return stopping;
      },
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
