import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { startCluster, type Cluster } from '../test/e2e/cluster-fixture.js';
import { startDistribution, type DistributionServer } from '../test/support/distribution.js';
import { createImageLayout, mediaTypes, type ImageLayout } from '../test/support/oci-layout.js';
import { startHaproxy, type HaproxyServer } from '../test/support/services/haproxy.js';
import { removeDir } from '../test/support/temp-dir.js';
import { bestBlobGet, timePush } from './measure.js';
import type { Row } from './report.js';
import { runWrk, type WrkOptions, type WrkResult } from './wrk.js';

/**
 * The scale-out rows: Berth on S3 (radosgw) + PostgreSQL, 1 node and 3 nodes behind haproxy (round-robin per request,
 * the README's team registry, `--auth none` as the other rows), beside CNCF distribution 2.8 with its `s3` driver on
 * the same radosgw (each target its own bucket), 1 process and 3 behind the same haproxy config sharing one
 * http.secret. Per target: skopeo push of a plain-tar image (best of the runs, each run a new image), blob GET of its
 * layer with curl (best of the runs), manifest GET by tag with wrk. Plus the start of the 3-node test cluster
 * (radosgw and PostgreSQL in parallel, then the nodes together, then haproxy), which is what every cluster test pays.
 */

export interface ClusterSettings {
  readonly scratch: string;
  /** Size of the image's one layer. */
  readonly blobMiB: number;
  /** Push runs (each a new image) and blob GET runs; each figure is the best. */
  readonly runs: number;
  readonly wrk: WrkOptions;
  readonly log: (message: string) => void;
}

export type ClusterTargetName = 'berth1' | 'berth3' | 'distribution1' | 'distribution3';

export interface ClusterTargetFigures {
  /** Best push in seconds, and as MiB/s of the layer. */
  pushSeconds?: number;
  pushMiBPerSec?: number;
  blobGetMiBPerSec?: number;
  manifestGet?: { requestsPerSec: number; latencyAvgMs: number; requests: number };
  error?: string;
}

export interface ClusterStartup {
  readonly radosgwSeconds: number;
  readonly postgresSeconds: number;
  /** Both services, started in parallel. */
  readonly servicesSeconds: number;
  /** The 3 nodes, started together (the first migrates the database). */
  readonly nodesSeconds: number;
  readonly haproxySeconds: number;
  readonly totalSeconds: number;
  /** One node started alone on the running services (the one-node target): tells CPU contention from serial work. */
  oneNodeSeconds?: number;
}

export interface ClusterResults {
  readonly blobMiB: number;
  startup?: ClusterStartup;
  readonly targets: Partial<Record<ClusterTargetName, ClusterTargetFigures>>;
  readonly errors: string[];
}

interface Target {
  readonly name: ClusterTargetName;
  /** host:port for image references. */
  readonly host: string;
  readonly url: string;
}

const MiB = 1024 * 1024;

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

async function measureTarget(target: Target, images: { bigs: readonly ImageLayout[]; small: ImageLayout }, settings: ClusterSettings): Promise<ClusterTargetFigures> {
  const { log } = settings;
  const figures: ClusterTargetFigures = {};
  const layer = images.bigs[0]?.layers[0];
  if (!layer) throw new Error('no big image');
  log(`cluster ${target.name}: skopeo push of the ${settings.blobMiB} MiB image, best of ${images.bigs.length}`);
  let best = Number.POSITIVE_INFINITY;
  for (const [index, image] of images.bigs.entries()) best = Math.min(best, await timePush(image.ref, `${target.host}/bench/big:${index}`));
  figures.pushSeconds = best;
  figures.pushMiBPerSec = settings.blobMiB / best;
  log(`cluster ${target.name}: blob GET with curl, best of ${settings.runs}`);
  figures.blobGetMiBPerSec = (await bestBlobGet(`${target.url}/v2/bench/big/blobs/${layer.digest}`, layer.size, settings.runs)).mibPerSec;
  await timePush(images.small.ref, `${target.host}/bench/small:1`);
  log(`cluster ${target.name}: manifest GET with wrk (${settings.wrk.durationSec}s after a 2s warm-up)`);
  const manifestUrl = `${target.url}/v2/bench/small/manifests/1`;
  const headers = { Accept: mediaTypes.imageManifest };
  await runWrk(manifestUrl, { ...settings.wrk, durationSec: 2, headers });
  const wrk: WrkResult = await runWrk(manifestUrl, { ...settings.wrk, headers });
  if (wrk.non2xx3xx > 0) throw new Error(`manifest GET: ${wrk.non2xx3xx} of ${wrk.requests} responses were not 2xx/3xx, the figure is void`);
  figures.manifestGet = { requestsPerSec: wrk.requestsPerSec, latencyAvgMs: wrk.latencyAvgMs, requests: wrk.requests };
  return figures;
}

/** distribution processes on one new bucket with one http.secret; several are put behind haproxy. */
async function startDistributions(cluster: Cluster, count: number): Promise<{ servers: DistributionServer[]; proxy?: HaproxyServer; stop(): Promise<void> }> {
  const bucket = await cluster.radosgw.createBucket();
  const httpSecret = randomBytes(16).toString('hex');
  const s3 = {
    endpoint: cluster.radosgw.endpoint,
    region: cluster.radosgw.region,
    bucket,
    accessKey: cluster.radosgw.credentials.accessKeyId,
    secretKey: cluster.radosgw.credentials.secretAccessKey,
  };
  const servers: DistributionServer[] = [];
  let proxy: HaproxyServer | undefined;
  const stop = async (): Promise<void> => {
    await proxy?.stop();
    await Promise.all(servers.map((server) => server.stop()));
  };
  try {
    for (let index = 0; index < count; index += 1) servers.push(await startDistribution({ accessLog: false, logLevel: 'error', s3, httpSecret }));
    if (count > 1) proxy = await startHaproxy({ backends: servers.map((server) => server.host) });
    return { servers, proxy, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

export async function runClusterBenchmark(settings: ClusterSettings): Promise<ClusterResults> {
  const { log } = settings;
  const results: ClusterResults = { blobMiB: settings.blobMiB, targets: {}, errors: [] };
  const layoutDir = join(settings.scratch, 'cluster-layout');
  const bigs: ImageLayout[] = [];
  for (let index = 0; index < settings.runs; index += 1) {
    bigs.push(await createImageLayout(layoutDir, { tag: `big-${index}`, layers: [{ bytes: settings.blobMiB * MiB, files: 1, compress: false }] }));
  }
  const small = await createImageLayout(layoutDir, { tag: 'small', layers: [{ bytes: 64 * 1024, files: 4 }] });
  const images = { bigs, small };

  let cluster: Cluster | undefined;
  try {
    log('cluster: starting radosgw + PostgreSQL, 3 Berth nodes on them, haproxy');
    // Unencrypted, as in the rows before new S3 + PostgreSQL deployments were encrypted by default: comparable with
    // them and with distribution (which stores plaintext).
    cluster = await startCluster({ nodes: 3, auth: 'none', encryption: 'off' });
    const { servicesMs, nodesMs, proxyMs, totalMs } = cluster.startup;
    results.startup = {
      radosgwSeconds: cluster.radosgw.startupMs / 1000,
      postgresSeconds: cluster.postgres.startupMs / 1000,
      servicesSeconds: servicesMs / 1000,
      nodesSeconds: nodesMs / 1000,
      haproxySeconds: proxyMs / 1000,
      totalSeconds: totalMs / 1000,
    };
    const services = { radosgw: cluster.radosgw, postgres: cluster.postgres };
    const run = async (name: ClusterTargetName, start: () => Promise<{ target: Omit<Target, 'name'>; stop(): Promise<void> }>): Promise<void> => {
      let started: Awaited<ReturnType<typeof start>> | undefined;
      try {
        started = await start();
        results.targets[name] = await measureTarget({ name, ...started.target }, images, settings);
      } catch (error) {
        results.targets[name] = { error: message(error) };
        results.errors.push(`${name}: ${message(error)}`);
        log(`cluster ${name} FAILED: ${message(error)}`);
      } finally {
        await started?.stop().catch((error: unknown) => log(`cluster ${name} stop: ${message(error)}`));
      }
    };
    const three = cluster;
    await run('berth3', async () => ({ target: { host: three.host, url: three.url }, stop: async () => undefined }));
    // One node straight, as distribution's one process is reached: no balancer in between.
    await run('berth1', async () => {
      const single = await startCluster({ nodes: 1, auth: 'none', services, encryption: 'off' });
      if (results.startup) results.startup.oneNodeSeconds = single.startup.nodesMs / 1000;
      const node = single.nodes[0]?.berth;
      if (!node) throw new Error('the one-node cluster has no node');
      return { target: { host: node.host, url: node.url }, stop: () => single.stop() };
    });
    await run('distribution1', async () => {
      const started = await startDistributions(three, 1);
      const server = started.servers[0] as DistributionServer;
      return { target: { host: server.host, url: server.url }, stop: started.stop };
    });
    await run('distribution3', async () => {
      const started = await startDistributions(three, 3);
      const proxy = started.proxy as HaproxyServer;
      return { target: { host: proxy.host, url: proxy.url }, stop: started.stop };
    });
  } catch (error) {
    results.errors.push(`cluster setup: ${message(error)}`);
    log(`cluster FAILED: ${message(error)}`);
  } finally {
    await cluster?.stop();
    await removeDir(layoutDir);
  }
  return results;
}

function ratio(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined || b === undefined || b === 0 ? undefined : a / b;
}

/** The table: Berth beside distribution, per figure and node count; then the start of the test cluster. */
export function clusterRows(results: ClusterResults): Row[] {
  const t = results.targets;
  const pair = (metric: string, pick: (figures: ClusterTargetFigures | undefined) => number | undefined, digits: number): Row[] =>
    (
      [
        ['1 node', t.berth1, t.distribution1],
        ['3 nodes, haproxy', t.berth3, t.distribution3],
      ] as const
    ).map(([nodes, berth, distribution]) => ({
      metric: `${metric}, ${nodes}`,
      berth: pick(berth),
      distribution: pick(distribution),
      ratio: ratio(pick(berth), pick(distribution)),
      digits,
    }));
  return [
    ...pair('manifest GET by tag (req/s)', (f) => f?.manifestGet?.requestsPerSec, 0),
    ...pair(`blob GET ${results.blobMiB} MiB (MiB/s)`, (f) => f?.blobGetMiBPerSec, 0),
    ...pair(`skopeo push ${results.blobMiB} MiB (MiB/s)`, (f) => f?.pushMiBPerSec, 0),
  ];
}

/** One line: what the start of the 3-node test cluster took, and its parts. */
export function startupLine(startup: ClusterStartup | undefined): string {
  if (!startup) return 'test cluster start: n/a';
  const s = (seconds: number) => `${seconds.toFixed(1)} s`;
  return (
    `test cluster start (radosgw + PostgreSQL + 3 nodes + haproxy): ${s(startup.totalSeconds)}: radosgw ${s(startup.radosgwSeconds)} ` +
    `and PostgreSQL ${s(startup.postgresSeconds)} in parallel (${s(startup.servicesSeconds)}), 3 nodes together ${s(startup.nodesSeconds)}, ` +
    `haproxy until every node UP ${s(startup.haproxySeconds)}` +
    (startup.oneNodeSeconds === undefined ? '' : `; one node alone on running services ${s(startup.oneNodeSeconds)}`)
  );
}
