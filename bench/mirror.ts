import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { berthBin, startBerth, type BerthProcess } from '../test/support/berth-process.js';
import { startDistribution, type DistributionServer } from '../test/support/distribution.js';
import { removeDir } from '../test/support/temp-dir.js';
import { runOk, type RunResult } from '../test/support/tools.js';
import { timePull } from './measure.js';
import { cpuSeconds } from './process-cpu.js';
import { buildMirrorImages, pushImages, type MirrorImages, type UpstreamImage } from './mirror-images.js';

/**
 * The mirror half of the benchmark. One upstream docker-registry holds the content; against it:
 *   - pull-through: `skopeo copy docker://BERTH/up/REPO:TAG dir:` with Berth's cache empty (a fresh data dir and
 *     process each run) vs the same copy straight from the upstream; then the same copy again from Berth (warm:
 *     the upstream keeps running, and its access log must show no request during the warm pulls);
 *   - sync: `berth sync run RULE` of N repositories into a fresh data dir vs `skopeo sync` of the same
 *     repositories from the upstream into a fresh Berth (auth none, the same storage code, so only the copy engine
 *     differs) and, for reference, into a fresh docker-registry.
 */

export interface MirrorSettings {
  readonly scratch: string;
  /** Rounds; each figure is the best of them. */
  readonly runs: number;
  readonly bigMiB: number;
  readonly bigLayers: number;
  readonly syncImages: number;
  /** Extra `node` flags for every Berth process and CLI run (e.g. --cpu-prof). */
  readonly berthNodeArgs: readonly string[];
  readonly log: (message: string) => void;
}

export interface PullThroughFigures {
  /** Best times in seconds. */
  readonly direct: number;
  readonly cold: number;
  readonly warm: number;
  /** The same cold pull through a fresh docker-registry in proxy mode (reference). */
  readonly distributionProxyCold: number;
  readonly directRuns: readonly number[];
  readonly coldRuns: readonly number[];
  readonly warmRuns: readonly number[];
  /** Requests the upstream logged while Berth served the warm pulls: 0 means every byte came from the cache. */
  readonly warmUpstreamRequests: number;
  /**
   * CPU seconds (user + system) per pull, least of the rounds: on a 2-CPU machine shared with the client, the
   * server's CPU cost is what the wall-clock ratio mostly reflects, and it moves far less with machine load.
   */
  readonly cpuSeconds: {
    readonly berthCold?: number;
    readonly berthWarm?: number;
    readonly upstreamDirect?: number;
    readonly upstreamCold?: number;
    /**
     * Berth's upload path for the same bytes: `skopeo copy` of the image from the upstream into a fresh Berth (no
     * upstream configured), which hashes and writes every blob as the cold pull does, without serving it.
     */
    readonly berthUpload?: number;
    /** docker-registry in proxy mode during its cold pull. */
    readonly distributionProxyCold?: number;
  };
}

export interface SyncFigures {
  readonly images: number;
  readonly bytes: number;
  /** Best times in seconds. */
  readonly berth: number;
  readonly skopeoToBerth: number;
  readonly skopeoToDistribution: number;
  readonly berthRuns: readonly number[];
  readonly skopeoToBerthRuns: readonly number[];
  readonly skopeoToDistributionRuns: readonly number[];
  /** `node bin/berth.js sync list` in the same data dir: the process start every `berth sync run` pays. */
  readonly berthCliStartup: number;
}

export interface MirrorResults {
  image?: { readonly mib: number; readonly layers: number; readonly bytes: number };
  pullThrough?: PullThroughFigures;
  sync?: SyncFigures;
  readonly errors: string[];
}

/** The pull-through namespace every mirror Berth gets (`BERTH/up/REPO`). */
const upstreamName = 'up';

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The error with what Berth printed last and, if it is gone, how it exited: a crash reads unlike a slow client. */
async function withBerthContext(error: unknown, berth: BerthProcess | undefined): Promise<Error> {
  if (!berth) return new Error(message(error));
  const moment = new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 200));
  const exit = await Promise.race([berth.exited, moment]);
  const exitNote = exit ? `\nBerth had exited (code ${exit.code ?? 'none'}, signal ${exit.signal ?? 'none'})` : '';
  return new Error(`${message(error)}${exitNote}\n--- Berth log tail ---\n${berth.logs().slice(-3000)}`);
}

function seconds(since: number): number {
  return (performance.now() - since) / 1000;
}

function best(runs: readonly number[]): number {
  return runs.length === 0 ? Number.NaN : Math.min(...runs);
}

function least(values: ReadonlyArray<number | undefined>): number | undefined {
  const known = values.filter((value): value is number => value !== undefined);
  return known.length === 0 ? undefined : Math.min(...known);
}

/** Runs `work` and returns its result with the CPU seconds `pid` spent meanwhile. */
async function withCpu<T>(pid: number | undefined, work: () => Promise<T>): Promise<{ result: T; cpu: number | undefined }> {
  const before = await cpuSeconds(pid);
  const result = await work();
  const after = await cpuSeconds(pid);
  // Rounded to the clock tick (10 ms): the subtraction of two tick counts otherwise prints 0.4700000000000002.
  return { result, cpu: before === undefined || after === undefined ? undefined : Math.round((after - before) * 100) / 100 };
}

/** `node [nodeArgs] bin/berth.js ARGS`, failing with its output unless it exits 0. */
function berthCli(args: readonly string[], nodeArgs: readonly string[] = [], timeoutMs = 60_000): Promise<RunResult> {
  return runOk(process.execPath, [...nodeArgs, berthBin, ...args], { timeoutMs });
}

/** A fresh data dir with the upstream added through the CLI, as a user sets up a mirror. */
async function prepareMirrorDataDir(dataDir: string, upstream: DistributionServer): Promise<void> {
  await mkdir(dataDir, { recursive: true });
  await berthCli(['upstream', 'add', upstreamName, upstream.url, '--data', dataDir]);
}

/** The access log line for a request arrives on a pipe after the response: give it a moment before counting. */
async function settledRequestCount(upstream: DistributionServer): Promise<number> {
  await new Promise((resolve) => setTimeout(resolve, 300));
  return upstream.requests().length;
}

/**
 * Runs the rounds until one fails: the failure goes to `errors` (so the run fails) and the rounds already done
 * still count, since a benchmark that loses two good rounds to a third bad one tells nothing.
 */
async function runRounds(runs: number, what: string, errors: string[], round: (index: number) => Promise<void>): Promise<void> {
  for (let index = 0; index < runs; index++) {
    try {
      await round(index);
    } catch (error) {
      errors.push(`${what}, round ${index + 1} of ${runs}: ${message(error)}`);
      return;
    }
  }
}

async function measurePullThrough(
  upstream: DistributionServer,
  big: UpstreamImage,
  settings: MirrorSettings,
  errors: string[],
): Promise<PullThroughFigures | undefined> {
  const out = join(settings.scratch, 'mirror-pull-out');
  const path = `${big.repo}:${big.tag}`;
  const directRuns: number[] = [];
  const coldRuns: number[] = [];
  const warmRuns: number[] = [];
  let warmUpstreamRequests = 0;
  const warmRequestSamples: string[] = [];
  type Samples = Array<number | undefined>;
  const proxyRuns: number[] = [];
  const cpu = {
    berthCold: [] as Samples,
    berthWarm: [] as Samples,
    upstreamDirect: [] as Samples,
    upstreamCold: [] as Samples,
    berthUpload: [] as Samples,
    distributionProxyCold: [] as Samples,
  };
  // Interleaved rounds (direct, cold, warm): a noisy moment on the machine hits all three alike.
  await runRounds(settings.runs, 'pull-through', errors, async (round) => {
    settings.log(`mirror: round ${round + 1}/${settings.runs}: direct pull, cold and warm pull through a fresh Berth, its upload path, a cold pull through docker-registry's proxy mode`);
    const direct = await withCpu(upstream.pid(), () => timePull(`${upstream.host}/${path}`, out));
    directRuns.push(direct.result);
    cpu.upstreamDirect.push(direct.cpu);
    const dataDir = join(settings.scratch, `mirror-pull-${round}`);
    await prepareMirrorDataDir(dataDir, upstream);
    let berth: BerthProcess | undefined;
    try {
      berth = await startBerth({ dataDir, nodeArgs: settings.berthNodeArgs });
      const ref = `${berth.host}/${upstreamName}/${path}`;
      const upstreamBefore = await cpuSeconds(upstream.pid());
      const cold = await withCpu(berth.pid, () => timePull(ref, out));
      const upstreamAfter = await cpuSeconds(upstream.pid());
      coldRuns.push(cold.result);
      cpu.berthCold.push(cold.cpu);
      cpu.upstreamCold.push(upstreamBefore !== undefined && upstreamAfter !== undefined ? Math.round((upstreamAfter - upstreamBefore) * 100) / 100 : undefined);
      const before = await settledRequestCount(upstream);
      const warm = await withCpu(berth.pid, () => timePull(ref, out));
      warmRuns.push(warm.result);
      cpu.berthWarm.push(warm.cpu);
      const after = await settledRequestCount(upstream);
      warmUpstreamRequests += after - before;
      for (const entry of upstream.requests().slice(before, after)) {
        warmRequestSamples.push(`${entry.method} ${entry.path} ${entry.status}`);
      }
    } catch (error) {
      throw await withBerthContext(error, berth);
    } finally {
      await berth?.stop();
      await removeDir(dataDir);
    }
    cpu.berthUpload.push(await uploadCpu(upstream, path, join(settings.scratch, `mirror-upload-${round}`), settings));
    const proxy = await startDistribution({ accessLog: false, logLevel: 'error', proxy: { remoteUrl: upstream.url } });
    try {
      const proxyCold = await withCpu(proxy.pid(), () => timePull(`${proxy.host}/${path}`, out));
      proxyRuns.push(proxyCold.result);
      cpu.distributionProxyCold.push(proxyCold.cpu);
    } finally {
      await proxy.stop();
    }
  });
  if (coldRuns.length === 0 || warmRuns.length === 0) return undefined;
  if (warmUpstreamRequests > 0) {
    const samples = warmRequestSamples.slice(0, 10).join('; ');
    settings.log(`mirror: the upstream saw ${warmUpstreamRequests} request(s) during warm pulls: ${samples}`);
  }
  return {
    direct: best(directRuns),
    cold: best(coldRuns),
    distributionProxyCold: best(proxyRuns),
    warm: best(warmRuns),
    directRuns,
    coldRuns,
    warmRuns,
    warmUpstreamRequests,
    cpuSeconds: {
      berthCold: least(cpu.berthCold),
      berthWarm: least(cpu.berthWarm),
      upstreamDirect: least(cpu.upstreamDirect),
      upstreamCold: least(cpu.upstreamCold),
      berthUpload: least(cpu.berthUpload),
      distributionProxyCold: least(cpu.distributionProxyCold),
    },
  };
}

/** Berth's CPU seconds for taking the image in through its upload path: skopeo from the upstream into a fresh Berth. */
async function uploadCpu(upstream: DistributionServer, path: string, dataDir: string, settings: MirrorSettings): Promise<number | undefined> {
  await mkdir(dataDir, { recursive: true });
  let berth: BerthProcess | undefined;
  try {
    berth = await startBerth({ dataDir, nodeArgs: settings.berthNodeArgs });
    const target = berth.host;
    const copy = await withCpu(berth.pid, () =>
      runOk('skopeo', ['--insecure-policy', 'copy', '--quiet', '--retry-times', '0', '--preserve-digests', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${upstream.host}/${path}`, `docker://${target}/bench/upload:1`], {
        timeoutMs: 120_000,
      }),
    );
    return copy.cpu;
  } catch (error) {
    throw await withBerthContext(error, berth);
  } finally {
    await berth?.stop();
    await removeDir(dataDir);
  }
}

/** skopeo sync's YAML source: every sync repository with its tag, from the upstream. */
function syncYaml(upstream: DistributionServer, images: readonly UpstreamImage[]): string {
  const lines = [`${upstream.host}:`, '  tls-verify: false', '  images:'];
  for (const image of images) lines.push(`    ${image.repo}:`, `      - ${JSON.stringify(image.tag)}`);
  return `${lines.join('\n')}\n`;
}

/** One `skopeo sync` of every image in the YAML file into `destination` (`HOST/NAMESPACE`); the time in seconds. */
async function timeSkopeoSync(yamlFile: string, destination: string): Promise<number> {
  const started = performance.now();
  await runOk(
    'skopeo',
    ['--insecure-policy', 'sync', '--src', 'yaml', '--dest', 'docker', '--dest-tls-verify=false', '--retry-times', '0',
      yamlFile, destination],
    { timeoutMs: 300_000 },
  );
  return seconds(started);
}

/** Where skopeo sync puts a repository: the destination namespace plus the source path's last component. */
function skopeoSyncDestination(namespace: string, image: UpstreamImage): string {
  return `${namespace}/${image.repo.split('/').pop() ?? image.repo}`;
}

/** Fails unless `url` answers a manifest HEAD with 200: a sync that "succeeded" without content is no figure. */
async function expectManifest(baseUrl: string, repo: string, tag: string): Promise<void> {
  const response = await fetch(`${baseUrl}/v2/${repo}/manifests/${tag}`, {
    method: 'HEAD',
    headers: { Accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' },
  });
  if (response.status !== 200) {
    throw new Error(`after the sync, HEAD ${baseUrl}/v2/${repo}/manifests/${tag} answered ${response.status}`);
  }
}

async function measureSync(
  upstream: DistributionServer,
  images: MirrorImages,
  settings: MirrorSettings,
  errors: string[],
): Promise<SyncFigures | undefined> {
  const yamlFile = join(settings.scratch, 'skopeo-sync.yaml');
  await writeFile(yamlFile, syncYaml(upstream, images.sync));
  const repoFlags = images.sync.flatMap((image) => ['--repo', image.repo]);
  const first = images.sync[0];
  const last = images.sync[images.sync.length - 1];
  if (!first || !last) throw new Error('no sync images');
  const berthRuns: number[] = [];
  const skopeoToBerthRuns: number[] = [];
  const skopeoToDistributionRuns: number[] = [];
  let berthCliStartup = Number.POSITIVE_INFINITY;
  await runRounds(settings.runs, 'sync', errors, async (round) => {
    settings.log(
      `mirror: round ${round + 1}/${settings.runs}: ${images.sync.length} images: berth sync run, skopeo sync → Berth, → docker-registry`,
    );

    const syncDir = join(settings.scratch, `mirror-sync-${round}`);
    try {
      await prepareMirrorDataDir(syncDir, upstream);
      await berthCli(['sync', 'add', 'bench', '--upstream', upstreamName, ...repoFlags, '--data', syncDir]);
      const startupStarted = performance.now();
      await berthCli(['sync', 'list', '--data', syncDir], settings.berthNodeArgs);
      berthCliStartup = Math.min(berthCliStartup, seconds(startupStarted));
      const started = performance.now();
      const result = await berthCli(['sync', 'run', 'bench', '--data', syncDir], settings.berthNodeArgs, 300_000);
      berthRuns.push(seconds(started));
      const expected = `${images.sync.length}/${images.sync.length} images`;
      if (!result.stdout.includes(expected)) {
        throw new Error(`berth sync run printed no "${expected}":\n${result.stdout}${result.stderr}`);
      }
    } finally {
      await removeDir(syncDir);
    }

    const berthDir = join(settings.scratch, `mirror-sync-dest-${round}`);
    await mkdir(berthDir, { recursive: true });
    let berth: BerthProcess | undefined;
    try {
      berth = await startBerth({ dataDir: berthDir, nodeArgs: settings.berthNodeArgs });
      skopeoToBerthRuns.push(await timeSkopeoSync(yamlFile, `${berth.host}/mirror`));
      await expectManifest(berth.url, skopeoSyncDestination('mirror', last), last.tag);
    } catch (error) {
      throw await withBerthContext(error, berth);
    } finally {
      await berth?.stop();
      await removeDir(berthDir);
    }

    const destination = await startDistribution({ accessLog: false, logLevel: 'error' });
    try {
      skopeoToDistributionRuns.push(await timeSkopeoSync(yamlFile, `${destination.host}/mirror`));
      await expectManifest(destination.url, skopeoSyncDestination('mirror', first), first.tag);
    } finally {
      await destination.stop();
    }
  });
  if (berthRuns.length === 0) return undefined;
  return {
    images: images.sync.length,
    bytes: images.syncBytes,
    berth: best(berthRuns),
    skopeoToBerth: best(skopeoToBerthRuns),
    skopeoToDistribution: best(skopeoToDistributionRuns),
    berthRuns,
    skopeoToBerthRuns,
    skopeoToDistributionRuns,
    berthCliStartup,
  };
}

/** Builds the content, starts the upstream, measures both halves; a failing half is recorded, not thrown. */
export async function runMirrorBenchmark(settings: MirrorSettings): Promise<MirrorResults> {
  const results: MirrorResults = { errors: [] };
  settings.log(`mirror: building a ${settings.bigMiB} MiB image (${settings.bigLayers} layers) and ${settings.syncImages} sync images`);
  const images = await buildMirrorImages(join(settings.scratch, 'mirror-layout'), settings);
  const upstream = await startDistribution({ accessLog: true, logLevel: 'error' });
  try {
    settings.log(`mirror: pushing to the upstream docker-registry at ${upstream.host}`);
    await pushImages([images.big, ...images.sync], upstream.host);
    results.image = { mib: settings.bigMiB, layers: settings.bigLayers, bytes: images.big.image.totalBytes };
    results.pullThrough = await measurePullThrough(upstream, images.big, settings, results.errors);
    results.sync = await measureSync(upstream, images, settings, results.errors);
    for (const error of results.errors) settings.log(`mirror: FAILED: ${error}`);
  } finally {
    await upstream.stop();
  }
  return results;
}
