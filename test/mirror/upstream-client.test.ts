import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { UpstreamNotFoundError } from '../../registry/mirror/index.js';
import { startDistribution } from '../support/distribution.js';
import { createImageLayout, createIndexLayout, mediaTypes, type ImageLayout } from '../support/oci-layout.js';
import { startRegistry } from '../support/registry-server.js';
import { makeTempDir } from '../support/temp-dir.js';
import { requireTools, toolSkipReason } from '../support/tools.js';
import { clientFor, pushImage, sha256Of } from './fixtures.js';

/**
 * The upstream client against two real registries populated by skopeo: CNCF distribution (Debian's
 * docker-registry) and another Berth. Same assertions for both: what a pull-through cache relies on.
 */

interface Populated {
  readonly v1: ImageLayout;
  readonly v2: ImageLayout;
  readonly indexDigest: string;
  readonly indexBytes: Buffer;
}

async function populate(t: TestContext, host: string): Promise<Populated> {
  const dir = await makeTempDir(t);
  // One layer of 300 KiB plain tar so the blob spans many socket reads.
  const v1 = await createImageLayout(dir, { tag: 'v1', layers: [{ bytes: 300 * 1024, compress: false }, { bytes: 2000, files: 2 }] });
  const v2 = await createImageLayout(dir, { tag: 'v2', layers: [{ bytes: 4000 }] });
  await pushImage(v1.ref, host, 'team/app:v1');
  await pushImage(v2.ref, host, 'team/app:v2');
  await pushImage(v2.ref, host, 'team/app:v3');
  const multi = await createIndexLayout(await makeTempDir(t), { tag: 'multi' });
  await pushImage(multi.ref, host, 'team/app:multi');
  return { v1, v2, indexDigest: multi.manifestDigest, indexBytes: multi.manifestBytes };
}

async function conformance(t: TestContext, url: string, host: string): Promise<void> {
  const image = await populate(t, host);
  const client = clientFor(t, { name: 'peer', url });

  await t.test('HEAD resolves a tag to digest, media type and size', async () => {
    const head = await client.headManifest('team/app', 'v1');
    assert.deepEqual(head, { digest: image.v1.manifestDigest, mediaType: mediaTypes.imageManifest, size: image.v1.manifestBytes.length });
    const index = await client.headManifest('team/app', 'multi');
    assert.equal(index?.digest, image.indexDigest);
    assert.equal(index?.mediaType, mediaTypes.imageIndex);
  });

  await t.test('GET returns the exact manifest bytes, by tag and by digest', async () => {
    const byTag = await client.getManifest('team/app', 'v1');
    assert.ok(byTag.bytes.equals(image.v1.manifestBytes));
    assert.equal(byTag.digest, image.v1.manifestDigest);
    assert.equal(byTag.mediaType, mediaTypes.imageManifest);
    const byDigest = await client.getManifest('team/app', image.indexDigest);
    assert.ok(byDigest.bytes.equals(image.indexBytes));
    assert.equal(byDigest.mediaType, mediaTypes.imageIndex);
  });

  await t.test('blobs stream with the right size and digest', async () => {
    for (const descriptor of [...image.v1.layers, image.v1.config]) {
      const blob = await client.getBlob('team/app', descriptor.digest);
      assert.equal(blob.size, descriptor.size);
      assert.deepEqual(await sha256Of(blob.stream), { digest: descriptor.digest, bytes: descriptor.size });
    }
  });

  await t.test('tags are listed whole, or at most n', async () => {
    const all = await client.listTags('team/app');
    assert.deepEqual([...all].sort(), ['multi', 'v1', 'v2', 'v3']);
    const two = await client.listTags('team/app', { n: 2 });
    assert.equal(two.length, 2);
    assert.ok(two.every((tag) => all.includes(tag)));
  });

  await t.test('missing things are "not found" and leave health alone', async () => {
    assert.equal(await client.headManifest('team/app', 'nope'), undefined);
    assert.equal(await client.headManifest('team/ghost', 'v1'), undefined);
    await assert.rejects(client.getManifest('team/app', 'nope'), UpstreamNotFoundError);
    await assert.rejects(client.getBlob('team/app', `sha256:${'0'.repeat(64)}`), (error: unknown) => {
      assert.ok(error instanceof UpstreamNotFoundError);
      assert.equal(error.upstream, 'peer');
      return true;
    });
    await assert.rejects(client.listTags('team/ghost'), UpstreamNotFoundError);
    assert.deepEqual(client.health.state(), { online: true, consecutiveFailures: 0 });
  });

  await t.test('ping answers', async () => {
    await client.ping();
  });
}

test('against docker-registry (distribution 2.8)', { skip: toolSkipReason('docker-registry', 'skopeo') }, async (t) => {
  requireTools('docker-registry', 'skopeo');
  const registry = await startDistribution({ logLevel: 'warn', accessLog: false });
  t.after(() => registry.stop());
  await conformance(t, registry.url, registry.host);
});

test('against another Berth', { skip: toolSkipReason('skopeo') }, async (t) => {
  requireTools('skopeo');
  const berth = await startRegistry(t);
  await conformance(t, berth.url, new URL(berth.url).host);
});

test('Docker Hub upstreams get library/ for single-component names', { skip: toolSkipReason('docker-registry', 'skopeo') }, async (t) => {
  requireTools('docker-registry', 'skopeo');
  const registry = await startDistribution({ logLevel: 'warn', accessLog: false });
  t.after(() => registry.stop());
  const image = await createImageLayout(await makeTempDir(t), { tag: '7', layers: [{ bytes: 1000 }] });
  await pushImage(image.ref, registry.host, 'library/redis:7');
  const hub = clientFor(t, { name: 'hub', url: registry.url, aliases: ['docker.io'] });
  assert.equal((await hub.headManifest('redis', '7'))?.digest, image.manifestDigest);
  assert.deepEqual(await hub.listTags('redis'), ['7']);
  // Without the alias, `redis` is just a repository that does not exist there.
  const plain = clientFor(t, { name: 'plain', url: registry.url });
  assert.equal(await plain.headManifest('redis', '7'), undefined);
});
