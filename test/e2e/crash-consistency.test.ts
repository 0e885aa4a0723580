import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { createImageLayout, type ImageLayout } from '../support/oci-layout.js';
import { makeTempDir } from '../support/temp-dir.js';
import { requireTools, toolSkipReason } from '../support/tools.js';
import { startTestServer, type TestServer } from './berth-fixture.js';
import { absolute, createBlobSource, rawRequest, withDigest } from './blob-stream.js';
import { blobDataPath, checkDataDir, sha256File } from './data-dir-check.js';
import { dockerRef, skopeoCopy, skopeoCopyResult, skopeoInspectRaw } from './skopeo.js';

/**
 * kill -9 in the middle of concurrent pushes, several times: afterwards the data directory must hold no blob
 * whose content differs from its digest, no tag leading to a missing manifest or layer, every push that the
 * client saw succeed must still be there, and the server must come back and accept new pushes.
 */

const mib = 1024 * 1024;
const iterations = 4;

interface RawUploadOutcome {
  readonly digest: string;
  /** True when the server answered 201 to the final PUT: the blob must then survive the crash. */
  readonly committed: boolean;
}

/** POST, one streamed PATCH, PUT ?digest=; any socket error (the server was killed) counts as not committed. */
async function rawUpload(server: TestServer, repo: string, size: number): Promise<RawUploadOutcome> {
  const blob = createBlobSource(size);
  const digest = await blob.digest();
  try {
    const started = await rawRequest('POST', `${server.url}/v2/${repo}/blobs/uploads/`);
    if (started.status !== 202) return { digest, committed: false };
    const session = absolute(server.url, started.headers.location);
    const patched = await rawRequest('PATCH', session, { 'content-type': 'application/octet-stream' }, blob.stream());
    if (patched.status !== 202) return { digest, committed: false };
    const done = await rawRequest('PUT', withDigest(absolute(server.url, patched.headers.location), digest), { 'content-length': '0' });
    return { digest, committed: done.status === 201 };
  } catch {
    return { digest, committed: false };
  }
}

/** Resolves once any upload session under the data dir holds data. */
async function waitForUploadBytes(dataDir: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const root = join(dataDir, 'repositories', 'crash');
  while (Date.now() < deadline) {
    for (const repo of await readdir(root).catch(() => [])) {
      for (const id of await readdir(join(root, repo, '_uploads')).catch(() => [])) {
        const size = await stat(join(root, repo, '_uploads', id, 'data')).then((info) => info.size, () => 0);
        if (size > 0) return;
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error('no upload reached the server');
}

/** The client's view after a restart: every tag the registry lists can be fetched, with the bytes of its digest. */
async function assertEveryListedTagResolves(server: TestServer): Promise<void> {
  const catalog = await rawRequest('GET', `${server.url}/v2/_catalog`);
  assert.equal(catalog.status, 200, catalog.text);
  for (const repo of (JSON.parse(catalog.text) as { repositories: string[] }).repositories) {
    const listed = await rawRequest('GET', `${server.url}/v2/${repo}/tags/list`);
    assert.equal(listed.status, 200, `${repo}: ${listed.text}`);
    for (const tag of (JSON.parse(listed.text) as { tags: string[] | null }).tags ?? []) {
      const manifest = await rawRequest('GET', `${server.url}/v2/${repo}/manifests/${tag}`, { accept: acceptAll });
      assert.equal(manifest.status, 200, `${repo}:${tag} is listed but cannot be fetched: ${manifest.text}`);
      assert.equal(manifest.headers['docker-content-digest'], manifest.bodyDigest, `${repo}:${tag} served bytes that are not its digest`);
    }
  }
}

const acceptAll = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

interface SkopeoPushOutcome {
  readonly image: ImageLayout;
  readonly repo: string;
  readonly tag: string;
  readonly succeeded: boolean;
}

test('SIGKILL during concurrent pushes leaves a consistent data dir', { skip: toolSkipReason('skopeo'), timeout: 150_000 }, async (t) => {
  requireTools('skopeo');
  const server = await startTestServer(t);
  const work = await makeTempDir(t);
  const committedBlobs: string[] = [];
  const succeededPushes: SkopeoPushOutcome[] = [];

  for (let round = 0; round < iterations; round++) {
    const layout = join(work, `layout-${round}`);
    const images = [
      // Many small layers (many blob commits) and one big plain layer (a long transfer).
      await createImageLayout(layout, { tag: 'a', layers: [1, 2, 3, 4, 5, 6].map((n) => ({ bytes: n * 256 * 1024, files: n })) }),
      await createImageLayout(layout, { tag: 'b', layers: [{ bytes: 32 * mib, compress: false }, { bytes: mib }] }),
    ];
    const pushes = images.map(async (image, index): Promise<SkopeoPushOutcome> => {
      const repo = `crash/app-${index}`;
      const tag = `r${round}`;
      const result = await skopeoCopyResult(image.ref, dockerRef(server.host, repo, tag), ['--preserve-digests'], { timeoutMs: 60_000 });
      return { image, repo, tag, succeeded: result.code === 0 };
    });
    const uploads = [0, 1, 2].map((index) => rawUpload(server, `crash/raw-${index}`, (32 + 32 * index) * mib));

    // Wait until bytes are flowing, then a random moment more: each round hits a different phase (PATCH,
    // digest check, rename, manifest, tag), and mostly hits transfers in flight rather than an idle server.
    await waitForUploadBytes(server.dataDir, 15_000);
    await new Promise((resolve) => setTimeout(resolve, randomInt(0, 1500)));
    await server.stop('SIGKILL');
    const pushOutcomes = await Promise.all(pushes);
    const uploadOutcomes = await Promise.all(uploads);
    succeededPushes.push(...pushOutcomes.filter((outcome) => outcome.succeeded));
    committedBlobs.push(...uploadOutcomes.filter((outcome) => outcome.committed).map((outcome) => outcome.digest));
    t.diagnostic(
      `round ${round}: ${pushOutcomes.filter((o) => o.succeeded).length}/2 skopeo pushes and ` +
        `${uploadOutcomes.filter((o) => o.committed).length}/3 raw uploads finished before the kill`,
    );

    // Checked while the server is down: exactly what the crash left on disk.
    const report = await checkDataDir(server.dataDir);
    assert.deepEqual(report.problems, [], `round ${round}: data dir inconsistent after SIGKILL`);
    if (report.strays.length > 0) t.diagnostic(`round ${round}: stray files under blobs/: ${report.strays.join(', ')}`);
    if (report.incompleteTags.length > 0) t.diagnostic(`round ${round}: tag folders without a link: ${report.incompleteTags.join(', ')}`);
    for (const digest of committedBlobs) {
      assert.equal(await sha256File(blobDataPath(server.dataDir, digest)), digest, `blob ${digest} was acknowledged with 201 but is gone`);
    }
    await server.start();
    await assertEveryListedTagResolves(server);
  }

  // Everything a client was told had succeeded is still served, byte for byte.
  for (const push of succeededPushes) {
    const raw = await skopeoInspectRaw(dockerRef(server.host, push.repo, push.tag));
    assert.deepEqual(raw, push.image.manifestBytes, `${push.repo}:${push.tag} acknowledged but not served after the crashes`);
  }

  // The server still works: the API answers and a fresh push round-trips.
  const base = await rawRequest('GET', `${server.url}/v2/`);
  assert.equal(base.status, 200);
  const fresh = await createImageLayout(join(work, 'fresh'), { tag: 'fresh', layers: [{ bytes: 2 * mib }] });
  await skopeoCopy(fresh.ref, dockerRef(server.host, 'crash/after', 'fresh'));
  const out = join(work, 'out');
  await skopeoCopy(dockerRef(server.host, 'crash/after', 'fresh'), `dir:${out}`);
  assert.deepEqual(await readFile(join(out, 'manifest.json')), fresh.manifestBytes);
  const final = await checkDataDir(server.dataDir);
  assert.deepEqual(final.problems, []);
  assert.ok(final.tags >= 1 && final.blobs >= 3, `data dir after the fresh push: ${JSON.stringify(final)}`);
});
