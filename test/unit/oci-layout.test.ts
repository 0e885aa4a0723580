import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { blobPath, createImageLayout, createIndexLayout, mediaTypes } from '../support/oci-layout.js';
import { makeTempDir } from '../support/temp-dir.js';
import { requireTools, runOk, toolSkipReason } from '../support/tools.js';

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return `sha256:${hash.digest('hex')}`;
}

const skopeo = (args: string[]) => runOk('skopeo', ['--insecure-policy', ...args], { timeoutMs: 120_000 });

test('the layout is valid OCI: index.json, oci-layout, blobs at their digests', async (t) => {
  const dir = await makeTempDir(t);
  const image = await createImageLayout(dir, { tag: 'v1', layers: [{ bytes: 10_000, files: 3 }, { bytes: 777, compress: false }] });
  assert.deepEqual(JSON.parse(await readFile(join(dir, 'oci-layout'), 'utf8')), { imageLayoutVersion: '1.0.0' });
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8'));
  assert.equal(index.schemaVersion, 2);
  assert.equal(index.manifests.length, 1);
  assert.equal(index.manifests[0].digest, image.manifestDigest);
  assert.equal(index.manifests[0].annotations['org.opencontainers.image.ref.name'], 'v1');
  for (const blob of [...image.layers, image.config]) {
    assert.equal(await sha256File(blobPath(dir, blob.digest)), blob.digest);
    assert.equal((await stat(blobPath(dir, blob.digest))).size, blob.size);
  }
  assert.equal(image.layers[0]?.mediaType, mediaTypes.layerTarGzip);
  assert.equal(image.layers[1]?.mediaType, mediaTypes.layerTar);
  assert.equal(image.layers[1]?.digest, image.layers[1]?.diffId, 'an uncompressed layer is its own diff_id');
  const config = JSON.parse(await readFile(blobPath(dir, image.config.digest), 'utf8'));
  assert.deepEqual(config.rootfs, { type: 'layers', diff_ids: image.layers.map((layer) => layer.diffId) });
  assert.equal(config.history.length, 2);
  // No temp files left behind.
  assert.deepEqual((await readdir(join(dir, 'blobs', 'sha256'))).filter((name) => name.startsWith('.')), []);
});

test('tar lists and extracts the files of a gzip and a plain layer', { skip: toolSkipReason('tar') }, async (t) => {
  requireTools('tar');
  const dir = await makeTempDir(t);
  const out = await makeTempDir(t);
  const image = await createImageLayout(dir, { layers: [{ bytes: 5000, files: 4 }, { bytes: 1025, files: 1, compress: false }] });
  const [gz, plain] = image.layers;
  assert.ok(gz && plain);
  const listed = (await runOk('tar', ['-tzf', blobPath(dir, gz.digest)])).stdout.split('\n').filter((line) => line.endsWith('.bin'));
  assert.deepEqual(listed.sort(), [...gz.files].sort());
  await runOk('tar', ['-xf', blobPath(dir, plain.digest), '-C', out]);
  assert.equal((await stat(join(out, plain.files[0] ?? ''))).size, 1025);
  // The diff_id really is the hash of the uncompressed stream.
  const gunzipped = await runOk('sh', ['-c', `gzip -dc '${blobPath(dir, gz.digest)}' | sha256sum`]);
  assert.equal(`sha256:${gunzipped.stdout.split(' ')[0]}`, gz.diffId);
});

test('umoci unpacks the image and finds every file with its size', { skip: toolSkipReason('umoci') }, async (t) => {
  requireTools('umoci');
  const dir = await makeTempDir(t);
  const bundle = join(await makeTempDir(t), 'bundle');
  const image = await createImageLayout(dir, { tag: 'unpack', layers: [{ bytes: 3000, files: 3 }, { bytes: 4096, files: 2, compress: false }] });
  // umoci checks each layer against its digest and diff_id while unpacking.
  await runOk('umoci', ['unpack', '--rootless', '--image', `${dir}:unpack`, bundle], { timeoutMs: 60_000 });
  for (const layer of image.layers) {
    for (const file of layer.files) assert.ok((await stat(join(bundle, 'rootfs', file))).isFile(), file);
  }
  assert.equal((await stat(join(bundle, 'rootfs', image.layers[1]?.files[0] ?? ''))).size, 2048);
});

test('skopeo reads the manifest bytes as written and copies the image, also as Docker schema 2', { skip: toolSkipReason('skopeo') }, async (t) => {
  requireTools('skopeo');
  const dir = await makeTempDir(t);
  const image = await createImageLayout(dir, { tag: 'v1', layers: [{ bytes: 20_000, files: 2 }], labels: { 'org.example.test': 'yes' } });
  const raw = await skopeo(['inspect', '--raw', image.ref]);
  assert.equal(raw.stdout, image.manifestBytes.toString('utf8'));
  const inspected = JSON.parse((await skopeo(['inspect', image.ref])).stdout);
  assert.equal(inspected.Digest, image.manifestDigest);
  assert.equal(inspected.Architecture, 'amd64');
  assert.equal(inspected.Labels['org.example.test'], 'yes');

  const ociCopy = join(await makeTempDir(t), 'copy');
  await skopeo(['copy', image.ref, `dir:${ociCopy}`]);
  assert.equal(await readFile(join(ociCopy, 'manifest.json'), 'utf8'), image.manifestBytes.toString('utf8'));
  const layerHex = image.layers[0]?.digest.split(':')[1] ?? '';
  assert.equal(await sha256File(join(ociCopy, layerHex)), image.layers[0]?.digest);

  const dockerCopy = join(await makeTempDir(t), 'v2s2');
  await skopeo(['copy', '--format', 'v2s2', image.ref, `dir:${dockerCopy}`]);
  const converted = JSON.parse(await readFile(join(dockerCopy, 'manifest.json'), 'utf8'));
  assert.equal(converted.mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
  assert.equal(converted.config.mediaType, 'application/vnd.docker.container.image.v1+json');
  assert.deepEqual(converted.layers.map((layer: { digest: string }) => layer.digest), [image.layers[0]?.digest]);
});

test('a plain-tar image converts to Docker schema 2 too', { skip: toolSkipReason('skopeo') }, async (t) => {
  requireTools('skopeo');
  const dir = await makeTempDir(t);
  const image = await createImageLayout(dir, { layers: [{ bytes: 100_000, compress: false }] });
  const out = join(await makeTempDir(t), 'v2s2');
  await skopeo(['copy', '--format', 'v2s2', image.ref, `dir:${out}`]);
  const converted = JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8'));
  assert.equal(converted.schemaVersion, 2);
  assert.equal(converted.layers.length, 1);
});

test('several tags share one layout', { skip: toolSkipReason('skopeo') }, async (t) => {
  requireTools('skopeo');
  const dir = await makeTempDir(t);
  const one = await createImageLayout(dir, { tag: 'one', layers: [{ bytes: 100 }] });
  const two = await createImageLayout(dir, { tag: 'two', layers: [{ bytes: 200 }] });
  const again = await createImageLayout(dir, { tag: 'one', layers: [{ bytes: 300 }] });
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8'));
  assert.equal(index.manifests.length, 2, 're-tagging replaces the entry');
  assert.equal((await skopeo(['inspect', '--raw', two.ref])).stdout, two.manifestBytes.toString('utf8'));
  assert.equal((await skopeo(['inspect', '--raw', again.ref])).stdout, again.manifestBytes.toString('utf8'));
  assert.notEqual(one.manifestDigest, again.manifestDigest);
});

test('a multi-platform index copies with skopeo copy --all', { skip: toolSkipReason('skopeo') }, async (t) => {
  requireTools('skopeo');
  const dir = await makeTempDir(t);
  const index = await createIndexLayout(dir, { tag: 'multi', layersPerImage: [{ bytes: 4096, files: 2 }] });
  assert.equal(index.images.length, 2);
  const raw = await skopeo(['inspect', '--raw', index.ref]);
  assert.equal(raw.stdout, index.manifestBytes.toString('utf8'));
  const parsed = JSON.parse(raw.stdout);
  assert.equal(parsed.mediaType, mediaTypes.imageIndex);
  assert.deepEqual(parsed.manifests.map((m: { platform: { architecture: string } }) => m.platform.architecture), ['amd64', 'arm64']);

  const arm = JSON.parse((await skopeo(['--override-arch', 'arm64', 'inspect', index.ref])).stdout);
  assert.equal(arm.Architecture, 'arm64');
  // skopeo inspect reports the digest of what the reference names: the index, not the chosen image.
  assert.equal(arm.Digest, index.manifestDigest);
  assert.equal(arm.Layers[0], index.images[1]?.layers[0]?.digest);

  const out = join(await makeTempDir(t), 'all');
  await skopeo(['copy', '--all', index.ref, `dir:${out}`]);
  assert.equal(await readFile(join(out, 'manifest.json'), 'utf8'), index.manifestBytes.toString('utf8'));
  for (const image of index.images) {
    const hex = image.manifestDigest.split(':')[1] ?? '';
    assert.equal(await readFile(join(out, `${hex}.manifest.json`), 'utf8'), image.manifestBytes.toString('utf8'));
    for (const layer of image.layers) assert.equal(await sha256File(join(out, layer.digest.split(':')[1] ?? '')), layer.digest);
  }
});
