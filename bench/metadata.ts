import { cp, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { signInAsAdmin } from '../test/support/berth-admin.js';
import { berthBin, startBerth, type BerthProcess } from '../test/support/berth-process.js';
import { distributionBinary, startDistribution } from '../test/support/distribution.js';
import { run } from '../test/support/tools.js';
import { median } from './measure.js';
import { seedStore, type SeedSpec } from './metadata-store.js';
import { check, type Row, type TargetCheck } from './report.js';

/**
 * Metadata at scale (issue 12), Berth and distribution 2.8 on the same seeded stores (bench/metadata-store.ts):
 * tags/list of 10,000 tags (one response, and the walk of 100-tag pages), _catalog of 5,000 repositories, the
 * admin API's tag list of 10,000 (Berth only), time until `/v2/` answers with 5,000 repositories (and with none,
 * to show the start does not grow with the store), and garbage collection of 1,000 and 10,000 repositories
 * (100,000 blobs at scale 1) for the slope. Listings are the median of 5 after one unmeasured request (the GUI's
 * repository list: the median of 3, its first included); each collection runs once on its own copy.
 * `--metadata-scale 0.1` divides every size (a quick look; the targets hold for scale 1).
 */
export interface MetadataResults {
  rows: Row[];
  checks: TargetCheck[];
  figures: Record<string, { berth?: number; distribution?: number }>;
  errors: string[];
}

interface Options {
  scratch: string;
  scale: number;
  log: (message: string) => void;
}


/** Seconds for one GET whose body is read to the end; fails on anything but 200. */
async function timedGet(url: string, headers: Record<string, string> = {}): Promise<{ seconds: number; body: string; link: string | null }> {
  const started = performance.now();
  const response = await fetch(url, { headers });
  const body = await response.text();
  const seconds = (performance.now() - started) / 1000;
  if (response.status !== 200) throw new Error(`GET ${url}: ${response.status} ${body.slice(0, 200)}`);
  return { seconds, body, link: response.headers.get('link') };
}

async function medianOf(runs: number, fn: () => Promise<number>): Promise<number> {
  const values: number[] = [];
  for (let i = 0; i < runs; i++) values.push(await fn());
  return median(values);
}

/**
 * A request's steady cost: one unmeasured request first, then the median of 5. The first answers of a fresh server
 * measure its JIT and page cache (Berth's first tags/list of 10,000 took 45 ms, the next ones 3.4-5.5), which is
 * what the startup rows are for.
 */
async function steadyMedianOf(fn: () => Promise<number>): Promise<number> {
  await fn();
  return medianOf(5, fn);
}

/**
 * Follows Link rel="next" from `path`, counting tags or repositories; distribution 2.8 ignores n on tags/list and
 * answers everything at once.
 */
async function walkPages(base: string, path: string): Promise<{ seconds: number; items: number }> {
  const started = performance.now();
  let items = 0;
  let next: string | undefined = path;
  while (next) {
    const page = await timedGet(`${base}${next}`);
    const parsed = JSON.parse(page.body) as { tags?: string[]; repositories?: string[] };
    items += (parsed.tags ?? parsed.repositories ?? []).length;
    next = /<([^>]+)>;\s*rel="next"/.exec(page.link ?? '')?.[1];
  }
  return { seconds: (performance.now() - started) / 1000, items };
}

const distributionRoot = (storage: string) => join(storage, 'docker', 'registry', 'v2');

async function distributionConfig(dir: string, storage: string): Promise<string> {
  const file = join(dir, `gc-${Date.now()}.yml`);
  await writeFile(
    file,
    ['version: 0.1', 'log:', '  level: error', 'storage:', '  filesystem:', `    rootdirectory: ${JSON.stringify(storage)}`, '  delete:', '    enabled: true', 'http:', '  addr: 127.0.0.1:0', ''].join('\n'),
  );
  return file;
}

/** Seeds Berth's data dir and a copy for distribution. */
async function seedBoth(dir: string, spec: SeedSpec): Promise<{ berthData: string; distributionStorage: string; first: string; blobs: number }> {
  const berthData = join(dir, 'berth');
  const distributionStorage = join(dir, 'distribution');
  const seeded = await seedStore(berthData, spec);
  await mkdir(distributionRoot(distributionStorage), { recursive: true });
  await cp(join(berthData, 'blobs'), join(distributionRoot(distributionStorage), 'blobs'), { recursive: true });
  await cp(join(berthData, 'repositories'), join(distributionRoot(distributionStorage), 'repositories'), { recursive: true });
  return { berthData, distributionStorage, first: seeded.firstRepository, blobs: seeded.blobs };
}

/** A Berth server whose metadata index is built (the state a running Berth is in after its first start). */
async function berthWithIndex(dataDir: string): Promise<BerthProcess> {
  const berth = await startBerth({ dataDir, startTimeoutMs: 120_000 });
  await berth.waitForLog((line) => typeof line.msg === 'string' && line.msg.startsWith('metadata index'), 900_000);
  return berth;
}

export async function runMetadataBenchmark({ scratch, scale, log }: Options): Promise<MetadataResults> {
  const size = (n: number) => Math.max(1, Math.round(n * scale));
  const figures: MetadataResults['figures'] = {};
  const errors: string[] = [];
  const part = async (name: string, fn: () => Promise<void>) => {
    log(`metadata: ${name}`);
    try {
      await fn();
    } catch (error) {
      errors.push(`${name}: ${error instanceof Error ? error.message : String(error)}`);
      log(`metadata: ${name} FAILED: ${errors.at(-1) ?? ''}`);
    }
  };
  const tagCount = size(10_000);
  const catalogCount = size(5_000);

  await part(`tags/list, ${tagCount} tags`, async () => {
    const dir = join(scratch, 'meta-tags');
    const store = await seedBoth(dir, { repositories: 1, tagsPerRepository: tagCount, layersPerRepository: 1, orphansPerRepository: 0, prefix: 'tags' });
    const berth = await berthWithIndex(store.berthData);
    const distribution = await startDistribution({ storageDir: store.distributionStorage, accessLog: false, logLevel: 'error' });
    try {
      const one = `/v2/${store.first}/tags/list`;
      const paged = `/v2/${store.first}/tags/list?n=100`;
      figures.tagsOne = {
        berth: await steadyMedianOf(async () => (await timedGet(`${berth.url}${one}`)).seconds),
        distribution: await steadyMedianOf(async () => (await timedGet(`${distribution.url}${one}`)).seconds),
      };
      figures.tagsFirstPage = {
        berth: await steadyMedianOf(async () => (await timedGet(`${berth.url}${paged}`)).seconds),
        distribution: await steadyMedianOf(async () => (await timedGet(`${distribution.url}${paged}`)).seconds),
      };
      figures.tagsWalk = {
        berth: await steadyMedianOf(async () => {
          const walked = await walkPages(berth.url, paged);
          if (walked.items !== tagCount) throw new Error(`the walk of pages gave ${walked.items} tags, not ${tagCount}`);
          return walked.seconds;
        }),
        distribution: await steadyMedianOf(async () => (await walkPages(distribution.url, paged)).seconds),
      };
      const cookie = await signInAsAdmin(berth);
      const admin = (query: string) => timedGet(`${berth.url}/api/tags?repository=${encodeURIComponent(store.first)}${query}`, { cookie });
      figures.adminTagsAll = { berth: await steadyMedianOf(async () => (await admin('')).seconds) };
      figures.adminTagsPage = { berth: await steadyMedianOf(async () => (await admin('&n=100&offset=5000')).seconds) };
    } finally {
      await berth.stop();
      await distribution.stop();
    }
  });

  await part(`_catalog and startup, ${catalogCount} repositories`, async () => {
    const dir = join(scratch, 'meta-catalog');
    const store = await seedBoth(dir, { repositories: catalogCount, tagsPerRepository: 1, layersPerRepository: 1, orphansPerRepository: 0, prefix: 'cat' });
    // First start: no index yet (it is built in the background); then a start with the index in place.
    const start = async () => {
      const started = performance.now();
      const berth = await startBerth({ dataDir: store.berthData, startTimeoutMs: 120_000 });
      await timedGet(`${berth.url}/v2/`);
      return { berth, seconds: (performance.now() - started) / 1000 };
    };
    const first = await start();
    await first.berth.waitForLog((line) => typeof line.msg === 'string' && line.msg.startsWith('metadata index'), 900_000);
    await first.berth.stop();
    const startups: number[] = [];
    for (let i = 0; i < 3; i++) {
      const again = await start();
      startups.push(again.seconds);
      await again.berth.stop();
    }
    const distributionStarts: number[] = [];
    for (let i = 0; i < 3; i++) {
      const started = performance.now();
      const d = await startDistribution({ storageDir: store.distributionStorage, accessLog: false, logLevel: 'error' });
      distributionStarts.push((performance.now() - started) / 1000);
      await d.stop();
    }
    figures.startupFirst = { berth: first.seconds };
    figures.startup = { berth: median(startups), distribution: median(distributionStarts) };
    const empty = join(scratch, 'meta-empty');
    const emptyStarts: number[] = [];
    for (let i = 0; i < 3; i++) {
      const started = performance.now();
      const berth = await startBerth({ dataDir: empty });
      await timedGet(`${berth.url}/v2/`);
      emptyStarts.push((performance.now() - started) / 1000);
      await berth.stop();
    }
    figures.startupEmpty = { berth: median(emptyStarts) };

    const berth = await berthWithIndex(store.berthData);
    const distribution = await startDistribution({ storageDir: store.distributionStorage, accessLog: false, logLevel: 'error' });
    try {
      // distribution refuses n above its 1,000-entry maximum (PAGINATION_NUMBER_INVALID): both walk 1,000-name
      // pages through the Link header, which is how a client reads a big catalog.
      const paged = '/v2/_catalog?n=1000';
      const walkAll = async (base: string) => {
        const walked = await walkPages(base, paged);
        if (walked.items !== catalogCount) throw new Error(`the catalog walk from ${base} gave ${walked.items} repositories, not ${catalogCount}`);
        return walked.seconds;
      };
      figures.catalog = {
        berth: await steadyMedianOf(() => walkAll(berth.url)),
        distribution: await steadyMedianOf(() => walkAll(distribution.url)),
      };
      // The GUI's Images page: every repository with its size, tag count, last push and pulls.
      const cookie = await signInAsAdmin(berth);
      figures.adminRepositories = {
        berth: await medianOf(3, async () => {
          const listed = await timedGet(`${berth.url}/api/repositories`, { cookie });
          const count = (JSON.parse(listed.body) as { repositories: unknown[] }).repositories.length;
          if (count !== catalogCount) throw new Error(`the admin API listed ${count} repositories, not ${catalogCount}`);
          return listed.seconds;
        }),
      };
    } finally {
      await berth.stop();
      await distribution.stop();
    }
  });

  for (const repositories of [size(1_000), size(10_000)]) {
    await part(`gc, ${repositories} repositories`, async () => {
      const dir = join(scratch, `meta-gc-${repositories}`);
      // 10 blobs a repository: config, 8 layers (one a garbage layer link no manifest references), manifest.
      const store = await seedBoth(dir, { repositories, tagsPerRepository: 1, layersPerRepository: 7, orphansPerRepository: 1, prefix: 'gc' });
      const berth = await berthWithIndex(store.berthData);
      await berth.stop();
      const berthRun = async (dryRun: boolean) => {
        const started = performance.now();
        await run(process.execPath, [berthBin, 'gc', '--grace', '0', '--json', '--data', store.berthData, ...(dryRun ? ['--dry-run'] : [])], { timeoutMs: 3_600_000 });
        return (performance.now() - started) / 1000;
      };
      const config = await distributionConfig(dir, store.distributionStorage);
      const distributionRun = async (dryRun: boolean) => {
        const started = performance.now();
        await run(distributionBinary, ['garbage-collect', ...(dryRun ? ['--dry-run'] : []), config], { timeoutMs: 3_600_000 });
        return (performance.now() - started) / 1000;
      };
      figures[`gcDry${repositories}`] = { berth: await berthRun(true), distribution: await distributionRun(true) };
      figures[`gc${repositories}`] = { berth: await berthRun(false), distribution: await distributionRun(false) };
      log(`metadata: gc of ${repositories} repositories, ${store.blobs} blobs: berth ${figures[`gc${repositories}`]?.berth?.toFixed(2)} s`);
    });
  }

  const ratio = (figure: { berth?: number; distribution?: number } | undefined) =>
    figure?.berth !== undefined && figure.distribution !== undefined && figure.distribution > 0 ? figure.berth / figure.distribution : undefined;
  const small = size(1_000);
  const large = size(10_000);
  const slope = figures[`gc${small}`]?.berth && figures[`gc${large}`]?.berth ? (figures[`gc${large}`]?.berth as number) / (figures[`gc${small}`]?.berth as number) : undefined;
  const checks = [
    check(`tags/list ${tagCount} tags, one response, berth/distribution`, ratio(figures.tagsOne), 'atMost', 1, 'x'),
    check(`tags/list first 100-tag page, berth/distribution`, ratio(figures.tagsFirstPage), 'atMost', 1, 'x'),
    check(`_catalog ${catalogCount} repositories, berth/distribution`, ratio(figures.catalog), 'atMost', 1, 'x'),
    check(`gc ${small} repositories, berth/distribution`, ratio(figures[`gc${small}`]), 'atMost', 2, 'x'),
  ];
  const startupCheck = figures.startup?.berth === undefined ? undefined : figures.startup.berth;
  const rows: Row[] = [
    { metric: `tags/list, ${tagCount} tags, one response (s)`, ...figures.tagsOne, ratio: checks[0]?.value, check: checks[0], digits: 3 },
    { metric: `tags/list?n=100, first page (s)`, ...figures.tagsFirstPage, ratio: checks[1]?.value, check: checks[1], digits: 4 },
    { metric: `  walking all pages of ${tagCount} (s; distribution ignores n)`, ...figures.tagsWalk, ratio: ratio(figures.tagsWalk), digits: 3 },
    { metric: `_catalog, ${catalogCount} repositories (s)`, ...figures.catalog, ratio: checks[2]?.value, check: checks[2], digits: 3 },
    { metric: `admin API tag list, ${tagCount} tags, one response (s)`, berth: figures.adminTagsAll?.berth, digits: 3 },
    { metric: `  one page of 100 at offset 5,000 (s)`, berth: figures.adminTagsPage?.berth, digits: 4 },
    { metric: `admin API repository list (the GUI's Images page), ${catalogCount} repositories (s)`, berth: figures.adminRepositories?.berth, digits: 3 },
    { metric: `start until /v2/ answers, ${catalogCount} repositories (s; node process start included)`, ...figures.startup, ratio: ratio(figures.startup), digits: 3 },
    { metric: `  same, empty store (s)`, berth: figures.startupEmpty?.berth, digits: 3 },
    { metric: `  first start, index built in the background (s)`, berth: figures.startupFirst?.berth ?? startupCheck, digits: 3 },
    { metric: `gc real run, ${small} repositories, ${small * 10} blobs (s)`, ...figures[`gc${small}`], ratio: checks[3]?.value, check: checks[3], digits: 2 },
    { metric: `gc real run, ${large} repositories, ${large * 10} blobs (s)`, ...figures[`gc${large}`], ratio: ratio(figures[`gc${large}`]), digits: 2 },
    { metric: `  berth slope, ${large} / ${small} repositories (10 = linear)`, berth: slope, digits: 1 },
    { metric: `gc --dry-run, ${large} repositories (s)`, ...figures[`gcDry${large}`], ratio: ratio(figures[`gcDry${large}`]), digits: 2 },
  ];
  return { rows, checks, figures, errors };
}
