import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startBerth, type BerthProcess } from '../test/support/berth-process.js';
import { startDistribution, type DistributionServer } from '../test/support/distribution.js';
import { createImageLayout, mediaTypes, type ImageLayout } from '../test/support/oci-layout.js';
import { createTempDir, removeDir } from '../test/support/temp-dir.js';
import { requireTools, run, trackChild } from '../test/support/tools.js';
import { measureBearerManifestGet, type BearerFigures } from './bearer.js';
import { measureEncryptedBlobs, type EncryptedFigures } from './encryption.js';
import { measureIdleRss, type IdleRss } from './idle-rss.js';
import { bestBlobGet, timePull, timePush, type BlobGetResult } from './measure.js';
import { runMetadataBenchmark, type MetadataResults } from './metadata.js';
import { runMirrorBenchmark, type MirrorResults } from './mirror.js';
import { clusterRows, runClusterBenchmark, startupLine, type ClusterResults } from './cluster.js';
import { check, formatTable, type Row, type TargetCheck } from './report.js';
import { runWrk, type WrkResult } from './wrk.js';

/**
 * Berth against CNCF distribution (Debian's docker-registry), side by side, same machine, same clients:
 * manifest GETs with wrk (plus a bare node:http server as the ceiling), one 256 MiB blob GET with curl,
 * skopeo push and pull of a 256 MiB image, and Berth's peak RSS; then the mirror figures (bench/mirror.ts):
 * pull-through cold and warm against a direct pull, and `berth sync run` against `skopeo sync`.
 * Prints a table, writes bench/results.json.
 *   npm run bench [-- --blob-mib 64 --duration 5 --skip-berth --skip-mirror | --only mirror]
 */

const { values: flags } = parseArgs({
  options: {
    'blob-mib': { type: 'string', default: '256' },
    duration: { type: 'string', default: '10' },
    threads: { type: 'string', default: '2' },
    connections: { type: 'string', default: '32' },
    'blob-runs': { type: 'string', default: '3' },
    'push-runs': { type: 'string', default: '3' },
    'skip-berth': { type: 'boolean', default: false },
    'skip-mirror': { type: 'boolean', default: false },
    'skip-encryption': { type: 'boolean', default: false },
    'skip-metadata': { type: 'boolean', default: false },
    /** Divides every size of the metadata rows (0.1: a quick look). */
    'metadata-scale': { type: 'string', default: '1' },
    /** `mirror`, `registry`, `metadata` or `cluster`: only those rows. */
    only: { type: 'string' },
    'mirror-runs': { type: 'string', default: '3' },
    'mirror-mib': { type: 'string', default: '256' },
    'mirror-layers': { type: 'string', default: '6' },
    'sync-images': { type: 'string', default: '20' },
    'skip-cluster': { type: 'boolean', default: false },
    /** The scale-out rows (bench/cluster.ts): layer size and runs; 64 MiB keeps 4 targets x runs within radosgw's RAM store. */
    'cluster-mib': { type: 'string', default: '64' },
    'cluster-runs': { type: 'string', default: '3' },
    /** Directory for `node --cpu-prof` profiles of every Berth process in the mirror half (to see where time goes). */
    'berth-cpu-prof': { type: 'string' },
    out: { type: 'string' },
  },
});

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const resultsFile = flags.out ?? join(repoRoot, 'bench', 'results.json');
const blobMiB = Number(flags['blob-mib']);
const wrkOptions = { threads: Number(flags.threads), connections: Number(flags.connections), durationSec: Number(flags.duration) };
const blobRuns = Number(flags['blob-runs']);
const pushRuns = Math.max(1, Number(flags['push-runs']));
const mib = 1024 * 1024;
if (flags.only !== undefined && !['mirror', 'registry', 'metadata', 'cluster'].includes(flags.only)) {
  throw new Error(`--only takes mirror, registry, metadata or cluster, not "${flags.only}"`);
}
const runRegistry = flags.only === undefined || flags.only === 'registry';
const runMirror = (flags.only === undefined || flags.only === 'mirror') && !flags['skip-mirror'];
const runMetadata = (flags.only === undefined || flags.only === 'metadata') && !flags['skip-metadata'];
const runCluster = (flags.only === undefined || flags.only === 'cluster') && !flags['skip-cluster'];
const clusterMiB = Number(flags['cluster-mib']);
const clusterRuns = Math.max(1, Number(flags['cluster-runs']));
if (!(clusterMiB > 0)) throw new Error(`--cluster-mib takes a size in MiB, not "${flags['cluster-mib']}"`);
const metadataScale = Number(flags['metadata-scale']);
if (!(metadataScale > 0 && metadataScale <= 1)) throw new Error(`--metadata-scale takes a number in (0, 1], not "${flags['metadata-scale']}"`);
const mirrorRuns = Math.max(1, Number(flags['mirror-runs']));

type Side = 'berth' | 'distribution';

interface Target {
  readonly side: Side;
  /** host:port for image references. */
  readonly host: string;
  readonly url: string;
}

interface SideResults {
  push?: number;
  pull?: number;
  blobGet?: BlobGetResult;
  manifestGet?: WrkResult;
  error?: string;
}

function log(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

async function toolVersion(command: string, args: string[]): Promise<string> {
  try {
    const result = await run(command, args, { timeoutMs: 10_000 });
    return `${result.stdout}${result.stderr}`.split('\n').find((line) => line.trim() !== '')?.trim() ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** The ceiling: a child process answering the same manifest bytes from memory. */
async function startCeiling(manifestFile: string): Promise<{ url: string; child: ChildProcess }> {
  const script = fileURLToPath(new URL('./manifest-server.js', import.meta.url));
  const child = spawn(process.execPath, [script, manifestFile, mediaTypes.imageManifest], { stdio: ['ignore', 'pipe', 'inherit'] });
  trackChild(child);
  const url = await new Promise<string>((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(() => reject(new Error('manifest-server did not start')), 10_000);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      const line = buffered.split('\n')[0];
      if (buffered.includes('\n') && line) {
        clearTimeout(timer);
        resolve((JSON.parse(line) as { url: string }).url);
      }
    });
    child.on('exit', (code) => reject(new Error(`manifest-server exited with ${code}`)));
  });
  return { url, child };
}

/** Runs one named step; a failure names the step, so "push to Berth hung" is told apart from a slow GET. */
async function step<T>(side: Side, name: string, fn: () => Promise<T>): Promise<T> {
  log(`${side}: ${name}`);
  try {
    return await fn();
  } catch (error) {
    throw new Error(`${name} failed: ${error instanceof Error ? error.message : String(error)}`);
  }
}

async function bestOf(runs: number, fn: (run: number) => Promise<number>): Promise<number> {
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < runs; i++) best = Math.min(best, await fn(i));
  return best;
}

async function measureSide(target: Target, bigs: readonly ImageLayout[], small: ImageLayout, scratch: string, results: SideResults): Promise<void> {
  const [big] = bigs;
  const layer = big?.layers[0];
  if (!big || !layer) throw new Error('no big image');
  const side = target.side;
  // Each push run uses its own image: a blob the registry already has would not be uploaded again.
  results.push = await step(side, `skopeo push of the ${blobMiB} MiB image, best of ${bigs.length}`, () =>
    bestOf(bigs.length, (i) => timePush(bigs[i]?.ref ?? '', `${target.host}/bench/big:${i}`)),
  );
  const blobUrl = `${target.url}/v2/bench/big/blobs/${layer.digest}`;
  results.blobGet = await step(side, `blob GET with curl, best of ${blobRuns}`, () => bestBlobGet(blobUrl, layer.size, blobRuns));
  results.pull = await step(side, `skopeo pull of the ${blobMiB} MiB image, best of ${blobRuns}`, () =>
    bestOf(blobRuns, () => timePull(`${target.host}/bench/big:0`, join(scratch, `pull-${side}`))),
  );
  await step(side, 'skopeo push of the small image', () => timePush(small.ref, `${target.host}/bench/small:1`));
  const manifestUrl = `${target.url}/v2/bench/small/manifests/1`;
  const headers = { Accept: mediaTypes.imageManifest };
  const manifestGet = await step(side, `manifest GET with wrk (${wrkOptions.durationSec}s after a 2s warm-up)`, async () => {
    await runWrk(manifestUrl, { ...wrkOptions, durationSec: 2, headers }); // warm-up: caches, JIT, connection pools
    return runWrk(manifestUrl, { ...wrkOptions, headers });
  });
  if (manifestGet.non2xx3xx > 0) {
    throw new Error(`manifest GET: ${manifestGet.non2xx3xx} of ${manifestGet.requests} responses were not 2xx/3xx, the figure is void`);
  }
  results.manifestGet = manifestGet;
}

function ratio(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0 ? undefined : a / b;
}

interface RegistryHalf {
  ceiling?: WrkResult;
  /** Berth with encryption at rest on: the same push and blob GET. */
  encrypted?: EncryptedFigures;
  /** Berth with token auth, a Bearer JWT on every request, against an open Berth in alternating rounds. */
  bearer?: BearerFigures;
  /** `berth serve` with its defaults, idle after start. */
  idle?: IdleRss;
  berthPeakRss?: number;
}

/** Berth and distribution side by side, plus the node:http ceiling; servers are stopped before it returns. */
async function measureRegistry(scratch: string, results: Record<Side, SideResults>): Promise<RegistryHalf> {
  const cleanups: Array<() => Promise<unknown> | void> = [];
  const half: RegistryHalf = {};
  let berth: BerthProcess | undefined;
  try {
    log(`building images in ${scratch}`);
    const layout = join(scratch, 'layout');
    cleanups.push(() => removeDir(layout)); // 3 x 256 MiB: not left on disk while the mirror half runs
    const bigs: ImageLayout[] = [];
    for (let i = 0; i < pushRuns; i++) {
      bigs.push(await createImageLayout(layout, { tag: `big-${i}`, layers: [{ bytes: blobMiB * mib, files: 1, compress: false }] }));
    }
    const small = await createImageLayout(layout, { tag: 'small', layers: [{ bytes: 64 * 1024, files: 4 }] });

    const distribution: DistributionServer = await startDistribution({ accessLog: false, logLevel: 'error' });
    cleanups.push(() => distribution.stop());
    const targets: Target[] = [{ side: 'distribution', host: distribution.host, url: distribution.url }];
    if (flags['skip-berth']) {
      results.berth.error = 'skipped (--skip-berth)';
    } else {
      try {
        const dataDir = join(scratch, 'berth-data');
        await mkdir(dataDir);
        berth = await startBerth({ dataDir });
        const started = berth;
        cleanups.push(() => started.stop());
        targets.push({ side: 'berth', host: berth.host, url: berth.url });
      } catch (error) {
        results.berth.error = `Berth did not start: ${error instanceof Error ? error.message : String(error)}`;
        log(results.berth.error);
      }
    }

    for (const target of targets) {
      try {
        await measureSide(target, bigs, small, scratch, results[target.side]);
        if (target.side === 'berth' && berth) half.berthPeakRss = await berth.peakRssBytes();
      } catch (error) {
        results[target.side].error = error instanceof Error ? error.message : String(error);
        log(`${target.side} FAILED: ${results[target.side].error}`);
      }
    }

    if (berth && !flags['skip-encryption']) {
      try {
        half.encrypted = await measureEncryptedBlobs({ scratch, bigs, blobRuns, log });
      } catch (error) {
        log(`encrypted blobs FAILED: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    if (berth) {
      try {
        half.bearer = await measureBearerManifestGet({ scratch, small, wrk: wrkOptions, log });
      } catch (error) {
        log(`Bearer manifest GET FAILED: ${error instanceof Error ? error.message : String(error)}`);
      }
      try {
        log('berth: idle memory after start (defaults), 15 s after ready');
        half.idle = await measureIdleRss({ scratch });
      } catch (error) {
        log(`idle RSS FAILED: ${error instanceof Error ? error.message : String(error)}`);
      }
    }

    log('ceiling: bare node:http manifest server');
    const manifestFile = join(scratch, 'small-manifest.json');
    await writeFile(manifestFile, small.manifestBytes);
    const ceilingServer = await startCeiling(manifestFile);
    cleanups.push(() => {
      ceilingServer.child.kill('SIGTERM');
    });
    const ceilingUrl = `${ceilingServer.url}/v2/bench/small/manifests/1`;
    await runWrk(ceilingUrl, { ...wrkOptions, durationSec: 2 });
    half.ceiling = await runWrk(ceilingUrl, wrkOptions);

    if (berth) {
      // VmHWM only grows; read again in case the ceiling phase ran while Berth still held memory.
      const last = await berth.peakRssBytes();
      if (last !== undefined) half.berthPeakRss = Math.max(half.berthPeakRss ?? 0, last);
      const exit = await Promise.race([berth.exited, Promise.resolve(undefined)]);
      if (exit) {
        const note = `Berth exited during the benchmark (code ${exit.code ?? 'none'}, signal ${exit.signal ?? 'none'})`;
        results.berth.error = `${results.berth.error ? `${results.berth.error}; ` : ''}${note}\n${berth.logs().slice(-3000)}`;
      }
    }
    return half;
  } finally {
    for (const cleanup of cleanups.reverse()) {
      try {
        await cleanup();
      } catch (error) {
        log(`cleanup: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }
}

async function main(): Promise<void> {
  requireTools('wrk', 'curl', 'skopeo', 'docker-registry');
  const scratch = await createTempDir('berth-bench-');
  // On Ctrl-C the async cleanups below never run; this synchronous one still does.
  process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));
  const cleanups: Array<() => Promise<unknown> | void> = [() => removeDir(scratch)];
  const results: Record<Side, SideResults> = { berth: {}, distribution: {} };
  let ceiling: WrkResult | undefined;
  let berthPeakRss: number | undefined;
  let bearer: BearerFigures | undefined;
  let encrypted: EncryptedFigures | undefined;
  let idle: IdleRss | undefined;
  let mirror: MirrorResults | undefined;
  let metadata: MetadataResults | undefined;
  let cluster: ClusterResults | undefined;
  try {
    if (runRegistry) {
      const registryHalf = await measureRegistry(scratch, results);
      ceiling = registryHalf.ceiling;
      berthPeakRss = registryHalf.berthPeakRss;
      bearer = registryHalf.bearer;
      encrypted = registryHalf.encrypted;
      idle = registryHalf.idle;
    }
    if (runMirror) {
      try {
        mirror = await runMirrorBenchmark({
          scratch,
          runs: mirrorRuns,
          bigMiB: Number(flags['mirror-mib']),
          bigLayers: Math.max(1, Number(flags['mirror-layers'])),
          syncImages: Math.max(1, Number(flags['sync-images'])),
          berthNodeArgs: flags['berth-cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir', flags['berth-cpu-prof']] : [],
          log,
        });
      } catch (error) {
        mirror = { errors: [`mirror setup: ${error instanceof Error ? error.message : String(error)}`] };
        log(`mirror FAILED: ${mirror.errors[0] ?? ''}`);
      }
    }
    if (runMetadata) metadata = await runMetadataBenchmark({ scratch, scale: metadataScale, log });
    if (runCluster) cluster = await runClusterBenchmark({ scratch, blobMiB: clusterMiB, runs: clusterRuns, wrk: wrkOptions, log });
  } finally {
    for (const cleanup of cleanups.reverse()) {
      try {
        await cleanup();
      } catch (error) {
        log(`cleanup: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }

  const b = results.berth;
  const d = results.distribution;
  const rssMiB = berthPeakRss === undefined ? undefined : berthPeakRss / mib;
  const registryChecks: TargetCheck[] = [
    check('manifest GET req/s, berth/distribution', ratio(b.manifestGet?.requestsPerSec, d.manifestGet?.requestsPerSec), 'atLeast', 5, 'x'),
    check('blob GET MiB/s, berth/distribution', ratio(b.blobGet?.mibPerSec, d.blobGet?.mibPerSec), 'atLeast', 1, 'x'),
    check('push time, berth/distribution', ratio(b.push, d.push), 'atMost', 1, 'x'),
    check('Berth peak RSS', rssMiB, 'atMost', 200, 'MiB'),
    check('manifest GET req/s, Bearer JWT/anonymous on one token-auth Berth, paired rounds', ratio(bearer?.bearer.median.requestsPerSec, bearer?.anonymous.median.requestsPerSec), 'atLeast', 0.9, 'x'),
    check('Berth idle RSS after start', idle?.rssMiB, 'atMost', 60, 'MiB'),
    check('blob GET MiB/s, encrypted at rest/unencrypted, median of paired rounds', encrypted?.blobGetRatio, 'atLeast', 0.8, 'x'),
    // Push is a time: "at least 0.8x the speed" is at most 1/0.8 = 1.25x the time.
    check('push time, encrypted at rest/unencrypted, median of paired rounds', encrypted?.pushRatio, 'atMost', 1.25, 'x'),
  ];
  const rows: Row[] = [
    {
      metric: 'manifest GET by tag (req/s)',
      berth: b.manifestGet?.requestsPerSec,
      distribution: d.manifestGet?.requestsPerSec,
      ceiling: ceiling?.requestsPerSec,
      ratio: registryChecks[0]?.value,
      check: registryChecks[0],
      digits: 0,
    },
    { metric: `  Bearer JWT vs anonymous, one token-auth Berth, median of ${bearer?.rounds ?? 3} rounds (req/s)`, berth: bearer?.bearer.median.requestsPerSec, distribution: bearer?.anonymous.median.requestsPerSec, ratio: registryChecks[4]?.value, check: registryChecks[4], digits: 0 },
    { metric: '    Berth CPU per request, Bearer vs anonymous (µs)', berth: bearer?.bearer.cpuMicrosPerRequest, distribution: bearer?.anonymous.cpuMicrosPerRequest, ratio: ratio(bearer?.bearer.cpuMicrosPerRequest, bearer?.anonymous.cpuMicrosPerRequest), digits: 1 },
    { metric: '  Bearer JWT vs a second Berth with --auth none, same rounds (req/s)', berth: bearer?.bearer.median.requestsPerSec, distribution: bearer?.open.median.requestsPerSec, ratio: ratio(bearer?.bearer.median.requestsPerSec, bearer?.open.median.requestsPerSec), digits: 0 },
    { metric: '    Berth CPU per request, Bearer vs --auth none (µs)', berth: bearer?.bearer.cpuMicrosPerRequest, distribution: bearer?.open.cpuMicrosPerRequest, ratio: ratio(bearer?.bearer.cpuMicrosPerRequest, bearer?.open.cpuMicrosPerRequest), digits: 1 },
    { metric: 'manifest GET mean latency (ms)', berth: b.manifestGet?.latencyAvgMs, distribution: d.manifestGet?.latencyAvgMs, ceiling: ceiling?.latencyAvgMs, ratio: ratio(b.manifestGet?.latencyAvgMs, d.manifestGet?.latencyAvgMs), digits: 2 },
    { metric: `blob GET ${blobMiB} MiB (MiB/s)`, berth: b.blobGet?.mibPerSec, distribution: d.blobGet?.mibPerSec, ratio: registryChecks[1]?.value, check: registryChecks[1], digits: 0 },
    { metric: `skopeo push ${blobMiB} MiB (s)`, berth: b.push, distribution: d.push, ratio: registryChecks[2]?.value, check: registryChecks[2], digits: 2 },
    { metric: `skopeo pull ${blobMiB} MiB (s)`, berth: b.pull, distribution: d.pull, ratio: ratio(b.pull, d.pull), digits: 2 },
    { metric: `  blob GET encrypted at rest vs a plain Berth, best of ${encrypted?.blobGetRounds ?? 7} paired rounds; ratio: their median (MiB/s)`, berth: encrypted?.blobGet.mibPerSec, distribution: encrypted?.plainBlobGet.mibPerSec, ratio: registryChecks[6]?.value, check: registryChecks[6], digits: 0 },
    { metric: `  skopeo push encrypted at rest vs a plain Berth, best of ${encrypted?.pushRounds ?? 3} paired rounds; ratio: their median (s)`, berth: encrypted?.push, distribution: encrypted?.plainPush, ratio: registryChecks[7]?.value, check: registryChecks[7], digits: 2 },
    { metric: 'Berth peak RSS (MiB)', berth: rssMiB, check: registryChecks[3], digits: 0 },
    { metric: 'idle RSS 15 s after start, defaults (MiB)', berth: idle?.rssMiB, distribution: idle?.distributionRssMiB, check: registryChecks[5], digits: 1 },
    { metric: '  of which private (RssAnon) (MiB)', berth: idle?.anonMiB, digits: 1 },
    { metric: '  a bare idle node process: RSS (MiB)', berth: idle?.nodeRssMiB, digits: 1 },
    { metric: '  a bare idle node process: private (MiB)', berth: idle?.nodeAnonMiB, digits: 1 },
  ];

  const pt = mirror?.pullThrough;
  const sy = mirror?.sync;
  const mirrorChecks: TargetCheck[] = [
    check('cold pull-through time, berth/direct from the upstream', ratio(pt?.cold, pt?.direct), 'atMost', 1.15, 'x'),
    check('warm pull time from the cache, berth/docker-registry holding the image', ratio(pt?.warm, pt?.direct), 'atMost', 1, 'x'),
    check('sync time, berth sync run/skopeo sync into a fresh Berth', ratio(sy?.berth, sy?.skopeoToBerth), 'atMost', 0.8, 'x'),
  ];
  const imageText = mirror?.image ? `${mirror.image.mib} MiB, ${mirror.image.layers} layers` : `${flags['mirror-mib']} MiB`;
  const syncText = sy ? `${sy.images} images, ${(sy.bytes / mib).toFixed(0)} MiB` : `${flags['sync-images']} images`;
  const mirrorRows: Row[] = [
    { metric: `cold pull-through ${imageText} (s)`, berth: pt?.cold, distribution: pt?.direct, ratio: mirrorChecks[0]?.value, check: mirrorChecks[0], digits: 2 },
    { metric: `warm pull from the cache (s)`, berth: pt?.warm, distribution: pt?.direct, ratio: mirrorChecks[1]?.value, check: mirrorChecks[1], digits: 2 },
    { metric: '  cold pull through docker-registry in proxy mode, for reference (s)', berth: pt?.distributionProxyCold, distribution: pt?.direct, ratio: ratio(pt?.distributionProxyCold, pt?.direct), digits: 2 },
    { metric: '  CPU s, Berth cold pull vs docker-registry proxy cold pull', berth: pt?.cpuSeconds.berthCold, distribution: pt?.cpuSeconds.distributionProxyCold, ratio: ratio(pt?.cpuSeconds.berthCold, pt?.cpuSeconds.distributionProxyCold), digits: 2 },
    { metric: '  CPU s, Berth cold pull vs upstream direct', berth: pt?.cpuSeconds.berthCold, distribution: pt?.cpuSeconds.upstreamDirect, ratio: ratio(pt?.cpuSeconds.berthCold, pt?.cpuSeconds.upstreamDirect), digits: 2 },
    { metric: '  CPU s, Berth cold pull vs its upload path (skopeo upstream → fresh Berth)', berth: pt?.cpuSeconds.berthCold, distribution: pt?.cpuSeconds.berthUpload, ratio: ratio(pt?.cpuSeconds.berthCold, pt?.cpuSeconds.berthUpload), digits: 2 },
    { metric: '  CPU s, Berth warm pull vs upstream direct', berth: pt?.cpuSeconds.berthWarm, distribution: pt?.cpuSeconds.upstreamDirect, ratio: ratio(pt?.cpuSeconds.berthWarm, pt?.cpuSeconds.upstreamDirect), digits: 2 },
    { metric: `sync ${syncText} vs skopeo sync → Berth (s)`, berth: sy?.berth, distribution: sy?.skopeoToBerth, ratio: mirrorChecks[2]?.value, check: mirrorChecks[2], digits: 2 },
    { metric: `sync vs skopeo sync → docker-registry (s)`, berth: sy?.berth, distribution: sy?.skopeoToDistribution, ratio: ratio(sy?.berth, sy?.skopeoToDistribution), digits: 2 },
    { metric: '  of which berth CLI start (s)', berth: sy?.berthCliStartup, digits: 2 },
  ];
  const checks = [...(runRegistry ? registryChecks : []), ...(runMirror ? mirrorChecks : []), ...(metadata?.checks ?? [])];

  const machine = { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', memoryMiB: Math.round(totalmem() / mib), node: process.version };
  const tools = {
    wrk: await toolVersion('wrk', ['--version']),
    skopeo: await toolVersion('skopeo', ['--version']),
    curl: await toolVersion('curl', ['--version']),
    distribution: await toolVersion('/usr/bin/docker-registry', ['--version']),
  };
  const report = {
    date: new Date().toISOString(),
    machine,
    tools,
    settings: {
      blobMiB,
      wrk: wrkOptions,
      blobRuns,
      pushRuns,
      client: { blobGet: 'curl -o /dev/null, best of blobRuns', push: 'skopeo copy --preserve-digests oci: → docker://, best of pushRuns', pull: 'skopeo copy docker:// → dir:, best of blobRuns' },
      mirror: runMirror
        ? {
            runs: mirrorRuns,
            bigMiB: Number(flags['mirror-mib']),
            bigLayers: Number(flags['mirror-layers']),
            syncImages: Number(flags['sync-images']),
            client: {
              pull: 'skopeo copy docker://HOST/REPO:TAG dir:OUT; cold = fresh Berth data dir and process each run; direct = from the upstream docker-registry',
              warm: 'the same copy again from the same Berth, the upstream still running (its access log counts requests during warm pulls)',
              sync: 'berth sync run RULE (CLI process, fresh data dir) vs skopeo sync --src yaml --dest docker into a fresh Berth (auth none) and a fresh docker-registry',
            },
          }
        : 'skipped',
      metadata: runMetadata
        ? {
            scale: metadataScale,
            client: {
              listings: 'fetch, body read to the end, median of 3; distribution 2.8 (Debian) on a copy of the same seeded store',
              startup: 'spawn of berth serve until GET /v2/ answered, median of 3 restarts with the index in place',
              gc: 'berth gc --grace 0 (CLI process) vs docker-registry garbage-collect, once each on its own copy, after the index was built',
            },
          }
        : 'skipped',
      cluster: runCluster
        ? {
            blobMiB: clusterMiB,
            runs: clusterRuns,
            client: {
              targets: 'Berth on S3 (radosgw) + PostgreSQL, --auth none: 1 node direct, 3 nodes behind haproxy (round-robin per request); distribution 2.8 s3 driver on the same radosgw, redirects off: 1 process, 3 behind the same haproxy',
              push: 'skopeo copy --preserve-digests oci: → docker://, best of runs (each run a new image), as MiB/s of the layer',
              blobGet: 'curl -o /dev/null, best of runs',
              manifestGet: 'wrk as the registry rows, after a 2 s warm-up',
            },
          }
        : 'skipped',
    },
    results: {
      manifestGet: {
        berth: b.manifestGet && { requestsPerSec: b.manifestGet.requestsPerSec, latencyAvgMs: b.manifestGet.latencyAvgMs, requests: b.manifestGet.requests },
        distribution: d.manifestGet && { requestsPerSec: d.manifestGet.requestsPerSec, latencyAvgMs: d.manifestGet.latencyAvgMs, requests: d.manifestGet.requests },
        nodeHttpCeiling: ceiling && { requestsPerSec: ceiling.requestsPerSec, latencyAvgMs: ceiling.latencyAvgMs, requests: ceiling.requests },
        berthBearer: bearer && {
          rounds: bearer.rounds,
          bearer: { requestsPerSec: bearer.bearer.median.requestsPerSec, latencyAvgMs: bearer.bearer.median.latencyAvgMs, cpuMicrosPerRequest: bearer.bearer.cpuMicrosPerRequest },
          anonymous: { requestsPerSec: bearer.anonymous.median.requestsPerSec, latencyAvgMs: bearer.anonymous.median.latencyAvgMs, cpuMicrosPerRequest: bearer.anonymous.cpuMicrosPerRequest },
          open: { requestsPerSec: bearer.open.median.requestsPerSec, latencyAvgMs: bearer.open.median.latencyAvgMs, cpuMicrosPerRequest: bearer.open.cpuMicrosPerRequest },
        },
      },
      blobGet: { berth: b.blobGet, distribution: d.blobGet },
      pushSeconds: { berth: b.push, distribution: d.push },
      encryptedAtRest: encrypted,
      pullSeconds: { berth: b.pull, distribution: d.pull },
      berthPeakRssMiB: rssMiB,
      berthIdle: idle,
      mirror: mirror && { image: mirror.image, pullThroughSeconds: mirror.pullThrough, syncSeconds: mirror.sync },
      metadataSeconds: metadata?.figures,
      cluster: cluster && { startup: cluster.startup, targets: cluster.targets },
    },
    checks,
    errors: {
      berth: b.error,
      distribution: d.error,
      mirror: mirror?.errors.length ? mirror.errors : undefined,
      metadata: metadata?.errors.length ? metadata.errors : undefined,
      cluster: cluster?.errors.length ? cluster.errors : undefined,
    },
  };
  await writeFile(resultsFile, `${JSON.stringify(report, null, 2)}\n`);

  process.stdout.write(`\nBerth vs CNCF distribution (${tools.distribution}), ${machine.cpus} CPUs, ${machine.cpuModel}, node ${machine.node}\n`);
  if (runRegistry) {
    process.stdout.write(
      `wrk -t${wrkOptions.threads} -c${wrkOptions.connections} -d${wrkOptions.durationSec}s; one ${blobMiB} MiB plain-tar layer; ` +
        `push best of ${pushRuns}, blob GET and pull best of ${blobRuns}\n\n`,
    );
    process.stdout.write(`${formatTable(rows)}\n\n`);
  }
  if (runMirror) {
    process.stdout.write(
      `Mirror: upstream = docker-registry; skopeo copy docker:// → dir: and skopeo sync; best of ${mirrorRuns}. "other" is: ` +
        'pulls: skopeo straight from the upstream; sync: skopeo sync from the upstream into a fresh Berth (auth none: same storage, ' +
        'only the copy engine differs), then into a fresh docker-registry (for reference).\n',
    );
    if (pt) {
      process.stdout.write(
        `Cold: a fresh Berth data dir and process each run. Warm: the same pull again, upstream still running; it logged ` +
          `${pt.warmUpstreamRequests} request(s) during the warm pulls${pt.warmUpstreamRequests === 0 ? ' (all from the cache)' : ''}.\n`,
      );
    }
    process.stdout.write(`\n${formatTable(mirrorRows, { other: 'other', ratio: 'berth/other' })}\n\n`);
  }
  if (metadata) {
    process.stdout.write(`Metadata at scale (seeded stores, scale ${metadataScale}); "other" is distribution on a copy of the same store.\n`);
    process.stdout.write(`\n${formatTable(metadata.rows, { other: 'distribution', ratio: 'berth/distribution' })}\n\n`);
  }
  if (cluster) {
    process.stdout.write(
      `Scale-out (bench/cluster.ts): Berth on radosgw + PostgreSQL vs distribution's s3 driver on the same radosgw, ${cluster.blobMiB} MiB ` +
        `plain-tar layer, best of ${clusterRuns}; 1 node direct, 3 nodes behind haproxy (round-robin per request).\n`,
    );
    process.stdout.write(`\n${formatTable(clusterRows(cluster))}\n${startupLine(cluster.startup)}\n\n`);
  }
  for (const side of ['berth', 'distribution'] as const) {
    if (results[side].error) process.stdout.write(`${side.toUpperCase()} ERROR: ${results[side].error}\n`);
  }
  for (const error of mirror?.errors ?? []) process.stdout.write(`MIRROR ERROR: ${error}\n`);
  for (const error of metadata?.errors ?? []) process.stdout.write(`METADATA ERROR: ${error}\n`);
  for (const error of cluster?.errors ?? []) process.stdout.write(`CLUSTER ERROR: ${error}\n`);
  process.stdout.write(`results written to ${resultsFile}\n`);
  // A failed side is a failed benchmark run (CI can tell); missed targets are reported, not fatal.
  if (d.error || b.error || (mirror?.errors.length ?? 0) > 0 || (metadata?.errors.length ?? 0) > 0 || (cluster?.errors.length ?? 0) > 0) process.exitCode = 1;
}

main().catch((error: unknown) => {
  process.stderr.write(`[bench] ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
