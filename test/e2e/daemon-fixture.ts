import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { startBerth, type BerthProcess } from '../support/berth-process.js';
import { parseMirrorConfig, type PrintedMirrorConfig } from '../support/daemons/mirror-config.js';
import { startDistribution, type AccessLogEntry, type DistributionServer } from '../support/distribution.js';
import { createImageLayout, createIndexLayout, type ImageLayout, type IndexLayout, type Platform } from '../support/oci-layout.js';
import { createTempDir, makeTempDir, removeDir, type AfterHook } from '../support/temp-dir.js';
import { pushImage } from '../mirror/fixtures.js';
import { berthCliOk } from './mirror-fixture.js';

/**
 * The setting of the daemon tests, as a user builds it: Debian's docker-registry as "Docker Hub" (the
 * upstream), Berth with its default settings (token auth, `berth serve` with no auth flag) and that upstream
 * added with `berth upstream add hub URL --alias docker.io --default`, and the client configuration taken
 * from what `berth mirror-config` prints. Images are seeded upstream under `library/` with fresh names, so
 * every case starts cold in Berth, and the upstream's access log tells what left it.
 */

export const upstreamName = 'hub';
/** A Docker Hub login (`docker login` leaves it in config.json as base64 `user:password`), which daemons forward to mirrors. */
export const dockerHubLogin = Buffer.from('hubuser:dckr_pat_2b3e4f5a6b7c8d9e').toString('base64');
/** Berth's upstream requests say who they are (`berth (registry mirror)`); the seeding pushes are skopeo's. */
const berthUserAgentPrefix = 'berth';

/** The platform of this machine, which is what every daemon pulls from an index. */
export function hostPlatform(): Platform {
  if (process.arch === 'arm64') return { os: 'linux', architecture: 'arm64', variant: 'v8' };
  if (process.arch === 'x64') return { os: 'linux', architecture: 'amd64' };
  throw new Error(`no test images for ${process.arch}`);
}

export interface SeededImage {
  /** `library/NAME`, the repository upstream. */
  readonly repository: string;
  /** `docker.io/library/NAME:TAG`, what a user pulls. */
  readonly reference: string;
  readonly tag: string;
  readonly layout: ImageLayout;
}

export interface SeededIndex {
  readonly repository: string;
  readonly reference: string;
  readonly tag: string;
  readonly layout: IndexLayout;
  /** The image of the host's platform, the one a daemon pulls. */
  readonly hostImage: ImageLayout;
  /** The other platform's image, which must not be fetched. */
  readonly otherImage: ImageLayout;
}

export interface HubMirror {
  readonly upstream: DistributionServer;
  readonly berth: BerthProcess;
  readonly dataDir: string;
  /** What `berth mirror-config` printed, and the files taken from it. */
  readonly printed: string;
  readonly config: PrintedMirrorConfig;
  /** A single-platform image `library/<prefix>-<random>:1` pushed to the upstream. */
  seedImage(prefix: string): Promise<SeededImage>;
  /** A two-platform index (the host's and one other) pushed to the upstream. */
  seedIndex(prefix: string): Promise<SeededIndex>;
  /** What Berth asked the upstream about `repository` (other clients' requests, such as the seeding pushes, left out). */
  upstreamRequests(repository: string): AccessLogEntry[];
}

function randomName(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

/** Starts docker-registry and Berth, configured through Berth's CLI; both stopped after `t`. */
export async function startHubMirror(t: AfterHook): Promise<HubMirror> {
  const upstream = await startDistribution({ logLevel: 'warn' });
  t.after(() => upstream.stop());
  const layouts = await makeTempDir(t, 'berth-hub-images-');
  const dataDir = await createTempDir('berth-hub-mirror-');
  let berth: BerthProcess | undefined;
  // One hook, in this order: removing the directory under a live server would race its writes.
  t.after(async () => {
    await berth?.stop();
    await removeDir(dataDir);
  });
  await berthCliOk(['upstream', 'add', upstreamName, upstream.url, '--alias', 'docker.io', '--default', '--data', dataDir]);
  // Default settings: no --auth (token auth), only the ports are ephemeral so parallel tests do not collide.
  // --log-level debug adds log lines only; they are what a failure is diagnosed from.
  berth = await startBerth({ dataDir, auth: null, tlsListen: '127.0.0.1:0', args: ['--log-level', 'debug'], startTimeoutMs: 60_000 });
  // Exactly what a user pastes: mirror-config reads the running server's real listener (the port is ephemeral).
  const printed = await berthCliOk(['mirror-config', '--data', dataDir]);
  const config = parseMirrorConfig(printed);

  const seedImage = async (prefix: string): Promise<SeededImage> => {
    const name = randomName(prefix);
    const layout = await createImageLayout(join(layouts, name), {
      tag: '1',
      platform: hostPlatform(),
      layers: [{ bytes: 96 * 1024, files: 3 }, { bytes: 24 * 1024 }],
      labels: { 'org.example.berth-test': name },
    });
    await pushImage(layout.ref, upstream.host, `library/${name}:1`);
    return { repository: `library/${name}`, reference: `docker.io/library/${name}:1`, tag: '1', layout };
  };
  const seedIndex = async (prefix: string): Promise<SeededIndex> => {
    const name = randomName(prefix);
    const host = hostPlatform();
    const other: Platform = host.architecture === 'amd64' ? { os: 'linux', architecture: 'arm64', variant: 'v8' } : { os: 'linux', architecture: 'amd64' };
    const layout = await createIndexLayout(join(layouts, name), { tag: '1', platforms: [other, host], layersPerImage: [{ bytes: 64 * 1024, files: 2 }] });
    await pushImage(layout.ref, upstream.host, `library/${name}:1`);
    const [otherImage, hostImage] = layout.images;
    assert.ok(otherImage && hostImage);
    return { repository: `library/${name}`, reference: `docker.io/library/${name}:1`, tag: '1', layout, hostImage, otherImage };
  };
  return {
    upstream,
    berth,
    dataDir,
    printed,
    config,
    seedImage,
    seedIndex,
    upstreamRequests: (repository) =>
      upstream.requests().filter((entry) => entry.userAgent.startsWith(berthUserAgentPrefix) && entry.path.startsWith(`/v2/${repository}/`)),
  };
}

/** Requests for one path (query ignored), by method. */
function countOf(requests: readonly AccessLogEntry[], path: string, methods: readonly string[]): number {
  return requests.filter((entry) => methods.includes(entry.method) && entry.path.split('?')[0] === path).length;
}

export interface UpstreamTally {
  /** `GET /blobs/<digest>` per blob. */
  readonly blobGets: Record<string, number>;
  /** GETs of each manifest's bytes (by its digest, or by the tag that names it). */
  readonly manifestGets: Record<string, number>;
  /** HEADs and GETs of the tag (each is a tag check). */
  readonly tagChecks: number;
}

/** What left the upstream for one pulled image: `expected` are the manifests (tagged first) and blobs a daemon needs. */
export function tallyUpstream(mirror: HubMirror, repository: string, tag: string, manifests: readonly string[], blobs: readonly string[]): UpstreamTally {
  const requests = mirror.upstreamRequests(repository);
  const base = `/v2/${repository}`;
  const blobGets: Record<string, number> = {};
  for (const digest of blobs) blobGets[digest] = countOf(requests, `${base}/blobs/${digest}`, ['GET']);
  const manifestGets: Record<string, number> = {};
  manifests.forEach((digest, index) => {
    const byTag = index === 0 ? countOf(requests, `${base}/manifests/${tag}`, ['GET']) : 0;
    manifestGets[digest] = countOf(requests, `${base}/manifests/${digest}`, ['GET']) + byTag;
  });
  return { blobGets, manifestGets, tagChecks: countOf(requests, `${base}/manifests/${tag}`, ['HEAD', 'GET']) };
}

/** Blobs a daemon needs for one image: config and layers. */
export function blobsOf(image: ImageLayout): string[] {
  return [image.config.digest, ...image.layers.map((layer) => layer.digest)];
}

/**
 * Each manifest and each blob a daemon needs left the upstream exactly once, the tag was checked once, and
 * nothing of an index's other platform was fetched. Reports the tally as a test diagnostic (the per-blob
 * figures the issue asks for).
 */
export function assertFetchedOnce(t: TestContext, mirror: HubMirror, seeded: SeededImage | SeededIndex): void {
  const isIndex = 'hostImage' in seeded;
  const manifests = isIndex ? [seeded.layout.manifestDigest, seeded.hostImage.manifestDigest] : [seeded.layout.manifestDigest];
  const blobs = blobsOf(isIndex ? seeded.hostImage : seeded.layout);
  const unwanted = isIndex ? [seeded.otherImage.manifestDigest, ...blobsOf(seeded.otherImage)] : [];
  const tally = tallyUpstream(mirror, seeded.repository, seeded.tag, manifests, blobs);
  const requests = mirror.upstreamRequests(seeded.repository);
  t.diagnostic(`upstream requests for ${seeded.repository}: ${JSON.stringify(tally)}`);
  const detail = `\nwhat Berth asked the upstream:\n${requests.map((entry) => `${entry.method} ${entry.path} ${entry.status}`).join('\n')}`;
  const strays = requests.filter((entry) => unwanted.some((digest) => entry.path.split('?')[0]?.endsWith(`/${digest}`)));
  // One comparison of the whole tally, so that a failure shows every count that is off at once.
  const once = (digests: readonly string[]): Record<string, number> => Object.fromEntries(digests.map((digest) => [digest, 1]));
  assert.deepEqual(
    { ...tally, otherPlatform: strays.map((entry) => `${entry.method} ${entry.path}`) },
    { tagChecks: 1, manifestGets: once(manifests), blobGets: once(blobs), otherPlatform: [] },
    `each manifest and blob leaves the upstream once, the tag is checked once, the other platform not at all${detail}`,
  );
}

/** Berth's log lines that mention `text` (a repository name), for assertion messages. */
export function berthLines(mirror: HubMirror, text: string): string[] {
  return mirror.berth.logs().split('\n').filter((line) => line.includes(text));
}

/** Seconds with one decimal, for diagnostics. */
export function seconds(ms: number): string {
  return (ms / 1000).toFixed(1);
}
