import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type {
  AdminEvent,
  DeleteManifestResponse,
  ManifestDetail,
  OverviewResponse,
  RepositoriesResponse,
  StorageResponse,
  TagsResponse,
} from '../../registry/admin/contract.js';
import { jsonBytes, makeArtifact, makeImage, mediaTypes, pushBlob, pushManifest, request, sha256, uniqueRepo } from '../support/oci-client.js';
import { assertAdminError, startAdminServer, type AdminServer } from './admin-fixture.js';

let admin: AdminServer;
before(async () => {
  admin = await startAdminServer();
});
after(() => admin.close());

const q = (value: string) => encodeURIComponent(value);

/** A config with the fields `docker inspect` shows, pushed as a blob; returns its descriptor. */
async function pushConfig(repo: string, arch: string, extra: Record<string, unknown> = {}) {
  const config = {
    created: '2030-01-02T03:04:05Z',
    architecture: arch,
    os: 'linux',
    config: { Env: ['PATH=/usr/bin', 'MODE=test'], Cmd: ['serve'], Entrypoint: ['/app'], Labels: { 'org.opencontainers.image.title': 'app' } },
    rootfs: { type: 'layers', diff_ids: [] },
    ...extra,
  };
  const blob = await pushBlob(admin.url, repo, jsonBytes(config));
  return { mediaType: mediaTypes.ociConfig, digest: blob.digest, size: blob.size };
}

async function pushImage(repo: string, tag: string, arch = 'amd64') {
  const config = await pushConfig(repo, arch);
  const layer = await pushBlob(admin.url, repo, Buffer.from(`layer-${arch}-${Math.random()}`));
  const manifest = { schemaVersion: 2, mediaType: mediaTypes.ociManifest, config, layers: [{ mediaType: mediaTypes.ociLayer, digest: layer.digest, size: layer.size }] };
  const pushed = await pushManifest(admin.url, repo, tag, manifest);
  return { ...pushed, config, layer, size: pushed.bytes.length + config.size + layer.size };
}

/** Opens `/api/events`; `waitFor` reads frames until one matches, or fails after `timeoutMs`. */
async function openEvents(server: AdminServer) {
  const controller = new AbortController();
  const response = await fetch(`${server.url}/api/events`, { headers: { cookie: server.cookie }, signal: controller.signal });
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/);
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  const events: AdminEvent[] = [];
  let pending: ReturnType<typeof reader.read> | undefined;
  async function waitFor(want: (event: AdminEvent) => boolean, timeoutMs = 5_000): Promise<AdminEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = events.find(want);
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0) assert.fail(`no matching event within ${timeoutMs} ms; got ${JSON.stringify(events).slice(0, 500)}`);
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(resolve, left, 'timeout')));
      // One read in flight at a time: a read abandoned on timeout would swallow the next chunk.
      pending ??= reader.read();
      const chunk = await Promise.race([pending, timeout]);
      clearTimeout(timer);
      if (chunk === 'timeout') continue;
      pending = undefined;
      if (chunk.done) assert.fail('the event stream ended');
      buffer += decoder.decode(chunk.value, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) !== -1) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = frame.split('\n').filter((line) => line.startsWith('data: ')).map((line) => line.slice(6)).join('\n');
        if (data) events.push(JSON.parse(data) as AdminEvent);
      }
    }
  }
  return { waitFor, close: () => controller.abort() };
}

describe('repositories, tags and manifests', () => {
  it('lists repositories with tag counts, filtered by namespace and text', async () => {
    const first = await pushImage('shop/web', '1.0');
    const pushedAfter = Date.now();
    const second = await pushImage('shop/web', '1.1');
    await pushImage('ops/tools/cli', 'latest');
    const all = await admin.api<RepositoriesResponse>('GET', '/api/repositories');
    assert.equal(all.status, 200);
    const web = all.body.repositories.find((r) => r.name === 'shop/web');
    // Size: both manifests and layers, the config they share once.
    assert.equal(first.config.digest, second.config.digest);
    assert.deepEqual({ ...web, lastPushedAt: undefined }, { name: 'shop/web', namespace: 'shop', tagCount: 2, source: 'pushed', size: first.size + second.size - second.config.size, lastPushedAt: undefined, pullsLast7Days: 0, pullCount: 0 });
    // The newest push is the second image's tag (not the first's).
    assert.ok(Date.parse(web?.lastPushedAt ?? '') >= pushedAfter - 1000 && Date.parse(web?.lastPushedAt ?? '') <= Date.now(), `last push ${web?.lastPushedAt}`);
    const ops = await admin.api<RepositoriesResponse>('GET', '/api/repositories?namespace=ops');
    assert.deepEqual(ops.body.repositories.map((r) => r.name), ['ops/tools/cli']);
    const search = await admin.api<RepositoriesResponse>('GET', '/api/repositories?q=WEB');
    assert.deepEqual(search.body.repositories.map((r) => r.name), ['shop/web']);
  });

  it('lists tags with digest, full size, platform and creation time', async () => {
    const repo = uniqueRepo('tags');
    const pushedFrom = Date.now();
    const image = await pushImage(repo, 'v1', 'arm64');
    const tags = await admin.api<TagsResponse>('GET', `/api/tags?repository=${q(repo)}`);
    assert.equal(tags.status, 200);
    const pushedAt = tags.body.tags[0]?.pushedAt;
    assert.ok(pushedAt && Date.parse(pushedAt) >= pushedFrom - 1000, `push time ${pushedAt}`);
    assert.deepEqual(tags.body, {
      repository: repo,
      total: 1,
      tags: [
        { tag: 'v1', digest: image.digest, mediaType: mediaTypes.ociManifest, size: image.size, platforms: ['linux/arm64'], createdAt: '2030-01-02T03:04:05Z', pushedAt, pullCount: 0 },
      ],
    });
    assertAdminError(await admin.api('GET', '/api/tags?repository=nobody/here'), 404, 'BERTH_REPOSITORY_NOT_FOUND');
    assertAdminError(await admin.api('GET', '/api/tags'), 400, 'BERTH_VALIDATION');
    assertAdminError(await admin.api('GET', '/api/tags?repository=Bad..Name'), 400, 'BERTH_VALIDATION');
  });

  it('pages tags with n and last (the next of the previous page), with the total', async () => {
    const repo = uniqueRepo('paged');
    const image = await pushImage(repo, 'b');
    for (const tag of ['a', 'c', 'd', 'e']) await pushManifest(admin.url, repo, tag, image.bytes, image.mediaType);
    const page = async (query: string) => {
      const response = await admin.api<TagsResponse>('GET', `/api/tags?repository=${q(repo)}${query}`);
      assert.equal(response.status, 200, query);
      return { names: response.body.tags.map((tag) => tag.tag), next: response.body.next, total: response.body.total };
    };
    assert.deepEqual(await page('&sort=name&n=2'), { names: ['a', 'b'], next: 'b', total: 5 });
    assert.deepEqual(await page('&sort=name&n=2&last=b'), { names: ['c', 'd'], next: 'd', total: 5 });
    assert.deepEqual(await page('&sort=name&n=2&last=d'), { names: ['e'], next: undefined, total: 5 });
    assert.deepEqual(await page('&sort=name'), { names: ['a', 'b', 'c', 'd', 'e'], next: undefined, total: 5 });
    for (const bad of ['&n=0', '&n=1001', '&n=x', '&sort=random']) {
      assertAdminError(await admin.api('GET', `/api/tags?repository=${q(repo)}${bad}`), 400, 'BERTH_VALIDATION');
    }
  });

  it('shows manifest detail: layers, parsed config, tags and referrers', async () => {
    const repo = uniqueRepo('detail');
    const image = await pushImage(repo, 'stable');
    await pushManifest(admin.url, repo, 'also', image.bytes, image.mediaType);
    const signature = await makeArtifact(admin.url, repo, { artifactType: 'application/vnd.test.signature', subject: { mediaType: image.mediaType, digest: image.digest, size: image.bytes.length } });
    const detail = await admin.api<ManifestDetail>('GET', `/api/manifests?repository=${q(repo)}&reference=stable`);
    assert.equal(detail.status, 200);
    const body = detail.body;
    assert.equal(body.digest, image.digest);
    assert.equal(body.isIndex, false);
    assert.equal(body.manifestSize, image.bytes.length);
    assert.equal(body.size, image.size);
    assert.deepEqual(body.tags, ['also', 'stable']);
    assert.deepEqual(body.layers, [{ mediaType: mediaTypes.ociLayer, digest: image.layer.digest, size: image.layer.size }]);
    assert.deepEqual(body.configDescriptor, image.config);
    assert.equal(body.config?.os, 'linux');
    assert.equal(body.config?.architecture, 'amd64');
    assert.deepEqual(body.config?.env, ['PATH=/usr/bin', 'MODE=test']);
    assert.deepEqual(body.config?.cmd, ['serve']);
    assert.deepEqual(body.config?.entrypoint, ['/app']);
    assert.deepEqual(body.config?.labels, { 'org.opencontainers.image.title': 'app' });
    assert.deepEqual(body.referrers.map((r) => [r.digest, r.artifactType]), [[signature.digest, 'application/vnd.test.signature']]);
    const byDigest = await admin.api<ManifestDetail>('GET', `/api/manifests?repository=${q(repo)}&reference=${q(image.digest)}`);
    assert.equal(byDigest.body.digest, image.digest);
    assertAdminError(await admin.api('GET', `/api/manifests?repository=${q(repo)}&reference=nope`), 404, 'BERTH_MANIFEST_NOT_FOUND');
  });

  it('describes a multi-platform index: platforms, children, size counted once per blob', async () => {
    const repo = uniqueRepo('multi');
    const amd = await pushImage(repo, 'amd', 'amd64');
    const arm = await pushImage(repo, 'arm', 'arm64');
    const index = {
      schemaVersion: 2,
      mediaType: mediaTypes.ociIndex,
      manifests: [
        { mediaType: amd.mediaType, digest: amd.digest, size: amd.bytes.length, platform: { os: 'linux', architecture: 'amd64' } },
        { mediaType: arm.mediaType, digest: arm.digest, size: arm.bytes.length, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
      ],
    };
    const pushed = await pushManifest(admin.url, repo, 'multi', index);
    const tags = await admin.api<TagsResponse>('GET', `/api/tags?repository=${q(repo)}`);
    const multi = tags.body.tags.find((t) => t.tag === 'multi');
    assert.ok(multi);
    assert.deepEqual(multi.platforms, ['linux/amd64', 'linux/arm64/v8']);
    assert.equal(multi.size, pushed.bytes.length + amd.size + arm.size);
    assert.equal(multi.createdAt, '2030-01-02T03:04:05Z');
    const detail = await admin.api<ManifestDetail>('GET', `/api/manifests?repository=${q(repo)}&reference=multi`);
    assert.equal(detail.body.isIndex, true);
    assert.deepEqual(detail.body.children.map((c) => [c.digest, c.platform, c.present]), [
      [amd.digest, 'linux/amd64', true],
      [arm.digest, 'linux/arm64/v8', true],
    ]);
    assert.deepEqual(detail.body.layers, []);
  });

  it('deletes a tag (the manifest stays) and a manifest by digest (gone over /v2)', async () => {
    const repo = uniqueRepo('delete');
    const image = await makeImage(admin.url, repo, { tag: 'a' });
    await pushManifest(admin.url, repo, 'b', image.bytes, image.mediaType);
    const accept = { accept: mediaTypes.ociManifest };

    const tagDeleted = await admin.api<DeleteManifestResponse>('DELETE', `/api/manifests?repository=${q(repo)}&reference=a`);
    assert.equal(tagDeleted.status, 200);
    const { trashEntry, expiresAt, ...what } = tagDeleted.body;
    assert.deepEqual(what, { deleted: 'tag', repository: repo, reference: 'a' });
    assert.match(trashEntry, /^[0-9a-f]{16}$/, 'restorable from the trash');
    assert.ok(Date.parse(expiresAt) > Date.now());
    assert.equal((await request('GET', `${admin.url}/v2/${repo}/manifests/a`, { headers: accept })).status, 404);
    assert.equal((await request('GET', `${admin.url}/v2/${repo}/manifests/b`, { headers: accept })).status, 200);

    const gone = await admin.api<DeleteManifestResponse>('DELETE', `/api/manifests?repository=${q(repo)}&reference=${q(image.digest)}`);
    assert.equal(gone.body.deleted, 'manifest');
    assert.equal((await request('GET', `${admin.url}/v2/${repo}/manifests/${image.digest}`, { headers: accept })).status, 404);
    assert.equal((await request('GET', `${admin.url}/v2/${repo}/manifests/b`, { headers: accept })).status, 404);
    assertAdminError(await admin.api('DELETE', `/api/manifests?repository=${q(repo)}&reference=${q(image.digest)}`), 404, 'BERTH_MANIFEST_NOT_FOUND');
    assertAdminError(await admin.api('DELETE', `/api/manifests?repository=${q(repo)}&reference=${q(sha256(Buffer.from('x')))}`), 404, 'BERTH_MANIFEST_NOT_FOUND');
  });

  it('overview and storage report what is stored and how to connect', async () => {
    const storage = await admin.api<StorageResponse>('GET', '/api/storage');
    assert.equal(storage.status, 200);
    assert.ok(storage.body.bytes > 0 && storage.body.blobs > 0 && storage.body.repositories >= 3);
    const overview = await admin.api<OverviewResponse>('GET', '/api/overview');
    assert.equal(overview.status, 200);
    const host = new URL(admin.url).host;
    assert.equal(overview.body.listeners.http, admin.url);
    assert.equal(overview.body.registryHost, host);
    assert.equal(overview.body.version, '9.9.9-test');
    assert.equal(overview.body.tls.enabled, false);
    assert.match(overview.body.setup.dockerLogin, new RegExp(`^docker login ${host} `));
    assert.match(overview.body.setup.containerdHostsToml, new RegExp(`server = "http://${host}"`));
    assert.deepEqual(JSON.parse(overview.body.setup.dockerDaemonJson), { 'registry-mirrors': [`http://${host}`] });
    assert.equal(overview.body.dataDir, admin.dataDir);
    assert.equal(overview.body.storageBackend, `filesystem ${admin.dataDir}`);
  });
});

describe('live events', () => {
  it('streams manifest.pushed when an image is pushed over /v2, and cleans up when the client leaves', async () => {
    const baseline = admin.registry.events.listenerCount('manifest.pushed');
    const stream = await openEvents(admin);
    await stream.waitFor((e) => e.type === 'hello');
    assert.equal(admin.registry.events.listenerCount('manifest.pushed'), baseline + 1);
    const repo = uniqueRepo('live');
    const image = await makeImage(admin.url, repo, { tag: 'v9' });
    const event = await stream.waitFor((e) => e.type === 'manifest.pushed' && e.repository === repo);
    assert.deepEqual(
      { ...event, time: undefined },
      { type: 'manifest.pushed', time: undefined, repository: repo, reference: 'v9', digest: image.digest, mediaType: image.mediaType, actor: 'anonymous' },
    );
    await admin.api('POST', '/api/tokens', { name: 'live-token', scopes: ['*:pull'] });
    await stream.waitFor((e) => e.type === 'token.created' && e.name === 'live-token');
    await admin.api('DELETE', `/api/manifests?repository=${q(repo)}&reference=v9`);
    await stream.waitFor((e) => e.type === 'tag.deleted' && e.repository === repo && e.tag === 'v9' && e.actor === 'admin');
    stream.close();
    const deadline = Date.now() + 2_000;
    while (admin.registry.events.listenerCount('manifest.pushed') !== baseline && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(admin.registry.events.listenerCount('manifest.pushed'), baseline, 'registry listeners removed when the stream closed');
  });

  it('an open stream does not hold a server shutdown open (quitting the app with the GUI open)', async (t) => {
    const other = await startAdminServer();
    t.after(() => other.close());
    const stream = await openEvents(other);
    t.after(() => stream.close());
    await stream.waitFor((e) => e.type === 'hello');
    const started = Date.now();
    await other.registry.close(); // default grace: 30 s for in-flight requests
    assert.ok(Date.now() - started < 3_000, `close took ${Date.now() - started} ms`);
  });
});
