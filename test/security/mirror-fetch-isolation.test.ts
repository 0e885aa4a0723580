import assert from 'node:assert/strict';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { startDistribution } from '../support/distribution.js';
import { blobGets, startFaultProxy } from '../support/fault-proxy.js';
import { jsonBytes, mediaTypes, sha256 } from '../support/oci-client.js';
import { createImageLayout } from '../support/oci-layout.js';
import { makeTempDir } from '../support/temp-dir.js';
import { requireTools, toolSkipReason } from '../support/tools.js';
import { pushImage, startFront } from '../mirror/fixtures.js';
import { berthCliOk, blobOutcome, errorCodes, eventually, hashGet, httpGet, startMirror, waitForCachedBlob } from '../e2e/mirror-fixture.js';

/**
 * Issue 8, row 4: mirror fetches are shared per (upstream, digest), never across upstreams, and a blob is
 * linked into a repository only once that repository's own upstream vouched for it. Two real upstreams
 * (docker-registry): a private one with credentials and a public one; a third, hostile upstream whose manifest
 * lists the private blob. Berth runs with its defaults (token auth). The private blob's transfer is slowed at the
 * socket level so the anonymous request is sure to arrive while it is under way.
 */

const tools = ['docker-registry', 'skopeo'] as const;
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

async function exists(path: string): Promise<boolean> {
  return access(path).then(() => true, () => false);
}

test('a private upstream\'s blob never reaches a public namespace, not while it is fetched nor after', { skip: toolSkipReason(...tools), timeout: 120_000 }, async (t) => {
  requireTools(...tools);
  const credentials = { username: 'mirror', password: 'Upstream-pa55word' };
  const privateDist = await startDistribution({ logLevel: 'warn', auth: credentials });
  t.after(() => privateDist.stop());
  const publicDist = await startDistribution({ logLevel: 'warn' });
  t.after(() => publicDist.stop());
  const secret = await createImageLayout(await makeTempDir(t), { tag: '1', layers: [{ bytes: 4 * 1024 * 1024, compress: false }] });
  await pushImage(secret.ref, privateDist.host, 'team/secret:1', credentials);
  const layer = secret.layers[0];
  assert.ok(layer);

  // The private upstream's blob bodies come through at about 1 MiB/s.
  const slowPrivate = await startFaultProxy(t, privateDist.url, blobGets({ kind: 'trickle', afterBodyBytes: 0, intervalMs: 50, bytes: 64 * 1024 }, layer.digest));
  // A hostile upstream: its manifest lists the private layer (a digest is no secret), it has none of the bytes.
  const config = jsonBytes({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } });
  const hostileManifest = jsonBytes({
    schemaVersion: 2,
    mediaType: mediaTypes.ociManifest,
    config: { mediaType: mediaTypes.ociConfig, digest: sha256(config), size: config.length },
    layers: [{ mediaType: mediaTypes.ociLayer, digest: layer.digest, size: layer.size }],
  });
  const hostile = await startFront(t, {
    handle: (req, res) => {
      const path = req.url ?? '';
      if (path === '/v2/' || path === '/v2') res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      else if (path.startsWith('/v2/team/secret/manifests/')) {
        res.writeHead(200, { 'content-type': mediaTypes.ociManifest, 'docker-content-digest': sha256(hostileManifest), 'content-length': String(hostileManifest.length) });
        res.end(req.method === 'HEAD' ? undefined : hostileManifest);
      } else if (path.endsWith(`/blobs/${sha256(config)}`)) res.writeHead(200, { 'content-length': String(config.length) }).end(config);
      else res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown"}]}');
      return true;
    },
  });

  let token = '';
  const mirror = await startMirror(t, {
    auth: 'token',
    upstreams: [
      { name: 'priv', url: slowPrivate.url, flags: ['--username', credentials.username, '--password-stdin'], password: `${credentials.password}\n` },
      { name: 'pub', url: publicDist.url },
      { name: 'odd', url: hostile.url },
    ],
    prepare: async (dataDir) => {
      // Stated here rather than left to the defaults, which are not this test's subject.
      await berthCliOk(['namespace', 'set', 'priv', '--anonymous-pull=false', '--data', dataDir]);
      await berthCliOk(['namespace', 'set', 'pub', '--anonymous-pull=true', '--data', dataDir]);
      await berthCliOk(['namespace', 'set', 'odd', '--anonymous-pull=true', '--data', dataDir]);
      const out = await berthCliOk(['token', 'create', '--name', 'reader', '--scope', 'priv/*:pull', '--data', dataDir]);
      token = out.trimEnd().split('\n').at(-1) ?? '';
    },
  });
  const authorised = { Authorization: basic('reader', token) };
  const blobUrl = (namespace: string) => `${mirror.url}/v2/${namespace}/team/secret/blobs/${layer.digest}`;
  const publicLink = join(mirror.dataDir, 'repositories', 'pub', 'team', 'secret', '_layers', 'sha256', layer.digest.slice(7), 'link');

  assert.equal((await httpGet(`${mirror.url}/v2/priv/team/secret/manifests/1`, authorised)).status, 200);
  assert.equal((await hashGet(blobUrl('priv'))).status, 401, 'anonymous callers cannot read the private namespace');

  await t.test('while an authorised user pulls the private blob, an anonymous request under a public namespace does not get it', async () => {
    const pulling = hashGet(blobUrl('priv'), authorised);
    await eventually('the private transfer is under way', () => slowPrivate.requests.some((seen) => seen.fault === 'trickle'), 10_000);
    const anonymous = await blobOutcome(blobUrl('pub'));
    assert.match(anonymous, /^completed: status 404/, anonymous);
    const answer = await httpGet(blobUrl('pub'));
    assert.deepEqual([answer.status, errorCodes(answer)], [404, ['BLOB_UNKNOWN']]);
    assert.deepEqual(await pulling, { status: 200, digest: layer.digest, bytes: layer.size }, 'the authorised pull is whole');
    assert.ok(
      publicDist.requests().some((entry) => entry.method === 'GET' && entry.path === `/v2/team/secret/blobs/${layer.digest}` && entry.status === 404),
      'the public upstream was asked for its own blob, and said it has none',
    );
  });

  await t.test('once the private blob is stored, the public namespace still cannot read it', async () => {
    await waitForCachedBlob(mirror.dataDir, layer.digest);
    const answer = await httpGet(blobUrl('pub'));
    assert.deepEqual([answer.status, errorCodes(answer)], [404, ['BLOB_UNKNOWN']]);
    assert.equal(await exists(publicLink), false, 'no link to the private blob in the public namespace');
  });

  await t.test('a hostile upstream whose manifest lists the private blob gets no link to the stored copy', async () => {
    const manifest = await httpGet(`${mirror.url}/v2/odd/team/secret/manifests/1`);
    assert.equal(manifest.status, 200);
    const answer = await httpGet(blobUrl('odd'));
    assert.deepEqual([answer.status, errorCodes(answer)], [404, ['BLOB_UNKNOWN']]);
    assert.ok(hostile.requests.some((seen) => seen.path.endsWith(`/blobs/${layer.digest}`)), 'its own upstream was asked, and has none');
    assert.equal(await exists(join(mirror.dataDir, 'repositories', 'odd', 'team', 'secret', '_layers', 'sha256', layer.digest.slice(7), 'link')), false);
  });
});
