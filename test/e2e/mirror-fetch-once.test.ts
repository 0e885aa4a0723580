import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { test } from 'node:test';
import { startDistribution, type AccessLogEntry, type DistributionServer } from '../support/distribution.js';
import { jsonBytes, mediaTypes, pushBlobChunked, pushImageOf, pushManifest } from '../support/oci-client.js';
import { makeTempDir } from '../support/temp-dir.js';
import { requireTools, toolSkipReason } from '../support/tools.js';
import { skopeoCopy } from './skopeo.js';
import { eventually, startMirror } from './mirror-fixture.js';

/**
 * What the mirror asks of its upstream, counted in the upstream's own access log (Debian's docker-registry):
 * a blob leaves the upstream once, however many of its repositories list it and however many clients pull at
 * the same time; a tag is checked once per --tag-ttl and a manifest fetched once, also under concurrent cold
 * pulls. Berth runs with its defaults (token auth, the 5-minute tag TTL).
 */

const tools = ['docker-registry', 'skopeo'] as const;

/**
 * The access log up to now. distribution writes a line when a request ends, on a pipe: a marker request is
 * sent and awaited, so every request Berth made before it is in the log too.
 */
async function settledLog(dist: DistributionServer): Promise<readonly AccessLogEntry[]> {
  const marker = `/v2/?marker=${randomBytes(6).toString('hex')}`;
  await (await fetch(`${dist.url}${marker}`)).arrayBuffer();
  await eventually('the marker request in the access log', () => dist.requests().some((entry) => entry.path === marker), 10_000);
  return dist.requests();
}

/** Requests for any repository's `/blobs/<digest>` (or `/manifests/<reference>`) with this method. */
function count(log: readonly AccessLogEntry[], method: string, suffix: string): number {
  return log.filter((entry) => entry.method === method && entry.path.split('?')[0]?.endsWith(suffix) && entry.userAgent.startsWith('berth')).length;
}

test('each blob leaves the upstream once, tag checks and manifest fetches are single-flight', { skip: toolSkipReason(...tools), timeout: 120_000 }, async (t) => {
  requireTools(...tools);
  const dist = await startDistribution({ logLevel: 'warn' });
  t.after(() => dist.stop());
  const url = dist.url;
  // A base layer shared by three repositories, as base images are: pushed to each, as builds do.
  const base = await pushBlobChunked(url, 'library/busybox', randomBytes(300 * 1024));
  const busybox = await pushImageOf(url, 'library/busybox', '1', [base, await pushBlobChunked(url, 'library/busybox', randomBytes(20 * 1024))]);
  await pushBlobChunked(url, 'tools/bb', base.bytes);
  const bb = await pushImageOf(url, 'tools/bb', '1', [base, await pushBlobChunked(url, 'tools/bb', randomBytes(20 * 1024))]);
  await pushBlobChunked(url, 'library/multi', base.bytes);
  const amd64 = await pushImageOf(url, 'library/multi', undefined, [base, await pushBlobChunked(url, 'library/multi', randomBytes(20 * 1024))], 'amd64');
  const arm64 = await pushImageOf(url, 'library/multi', undefined, [base, await pushBlobChunked(url, 'library/multi', randomBytes(20 * 1024))], 'arm64');
  const index = jsonBytes({
    schemaVersion: 2,
    mediaType: mediaTypes.ociIndex,
    manifests: [amd64, arm64].map((image, i) => ({
      mediaType: mediaTypes.ociManifest,
      digest: image.digest,
      size: image.bytes.length,
      platform: { os: 'linux', architecture: i === 0 ? 'amd64' : 'arm64' },
    })),
  });
  await pushManifest(url, 'library/multi', '1', index, mediaTypes.ociIndex);
  const fresh = await pushImageOf(url, 'library/fresh', '1', [
    await pushBlobChunked(url, 'library/fresh', randomBytes(2 * 1024 * 1024)),
    await pushBlobChunked(url, 'library/fresh', randomBytes(512 * 1024)),
  ]);

  const mirror = await startMirror(t, { auth: 'token', upstreams: [{ name: 'up', url }] });
  const ref = (repoTag: string) => `docker://${mirror.host}/up/${repoTag}`;
  const out = await makeTempDir(t);

  await t.test('a base layer stored for one repository is linked into the others without a second GET', async () => {
    await skopeoCopy(ref('library/busybox:1'), `oci:${join(out, 'busybox')}:1`);
    await skopeoCopy(ref('tools/bb:1'), `oci:${join(out, 'bb')}:1`);
    await skopeoCopy(ref('library/multi:1'), `oci:${join(out, 'multi')}:1`, ['--all']);
    const log = await settledLog(dist);
    const baseGets = count(log, 'GET', `/blobs/${base.digest}`);
    t.diagnostic(`upstream GETs of the shared base layer: ${baseGets}`);
    assert.equal(baseGets, 1, 'the shared base layer left the upstream once for three repositories');
    for (const image of [busybox, bb, amd64, arm64]) {
      for (const blob of [image.config, ...image.layers.slice(1)]) assert.equal(count(log, 'GET', `/blobs/${blob.digest}`), 1, blob.digest);
    }
  });

  await t.test('4 concurrent cold pulls: one tag check, one manifest GET, one GET per blob', async () => {
    const before = (await settledLog(dist)).length;
    await Promise.all([1, 2, 3, 4].map((n) => skopeoCopy(ref('library/fresh:1'), `oci:${join(out, `fresh-${n}`)}:1`)));
    const log = (await settledLog(dist)).slice(before);
    const figures = {
      tagHeads: count(log, 'HEAD', '/manifests/1'),
      tagGets: count(log, 'GET', '/manifests/1'),
      manifestGets: count(log, 'GET', `/manifests/${fresh.digest}`),
      blobGets: [fresh.config, ...fresh.layers].map((blob) => count(log, 'GET', `/blobs/${blob.digest}`)),
    };
    t.diagnostic(`4 concurrent cold pulls, upstream requests: ${JSON.stringify(figures)}`);
    assert.deepEqual(figures, { tagHeads: 1, tagGets: 0, manifestGets: 1, blobGets: [1, 1, 1] });

    // Within the tag TTL nothing is asked again, not even the tag.
    const again = (await settledLog(dist)).length;
    await skopeoCopy(ref('library/fresh:1'), `oci:${join(out, 'fresh-again')}:1`);
    const later = (await settledLog(dist)).slice(again).filter((entry) => entry.userAgent.startsWith('berth'));
    assert.deepEqual(later.map((entry) => `${entry.method} ${entry.path}`), []);
  });
});
