import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { startDistribution } from '../support/distribution.js';
import { createImageLayout, createIndexLayout } from '../support/oci-layout.js';
import { createIsolatedPodman } from '../support/podman.js';
import { makeTempDir } from '../support/temp-dir.js';
import { requireTools, toolSkipReason } from '../support/tools.js';
import { pushImage } from '../mirror/fixtures.js';
import { skopeoCopy, skopeoCopyResult, skopeoInspect, skopeoInspectRaw } from './skopeo.js';
import { berthCliOk, errorCodes, eventually, hashGet, httpGet, startMirror, upstreamGets, waitForCachedBlob } from './mirror-fixture.js';

/**
 * Pull-through from Debian's docker-registry (plain HTTP on loopback) with real clients: the three routing
 * styles, byte-exact manifests, one platform of an index, single-flight blob fetches under concurrent cold
 * pulls, read-only mirrored namespaces, and stale answers once the upstream is gone.
 */

const tools = ['docker-registry', 'skopeo', 'podman'] as const;

test('pull-through mirror of docker-registry', { skip: toolSkipReason(...tools), timeout: 150_000 }, async (t) => {
  requireTools(...tools);
  const dist = await startDistribution({ logLevel: 'warn' });
  t.after(() => dist.stop());
  const layouts = await makeTempDir(t, 'berth-mirror-images-');
  const app = await createImageLayout(join(layouts, 'app'), { tag: '1', layers: [{ bytes: 150_000, files: 3 }, { bytes: 40_000 }] });
  const multi = await createIndexLayout(join(layouts, 'multi'), { tag: '1' });
  const big = await createImageLayout(join(layouts, 'big'), { tag: '1', layers: [{ bytes: 16 * 1024 * 1024, compress: false }, { bytes: 8 * 1024 * 1024, compress: false }] });
  const routed = await createImageLayout(join(layouts, 'routed'), { tag: '1', layers: [{ bytes: 10_000 }] });
  await Promise.all([
    pushImage(app.ref, dist.host, 'library/app:1'),
    pushImage(multi.ref, dist.host, 'library/multi:1'),
    pushImage(big.ref, dist.host, 'library/big:1'),
    pushImage(routed.ref, dist.host, 'library/routed:1'),
    pushImage(routed.ref, dist.host, 'team/app:upstream-only'),
    pushImage(routed.ref, dist.host, 'fresh/app:1'),
  ]);

  // Aliased docker.io, so it also answers containerd's ?ns=docker.io and adds library/ to one-part names.
  const mirror = await startMirror(t, {
    upstreams: [{ name: 'up', url: dist.url, flags: ['--default', '--alias', 'docker.io', '--tag-ttl', '0'] }],
    prepare: async (dataDir) => {
      await berthCliOk(['namespace', 'create', 'team', '--data', dataDir]);
    },
  });
  const ref = (repoTag: string) => `docker://${mirror.host}/${repoTag}`;
  const out = await makeTempDir(t, 'berth-mirror-out-');

  await t.test('an image pulls through by path prefix, byte-exact, and its blobs land in the cache', async () => {
    assert.ok((await skopeoInspectRaw(ref('up/library/app:1'))).equals(app.manifestBytes), 'manifest bytes as the upstream has them');
    await skopeoCopy(ref('up/library/app:1'), `oci:${join(out, 'app')}:1`);
    for (const blob of [...app.layers, app.config]) await waitForCachedBlob(mirror.dataDir, blob.digest);
    // By digest too, and the cache answers without asking the upstream for blobs again.
    const before = upstreamGets(dist.requests(), `/v2/library/app/blobs/${app.layers[0]?.digest}`);
    await skopeoCopy(ref(`up/library/app@${app.manifestDigest}`), `oci:${join(out, 'app-again')}:1`);
    assert.equal(upstreamGets(dist.requests(), `/v2/library/app/blobs/${app.layers[0]?.digest}`), before);
  });

  await t.test('a multi-arch index pulls whole, and one platform pulls alone', async () => {
    assert.ok((await skopeoInspectRaw(ref('up/library/multi:1'))).equals(multi.manifestBytes));
    await skopeoCopy(ref('up/library/multi:1'), `oci:${join(out, 'multi')}:1`, ['--all']);
    const arm = multi.images.find((image) => image.platform.architecture === 'arm64');
    assert.ok(arm);
    const summary = await skopeoInspect(ref('up/library/multi:1'), ['--override-arch', 'arm64']);
    // skopeo reports the index's digest here, and the chosen platform's architecture and layers.
    assert.equal(summary.Architecture, 'arm64');
    assert.deepEqual(summary.Layers, arm.layers.map((layer) => layer.digest));
    await skopeoCopy(ref('up/library/multi:1'), `oci:${join(out, 'multi-arm')}:1`, ['--override-arch', 'arm64']);
    const armDir = await readdir(join(out, 'multi-arm', 'blobs', 'sha256'));
    assert.ok(armDir.includes(arm.layers[0]?.digest.slice(7) ?? '-'), 'the arm64 layer was pulled');
    const amd = multi.images.find((image) => image.platform.architecture === 'amd64');
    assert.ok(!armDir.includes(amd?.layers[0]?.digest.slice(7) ?? '-'), 'the amd64 layer was not');
  });

  await t.test('podman pulls through Berth (isolated store)', async () => {
    const podman = await createIsolatedPodman(t);
    await podman.runOk(['pull', '--tls-verify=false', `${mirror.host}/up/library/app:1`]);
    const inspect = await podman.runOk(['image', 'inspect', '--format', '{{.Digest}}', `${mirror.host}/up/library/app:1`]);
    assert.equal(inspect.stdout.trim(), app.manifestDigest);
  });

  await t.test('4 concurrent cold pulls of a 24 MiB image fetch each blob from the upstream once', async () => {
    // Raw GETs all in flight before the first byte arrives, then real clients racing for the other blobs.
    const first = big.layers[0];
    assert.ok(first);
    const raw = await Promise.all(Array.from({ length: 4 }, () => hashGet(`${mirror.url}/v2/up/library/big/blobs/${first.digest}`)));
    for (const answer of raw) assert.deepEqual(answer, { status: 200, digest: first.digest, bytes: first.size });
    const pulls = Array.from({ length: 4 }, (_, i) => skopeoCopy(ref('up/library/big:1'), `oci:${join(out, `big-${i}`)}:1`));
    await Promise.all(pulls);
    for (const blob of [...big.layers, big.config]) {
      const gets = upstreamGets(dist.requests(), `/v2/library/big/blobs/${blob.digest}`);
      assert.equal(gets, 1, `${blob.digest} (${blob.size} bytes) fetched ${gets} times`);
      await waitForCachedBlob(mirror.dataDir, blob.digest);
    }
  });

  await t.test("containerd's ?ns= and Docker's registry-mirrors route to the upstream; a local namespace does not", async () => {
    const byNs = await httpGet(`${mirror.url}/v2/library/routed/manifests/1?ns=docker.io`);
    assert.equal(byNs.status, 200, byNs.body.toString());
    assert.ok(byNs.body.equals(routed.manifestBytes));
    assert.equal(byNs.headers.get('docker-content-digest'), routed.manifestDigest);
    // Root mode, one-part name: Docker Hub's library/ is added, and the default upstream answers.
    const root = await httpGet(`${mirror.url}/v2/routed/manifests/1`);
    assert.equal(root.status, 200, root.body.toString());
    assert.ok(root.body.equals(routed.manifestBytes));
    const blob = await httpGet(`${mirror.url}/v2/library/routed/blobs/${routed.config.digest}`);
    assert.equal(blob.status, 200);
    // Both are stored locally under the upstream's namespace.
    assert.deepEqual(await readdir(join(mirror.dataDir, 'repositories', 'up', 'library', 'routed', '_manifests', 'tags')), ['1']);

    // team is a local namespace: pushes and pulls stay in Berth, even for tags only the upstream has.
    const seen = dist.requests().length;
    await skopeoCopy(app.ref, ref('team/app:1'));
    const local = await httpGet(`${mirror.url}/v2/team/app/manifests/1`);
    assert.equal(local.status, 200);
    assert.ok(local.body.equals(app.manifestBytes));
    const missing = await httpGet(`${mirror.url}/v2/team/app/manifests/upstream-only`);
    assert.equal(missing.status, 404);
    assert.deepEqual(errorCodes(missing), ['MANIFEST_UNKNOWN']);
    const leaked = dist.requests().slice(seen).filter((entry) => entry.path.includes('/team/'));
    assert.deepEqual(leaked.map((e) => `${e.method} ${e.path}`), [], 'local names never reach the upstream');
  });

  await t.test('the first push into a new namespace asks the default upstream nothing', async () => {
    const seen = dist.requests().length;
    await skopeoCopy(app.ref, ref('fresh/app:1'));
    const leaked = dist.requests().slice(seen).filter((entry) => entry.path.includes('/fresh/'));
    assert.deepEqual(leaked.map((e) => `${e.method} ${e.path}`), []);
  });

  await t.test('images kept after "berth namespace delete" are not shadowed by the default upstream', async () => {
    await eventually('namespace fresh recorded', async () => (await berthCliOk(['namespace', 'list', '--data', mirror.dataDir])).includes('fresh'));
    await berthCliOk(['namespace', 'delete', 'fresh', '--data', mirror.dataDir]);
    await new Promise((resolve) => setTimeout(resolve, 400)); // the server re-reads state.json within 200 ms
    const answer = await httpGet(`${mirror.url}/v2/fresh/app/manifests/1`);
    assert.equal(answer.headers.get('docker-content-digest'), app.manifestDigest, 'the local image, not the upstream fresh/app:1');
  });

  await t.test('pushes into the mirrored namespace are refused with 403 DENIED', async () => {
    const start = await fetch(`${mirror.url}/v2/up/library/pushed/blobs/uploads/`, { method: 'POST' });
    assert.equal(start.status, 403);
    assert.deepEqual(errorCodes({ status: start.status, headers: start.headers, body: Buffer.from(await start.arrayBuffer()) }), ['DENIED']);
    const push = await skopeoCopyResult(routed.ref, ref('up/library/pushed:1'));
    assert.notEqual(push.code, 0);
    assert.match(push.stderr, /denied|403/i);
  });

  await t.test('with the upstream gone, pulled tags and digests still pull (stale); others fail as UNAVAILABLE', async () => {
    await dist.stop();
    await skopeoCopy(ref('up/library/app:1'), `oci:${join(out, 'stale-app')}:1`);
    await skopeoCopy(ref(`up/library/app@${app.manifestDigest}`), `oci:${join(out, 'stale-app-digest')}:1`);
    await skopeoCopy(ref('up/library/multi:1'), `oci:${join(out, 'stale-multi')}:1`, ['--all']);
    const stale = await mirror.berth.waitForLog((line) => typeof line.msg === 'string' && line.msg.includes('serving the cached manifest'));
    assert.equal(stale.upstream, 'up');
    assert.equal(stale.repository, 'up/library/app');

    const never = await httpGet(`${mirror.url}/v2/up/library/never-pulled/manifests/1`);
    assert.equal(never.status, 503, never.body.toString());
    assert.deepEqual(errorCodes(never), ['UNAVAILABLE']);
    const body = JSON.parse(never.body.toString()) as { errors: Array<{ message: string; detail?: { upstream?: string } }> };
    assert.match(body.errors[0]?.message ?? '', /^upstream up: /, 'the message names the upstream');
    assert.equal(body.errors[0]?.detail?.upstream, 'up');
    const neverDigest = await httpGet(`${mirror.url}/v2/up/library/app/manifests/sha256:${'0'.repeat(64)}`);
    assert.notDeepEqual(errorCodes(neverDigest), ['MANIFEST_UNKNOWN'], 'a digest the cache lacks is not "unknown" while the upstream is down');
    const failed = await skopeoCopyResult(ref('up/library/never-pulled:1'), `oci:${join(out, 'never')}:1`);
    assert.notEqual(failed.code, 0);
    assert.doesNotMatch(failed.stderr, /manifest unknown/i);
  });
});
