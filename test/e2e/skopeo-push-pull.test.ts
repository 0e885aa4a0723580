import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { blobPath, createImageLayout, createIndexLayout, type ImageLayout } from '../support/oci-layout.js';
import { makeTempDir } from '../support/temp-dir.js';
import { requireTools, toolSkipReason } from '../support/tools.js';
import { startTestServer } from './berth-fixture.js';
import { sha256File } from './data-dir-check.js';
import { dockerRef, skopeoCopy, skopeoCopyResult, skopeoDelete, skopeoInspect, skopeoInspectRaw, skopeoListTags } from './skopeo.js';

/** Real skopeo against a real `berth serve`: what `docker push`/`pull` users rely on, byte for byte. */

const skip = toolSkipReason('skopeo');

/** Asserts every layer and the config of `image` came back byte-exact in skopeo's `dir:` output. */
async function assertDirHasImage(dir: string, image: ImageLayout): Promise<void> {
  for (const blob of [image.config, ...image.layers]) {
    const hex = blob.digest.replace('sha256:', '');
    assert.equal(await sha256File(join(dir, hex)), blob.digest, `blob ${blob.digest} pulled with different content`);
    assert.equal(await sha256File(join(dir, hex)), await sha256File(blobPath(image.dir, blob.digest)));
  }
}

test('skopeo pushes and pulls a multi-layer OCI image byte-exact', { skip, timeout: 90_000 }, async (t) => {
  requireTools('skopeo');
  const server = await startTestServer(t);
  const work = await makeTempDir(t);
  const image = await createImageLayout(join(work, 'layout'), {
    tag: 'v1',
    layers: [{ bytes: 600 * 1024, files: 40 }, { bytes: 2 * 1024 * 1024 }, { bytes: 1024 * 1024, compress: false }],
  });
  const ref = dockerRef(server.host, 'team/app', 'v1');
  // --preserve-digests: skopeo would otherwise gzip the plain-tar layer on the way and rewrite the manifest.
  await skopeoCopy(image.ref, ref, ['--preserve-digests']);

  // The registry must hand back the very bytes that were pushed: the digest is the hash of those bytes.
  assert.deepEqual(await skopeoInspectRaw(ref), image.manifestBytes);
  const summary = await skopeoInspect(ref);
  assert.equal(summary.Digest, image.manifestDigest);
  assert.deepEqual(summary.Layers, image.layers.map((layer) => layer.digest));

  const dirOut = join(work, 'dir-out');
  await skopeoCopy(ref, `dir:${dirOut}`);
  assert.deepEqual(await readFile(join(dirOut, 'manifest.json')), image.manifestBytes);
  await assertDirHasImage(dirOut, image);

  // Pull by digest into an OCI layout too: the other transport a user would use.
  const ociOut = join(work, 'oci-out');
  await skopeoCopy(dockerRef(server.host, 'team/app', image.manifestDigest), `oci:${ociOut}:pulled`, ['--preserve-digests']);
  const pulledIndex = JSON.parse(await readFile(join(ociOut, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
  assert.equal(pulledIndex.manifests[0]?.digest, image.manifestDigest);
  for (const blob of [image.config, ...image.layers]) {
    assert.equal(await sha256File(blobPath(ociOut, blob.digest)), blob.digest);
  }
});

test('skopeo copy --all round-trips a multi-arch index; --override-arch pulls one platform', { skip, timeout: 90_000 }, async (t) => {
  requireTools('skopeo');
  const server = await startTestServer(t);
  const work = await makeTempDir(t);
  const layersPerImage = [{ bytes: 128 * 1024, files: 3 }, { bytes: 64 * 1024 }];
  const index = await createIndexLayout(join(work, 'layout'), { tag: 'multi', layersPerImage });
  const ref = dockerRef(server.host, 'team/multi', 'multi');
  await skopeoCopy(index.ref, ref, ['--all']);

  assert.deepEqual(await skopeoInspectRaw(ref), index.manifestBytes, 'index bytes changed on the way through the registry');
  for (const image of index.images) {
    const child = dockerRef(server.host, 'team/multi', image.manifestDigest);
    assert.deepEqual(await skopeoInspectRaw(child), image.manifestBytes, `child manifest for ${image.platform.architecture}`);
  }

  const ociOut = join(work, 'oci-out');
  await skopeoCopy(ref, `oci:${ociOut}:back`, ['--all']);
  const pulledIndex = JSON.parse(await readFile(join(ociOut, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
  assert.equal(pulledIndex.manifests[0]?.digest, index.manifestDigest);
  assert.deepEqual(await readFile(blobPath(ociOut, index.manifestDigest)), index.manifestBytes);
  for (const image of index.images) {
    for (const blob of [image.config, ...image.layers]) assert.equal(await sha256File(blobPath(ociOut, blob.digest)), blob.digest);
  }

  const arm64 = index.images.find((image) => image.platform.architecture === 'arm64');
  assert.ok(arm64);
  const armOut = join(work, 'arm64');
  await skopeoCopy(ref, `dir:${armOut}`, ['--override-arch', 'arm64']);
  assert.deepEqual(await readFile(join(armOut, 'manifest.json')), arm64.manifestBytes, 'not the arm64 manifest');
  await assertDirHasImage(armOut, arm64);
  const amd64 = index.images.find((image) => image.platform.architecture === 'amd64');
  const pulledBlobs = (await readdir(armOut)).filter((name) => /^[0-9a-f]{64}$/.test(name));
  for (const layer of amd64?.layers ?? []) assert.ok(!pulledBlobs.includes(layer.digest.slice(7)), 'amd64 layer pulled for arm64');
});

test('a Docker schema 2 push is served back as application/vnd.docker.distribution.manifest.v2+json', { skip, timeout: 60_000 }, async (t) => {
  requireTools('skopeo');
  const server = await startTestServer(t);
  const work = await makeTempDir(t);
  const image = await createImageLayout(join(work, 'layout'), { tag: 'v1', layers: [{ bytes: 256 * 1024, files: 4 }, { bytes: 64 * 1024 }] });
  const ref = dockerRef(server.host, 'team/docker', 'v1');
  await skopeoCopy(image.ref, ref, ['--format', 'v2s2']);

  const dockerV2 = 'application/vnd.docker.distribution.manifest.v2+json';
  const response = await fetch(`${server.url}/v2/team/docker/manifests/v1`, {
    headers: { accept: `${dockerV2}, application/vnd.oci.image.manifest.v1+json` },
  });
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('content-type'), dockerV2);
  const body = Buffer.from(await response.arrayBuffer());
  const manifest = JSON.parse(body.toString('utf8')) as { mediaType: string; layers: { digest: string }[] };
  assert.equal(manifest.mediaType, dockerV2);
  // gzip layers are not recompressed by the conversion: same blobs, Docker media types.
  assert.deepEqual(manifest.layers.map((layer) => layer.digest), image.layers.map((layer) => layer.digest));
  const digest = await skopeoInspect(ref);
  assert.equal(response.headers.get('docker-content-digest'), digest.Digest);
  assert.deepEqual(await skopeoInspectRaw(ref), body);

  const out = join(work, 'out');
  await skopeoCopy(ref, `dir:${out}`);
  for (const layer of image.layers) assert.equal(await sha256File(join(out, layer.digest.slice(7))), layer.digest);
});

test('retag, list-tags (sorted) and delete with skopeo', { skip, timeout: 90_000 }, async (t) => {
  requireTools('skopeo');
  const server = await startTestServer(t);
  const work = await makeTempDir(t);
  const layout = join(work, 'layout');
  const kept = await createImageLayout(layout, { tag: 'kept', layers: [{ bytes: 32 * 1024 }] });
  const doomed = await createImageLayout(layout, { tag: 'doomed', layers: [{ bytes: 32 * 1024 }] });
  const repo = 'team/tags';

  await skopeoCopy(kept.ref, dockerRef(server.host, repo, '1'));
  // Retag registry-side: the copy must keep the manifest bytes, hence the digest.
  await skopeoCopy(dockerRef(server.host, repo, '1'), dockerRef(server.host, repo, '2'));
  assert.equal((await skopeoInspect(dockerRef(server.host, repo, '2'))).Digest, kept.manifestDigest);
  for (const tag of ['latest', '10', 'Zeta', 'alpha']) await skopeoCopy(kept.ref, dockerRef(server.host, repo, tag));
  await skopeoCopy(doomed.ref, dockerRef(server.host, repo, 'doomed'));

  const expected = ['1', '10', '2', 'Zeta', 'alpha', 'doomed', 'latest'];
  assert.deepEqual(await skopeoListTags(server.host, repo), expected, 'tags must be listed in lexical order');

  // skopeo delete resolves the tag and deletes the manifest by digest.
  await skopeoDelete(dockerRef(server.host, repo, 'doomed'));
  const gone = await skopeoCopyResult(dockerRef(server.host, repo, 'doomed'), `dir:${join(work, 'gone')}`);
  assert.notEqual(gone.code, 0, 'pulling a deleted image must fail');
  assert.match(gone.stderr, /manifest unknown/i);
  const byDigest = await skopeoCopyResult(dockerRef(server.host, repo, doomed.manifestDigest), `dir:${join(work, 'gone2')}`);
  assert.notEqual(byDigest.code, 0, 'the deleted manifest must not be pullable by digest either');
  assert.match(byDigest.stderr, /manifest unknown/i);

  assert.deepEqual(await skopeoListTags(server.host, repo), expected.filter((tag) => tag !== 'doomed'));
  // The other image is untouched.
  assert.deepEqual(await skopeoInspectRaw(dockerRef(server.host, repo, 'latest')), kept.manifestBytes);
});
