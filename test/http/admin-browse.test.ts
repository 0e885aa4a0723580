import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type {
  AuditResponse,
  DeleteRepositoryResponse,
  ManifestDetail,
  RepositoriesResponse,
  TagsResponse,
  UntaggedResponse,
} from '../../registry/admin/contract.js';
import { jsonBytes, makeArtifact, mediaTypes, pushBlob, pushManifest, request, sha256, uniqueRepo } from '../support/oci-client.js';
import { assertAdminError, startAdminServer, type AdminServer } from './admin-fixture.js';

/**
 * The admin API for browsing big repositories: tag pages in natural version order, push times, layer history,
 * platform drill-down, untagged manifests, downloads, repository facts and delete-repository.
 */

let admin: AdminServer;
before(async () => {
  admin = await startAdminServer();
});
after(() => admin.close());

const q = (value: string) => encodeURIComponent(value);
const tagsOf = (body: TagsResponse) => body.tags.map((tag) => tag.tag);

/** An image whose config has a build history: two layers, with an ENV step (no layer) between them. */
async function pushBuiltImage(repo: string, tag: string | undefined, arch = 'amd64') {
  const layers = [await pushBlob(admin.url, repo, Buffer.from(`base-${arch}-${Math.random()}`)), await pushBlob(admin.url, repo, Buffer.from(`app-${arch}-${Math.random()}`))];
  const config = {
    created: '2030-01-02T03:04:05Z',
    architecture: arch,
    os: 'linux',
    config: { Cmd: ['serve'] },
    rootfs: { type: 'layers', diff_ids: layers.map((layer) => layer.digest) },
    history: [
      { created: '2030-01-01T00:00:00Z', created_by: '/bin/sh -c #(nop) ADD file:base.tar in / ' },
      { created: '2030-01-01T00:00:01Z', created_by: '/bin/sh -c #(nop)  ENV MODE=prod', empty_layer: true },
      { created: '2030-01-01T00:00:02Z', created_by: 'RUN /bin/sh -c apk add curl # buildkit', comment: 'buildkit.dockerfile.v0' },
    ],
  };
  const configBlob = await pushBlob(admin.url, repo, jsonBytes(config));
  const manifest = {
    schemaVersion: 2,
    mediaType: mediaTypes.ociManifest,
    config: { mediaType: mediaTypes.ociConfig, digest: configBlob.digest, size: configBlob.size },
    layers: layers.map((layer) => ({ mediaType: mediaTypes.ociLayer, digest: layer.digest, size: layer.size })),
  };
  const bytes = jsonBytes(manifest);
  const pushed = await pushManifest(admin.url, repo, tag ?? sha256(bytes), bytes, mediaTypes.ociManifest);
  return { ...pushed, layers, configBlob, imageSize: bytes.length + configBlob.size + layers[0]!.size + layers[1]!.size };
}

describe('tag pages', () => {
  const repo = uniqueRepo('pages');
  const names = [...Array.from({ length: 20 }, (_, i) => `t${i + 1}`), 'latest', '1.2.9', '1.2.10'];

  before(async () => {
    const image = await pushBuiltImage(repo, 'seed');
    for (const name of names) await pushManifest(admin.url, repo, name, image.bytes, image.mediaType);
    await admin.api('DELETE', `/api/manifests?repository=${q(repo)}&reference=seed`);
  });

  it('without n answers every tag, latest first, then versions newest first with digit runs as numbers', async () => {
    const all = await admin.api<TagsResponse>('GET', `/api/tags?repository=${q(repo)}`);
    assert.equal(all.status, 200);
    assert.equal(all.body.total, names.length);
    assert.equal(all.body.next, undefined);
    // The whole order: the summaries are read several at once, and each must land at its tag's place.
    const versions = Array.from({ length: 20 }, (_, i) => `t${20 - i}`);
    assert.deepEqual(tagsOf(all.body), ['latest', ...versions, '1.2.10', '1.2.9']);
  });

  it('sort=name is natural ascending (t1, t2, ... t10), and n/last walk it page by page, each tag once', async () => {
    const seen: string[] = [];
    let last: string | undefined;
    let pages = 0;
    do {
      const page = await admin.api<TagsResponse>('GET', `/api/tags?repository=${q(repo)}&sort=name&n=5${last ? `&last=${q(last)}` : ''}`);
      assert.equal(page.status, 200);
      assert.equal(page.body.total, names.length);
      assert.ok(page.body.tags.length <= 5);
      seen.push(...tagsOf(page.body));
      last = page.body.next;
      pages += 1;
    } while (last !== undefined && pages < 10);
    assert.equal(pages, 5);
    assert.deepEqual(seen, ['latest', '1.2.9', '1.2.10', ...Array.from({ length: 20 }, (_, i) => `t${i + 1}`)]);
  });

  it('filter narrows case-insensitively and total counts the matches', async () => {
    const page = await admin.api<TagsResponse>('GET', `/api/tags?repository=${q(repo)}&filter=T1&sort=name&n=3`);
    assert.equal(page.body.total, 11);
    assert.deepEqual(tagsOf(page.body), ['t1', 't10', 't11']);
    assert.equal(page.body.next, 't11');
  });

  it('a last that was deleted meanwhile continues where it would sort', async () => {
    const gone = uniqueRepo('gone');
    const image = await pushBuiltImage(gone, 'a1');
    for (const name of ['a2', 'a3', 'a4']) await pushManifest(admin.url, gone, name, image.bytes, image.mediaType);
    await admin.api('DELETE', `/api/manifests?repository=${q(gone)}&reference=a2`);
    const page = await admin.api<TagsResponse>('GET', `/api/tags?repository=${q(gone)}&sort=name&n=5&last=a2`);
    assert.deepEqual(tagsOf(page.body), ['a3', 'a4']);
  });

  it('sort=pushed puts the newest push first, after latest; each tag carries its push time', async () => {
    const timed = uniqueRepo('pushed');
    const image = await pushBuiltImage(timed, 'old');
    await pushManifest(admin.url, timed, 'v10', image.bytes, image.mediaType);
    await pushManifest(admin.url, timed, 'v2', image.bytes, image.mediaType);
    const page = await admin.api<TagsResponse>('GET', `/api/tags?repository=${q(timed)}&sort=pushed`);
    assert.deepEqual(tagsOf(page.body), ['v2', 'v10', 'old']);
    for (const tag of page.body.tags) assert.ok(tag.pushedAt && Math.abs(Date.parse(tag.pushedAt) - Date.now()) < 600_000, `push time of ${tag.tag}: ${tag.pushedAt}`);
  });

  it('refuses a bad page size or order with 400', async () => {
    assertAdminError(await admin.api('GET', `/api/tags?repository=${q(repo)}&n=0`), 400, 'BERTH_VALIDATION');
    assertAdminError(await admin.api('GET', `/api/tags?repository=${q(repo)}&n=1001`), 400, 'BERTH_VALIDATION');
    assertAdminError(await admin.api('GET', `/api/tags?repository=${q(repo)}&n=ten`), 400, 'BERTH_VALIDATION');
    assertAdminError(await admin.api('GET', `/api/tags?repository=${q(repo)}&sort=random`), 400, 'BERTH_VALIDATION');
    assertAdminError(await admin.api('GET', '/api/tags?repository=nobody/here&n=5'), 404, 'BERTH_REPOSITORY_NOT_FOUND');
  });
});

describe('image details', () => {
  it('aligns the config history with the layers, marks empty steps, and gives the push time', async () => {
    const repo = uniqueRepo('history');
    const image = await pushBuiltImage(repo, '1');
    const detail = await admin.api<ManifestDetail>('GET', `/api/manifests?repository=${q(repo)}&reference=1`);
    assert.equal(detail.status, 200);
    assert.deepEqual(detail.body.history, [
      { created: '2030-01-01T00:00:00Z', createdBy: '/bin/sh -c #(nop) ADD file:base.tar in / ', emptyLayer: false, layer: 0 },
      { created: '2030-01-01T00:00:01Z', createdBy: '/bin/sh -c #(nop)  ENV MODE=prod', emptyLayer: true },
      { created: '2030-01-01T00:00:02Z', createdBy: 'RUN /bin/sh -c apk add curl # buildkit', comment: 'buildkit.dockerfile.v0', emptyLayer: false, layer: 1 },
    ]);
    assert.equal(detail.body.layers[1]?.digest, image.layers[1]?.digest);
    assert.ok(detail.body.pushedAt && Math.abs(Date.parse(detail.body.pushedAt) - Date.now()) < 600_000);
  });

  it('gives each platform of an index its image size (config + layers), not the child manifest bytes', async () => {
    const repo = uniqueRepo('platforms');
    const amd = await pushBuiltImage(repo, undefined, 'amd64');
    const arm = await pushBuiltImage(repo, undefined, 'arm64');
    const index = {
      schemaVersion: 2,
      mediaType: mediaTypes.ociIndex,
      manifests: [
        { mediaType: amd.mediaType, digest: amd.digest, size: amd.bytes.length, platform: { os: 'linux', architecture: 'amd64' } },
        { mediaType: arm.mediaType, digest: arm.digest, size: arm.bytes.length, platform: { os: 'linux', architecture: 'arm64' } },
      ],
    };
    await pushManifest(admin.url, repo, 'multi', index);
    const detail = await admin.api<ManifestDetail>('GET', `/api/manifests?repository=${q(repo)}&reference=multi`);
    assert.deepEqual(detail.body.children.map((child) => [child.platform, child.size, child.imageSize]), [
      ['linux/amd64', amd.bytes.length, amd.imageSize],
      ['linux/arm64', arm.bytes.length, arm.imageSize],
    ]);
    assert.deepEqual(detail.body.history, []);
    const child = await admin.api<ManifestDetail>('GET', `/api/manifests?repository=${q(repo)}&reference=${q(amd.digest)}`);
    assert.equal(child.body.size, amd.imageSize);
    assert.equal(child.body.history.length, 3);
  });

  it('lists untagged manifests with what they are: platforms of an index, referrers, strays; tagged ones not', async () => {
    const repo = uniqueRepo('untagged');
    const tagged = await pushBuiltImage(repo, 'v1');
    const child = await pushBuiltImage(repo, undefined);
    await pushManifest(admin.url, repo, 'multi', {
      schemaVersion: 2,
      mediaType: mediaTypes.ociIndex,
      manifests: [{ mediaType: child.mediaType, digest: child.digest, size: child.bytes.length, platform: { os: 'linux', architecture: 'amd64' } }],
    });
    const stray = await pushBuiltImage(repo, undefined, 'arm64');
    const sbom = await makeArtifact(admin.url, repo, { artifactType: 'application/spdx+json', subject: { mediaType: tagged.mediaType, digest: tagged.digest, size: tagged.bytes.length } });
    const untagged = await admin.api<UntaggedResponse>('GET', `/api/untagged?repository=${q(repo)}`);
    assert.equal(untagged.status, 200);
    const byDigest = new Map(untagged.body.manifests.map((entry) => [entry.digest, entry]));
    assert.equal(byDigest.size, 3, JSON.stringify(untagged.body));
    assert.equal(byDigest.get(child.digest)?.role, 'platform');
    assert.equal(byDigest.get(stray.digest)?.role, 'untagged');
    assert.deepEqual(byDigest.get(stray.digest)?.platforms, ['linux/arm64']);
    assert.equal(byDigest.get(stray.digest)?.size, stray.imageSize);
    assert.equal(byDigest.get(sbom.digest)?.role, 'referrer');
    assert.equal(byDigest.get(sbom.digest)?.artifactType, 'application/spdx+json');
    assert.equal(byDigest.get(sbom.digest)?.subject, tagged.digest);
    assert.ok(byDigest.get(sbom.digest)?.pushedAt);
    assertAdminError(await admin.api('GET', '/api/untagged?repository=nobody/here'), 404, 'BERTH_REPOSITORY_NOT_FOUND');
  });
});

describe('downloads', () => {
  it('sends a referrer manifest byte-exact as an attachment with its media type', async () => {
    const repo = uniqueRepo('download');
    const image = await pushBuiltImage(repo, '1');
    const signature = await makeArtifact(admin.url, repo, { artifactType: 'application/vnd.dev.cosign.artifact.sig.v1+json', subject: { mediaType: image.mediaType, digest: image.digest, size: image.bytes.length } });
    const response = await fetch(`${admin.url}/api/content?repository=${q(repo)}&digest=${q(signature.digest)}`, { headers: { cookie: admin.cookie } });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), mediaTypes.ociManifest);
    const hex = signature.digest.slice('sha256:'.length, 'sha256:'.length + 12);
    assert.equal(response.headers.get('content-disposition'), `attachment; filename="${repo.split('/').pop()}-${hex}.json"`);
    assert.equal(response.headers.get('x-content-type-options'), 'nosniff');
    assert.match(response.headers.get('content-security-policy') ?? '', /sandbox/);
    assert.deepEqual(Buffer.from(await response.arrayBuffer()), signature.bytes);
  });

  it('sends a blob only through a manifest of the repository that references it, named by its title', async () => {
    const repo = uniqueRepo('blob');
    const image = await pushBuiltImage(repo, '1');
    const sbomBytes = jsonBytes({ spdxVersion: 'SPDX-2.3', name: 'app' });
    const sbomBlob = await pushBlob(admin.url, repo, sbomBytes);
    const empty = await pushBlob(admin.url, repo, Buffer.from('{}'));
    const artifact = {
      schemaVersion: 2,
      mediaType: mediaTypes.ociManifest,
      artifactType: 'application/spdx+json',
      config: { mediaType: mediaTypes.ociEmpty, digest: empty.digest, size: empty.size },
      layers: [{ mediaType: 'application/spdx+json', digest: sbomBlob.digest, size: sbomBlob.size, annotations: { 'org.opencontainers.image.title': '../sbom "app".spdx.json' } }],
      subject: { mediaType: image.mediaType, digest: image.digest, size: image.bytes.length },
    };
    const pushed = await pushManifest(admin.url, repo, sha256(jsonBytes(artifact)), artifact);
    // The artifact says what it is and shows no image config; the image it refers to is no artifact.
    const opened = await admin.api<ManifestDetail>('GET', `/api/manifests?repository=${q(repo)}&reference=${q(pushed.digest)}`);
    assert.equal(opened.body.artifactType, 'application/spdx+json');
    assert.equal(opened.body.config, undefined);
    const subject = await admin.api<ManifestDetail>('GET', `/api/manifests?repository=${q(repo)}&reference=1`);
    assert.equal(subject.body.artifactType, undefined);
    assert.equal(subject.body.config?.os, 'linux');
    const url = `${admin.url}/api/content?repository=${q(repo)}&digest=${q(sbomBlob.digest)}&in=${q(pushed.digest)}`;
    const response = await fetch(url, { headers: { cookie: admin.cookie } });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'application/spdx+json');
    assert.equal(response.headers.get('content-disposition'), 'attachment; filename="sbom_app_.spdx.json"');
    assert.equal(response.headers.get('content-length'), String(sbomBytes.length));
    assert.deepEqual(Buffer.from(await response.arrayBuffer()), sbomBytes);

    // The blob is stored, but the image manifest does not reference it: refused, as is a repository that cannot read it.
    assertAdminError(await admin.api('GET', `/api/content?repository=${q(repo)}&digest=${q(sbomBlob.digest)}&in=${q(image.digest)}`), 404, 'BERTH_MANIFEST_NOT_FOUND');
    assertAdminError(await admin.api('GET', `/api/content?repository=other/repo&digest=${q(sbomBlob.digest)}&in=${q(pushed.digest)}`), 404, 'BERTH_MANIFEST_NOT_FOUND');
    // A mirror stores an upstream manifest before its blobs: a blob it references but does not hold is a 404 too.
    const absent = { ...artifact, layers: [{ mediaType: 'application/spdx+json', digest: sha256(Buffer.from('never pushed')), size: 12 }] };
    const stored = await admin.registry.repositories.putManifest(repo, sha256(jsonBytes(absent)), jsonBytes(absent), mediaTypes.ociManifest, { requireReferences: false });
    assertAdminError(await admin.api('GET', `/api/content?repository=${q(repo)}&digest=${q(absent.layers[0]!.digest)}&in=${q(stored.digest)}`), 404, 'BERTH_MANIFEST_NOT_FOUND');
    assertAdminError(await admin.api('GET', `/api/content?repository=${q(repo)}&digest=nope`), 400, 'BERTH_VALIDATION');
    assertAdminError(await admin.api('GET', `/api/content?repository=${q(repo)}`), 400, 'BERTH_VALIDATION');
    const anonymous = await fetch(url);
    assert.equal(anonymous.status, 401);
    await anonymous.body?.cancel();
  });
});

describe('repositories', () => {
  it('gives each repository its unique bytes, last push and mirrored-or-pushed source', async () => {
    const repo = uniqueRepo('facts');
    const one = await pushBuiltImage(repo, '1');
    const two = await pushBuiltImage(repo, '2');
    await pushManifest(admin.url, repo, 'again', one.bytes, one.mediaType);
    const created = await admin.api('POST', '/api/upstreams', { name: 'hubcache', url: 'https://registry-1.docker.io' });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    await pushBuiltImage('hubcache/library/redis', '7');
    const list = await admin.api<RepositoriesResponse>('GET', '/api/repositories');
    const facts = list.body.repositories.find((entry) => entry.name === repo);
    assert.ok(facts);
    assert.equal(facts.size, one.imageSize + two.imageSize);
    assert.equal(facts.source, 'pushed');
    assert.equal(facts.upstream, undefined);
    assert.ok(facts.lastPushedAt && Math.abs(Date.parse(facts.lastPushedAt) - Date.now()) < 600_000);
    const mirrored = list.body.repositories.find((entry) => entry.name === 'hubcache/library/redis');
    assert.equal(mirrored?.source, 'mirror');
    assert.equal(mirrored?.upstream, 'hubcache');
  });

  it('deletes a repository: every tag and manifest, gone from the list and _catalog, audited; CSRF guarded', async () => {
    const repo = uniqueRepo('doomed');
    const image = await pushBuiltImage(repo, '1');
    await pushBuiltImage(repo, undefined);
    await makeArtifact(admin.url, repo, { artifactType: 'application/vnd.test', subject: { mediaType: image.mediaType, digest: image.digest, size: image.bytes.length } });
    const nested = `${repo}/nested`;
    await pushBuiltImage(nested, '1');

    // Pulled once each: the deleted repository's records go with it, the nested one's stay.
    for (const name of [repo, nested]) {
      assert.equal((await request('GET', `${admin.url}/v2/${name}/manifests/1`, { headers: { accept: mediaTypes.ociManifest } })).status, 200);
    }
    const forged = await fetch(`${admin.url}/api/repositories?repository=${q(repo)}`, { method: 'DELETE', headers: { cookie: admin.cookie } });
    assert.equal(forged.status, 403);
    await forged.body?.cancel();

    const deleted = await admin.api<DeleteRepositoryResponse>('DELETE', `/api/repositories?repository=${q(repo)}`);
    assert.equal(deleted.status, 200, JSON.stringify(deleted.body));
    const { trashEntry, expiresAt, ...counts } = deleted.body;
    assert.deepEqual(counts, { repository: repo, tags: 1, manifests: 3 });
    assert.match(trashEntry, /^[0-9a-f]{16}$/, 'into the trash, restorable');
    assert.ok(Date.parse(expiresAt) > Date.now());

    const names = (await admin.api<RepositoriesResponse>('GET', '/api/repositories')).body.repositories.map((entry) => entry.name);
    assert.ok(!names.includes(repo), 'gone from the list');
    assert.ok(names.includes(nested), 'a repository nested below it stays');
    const catalog = (await (await request('GET', `${admin.url}/v2/_catalog`)).json()) as { repositories: string[] };
    assert.ok(!catalog.repositories.includes(repo) && catalog.repositories.includes(nested));
    assert.equal((await request('GET', `${admin.url}/v2/${repo}/manifests/${image.digest}`, { headers: { accept: mediaTypes.ociManifest } })).status, 404);

    const audit = await admin.api<AuditResponse>('GET', `/api/audit?action=repository.delete`);
    const event = audit.body.events.find((entry) => entry.repository === repo);
    assert.ok(event, JSON.stringify(audit.body));
    assert.equal(event.actor, 'admin');
    assert.deepEqual(event.detail, { tags: 1, manifests: 3, trashEntry });

    assertAdminError(await admin.api('DELETE', `/api/repositories?repository=${q(repo)}`), 404, 'BERTH_REPOSITORY_NOT_FOUND');
    assertAdminError(await admin.api('DELETE', '/api/repositories'), 400, 'BERTH_VALIDATION');

    // A new repository of the same name starts with no pulls.
    await pushBuiltImage(repo, '1');
    const listed = (await admin.api<RepositoriesResponse>('GET', '/api/repositories')).body.repositories;
    assert.deepEqual(
      listed.filter((entry) => entry.name === repo || entry.name === nested).map((entry) => [entry.name, entry.pullsLast7Days, entry.lastPulledAt !== undefined]),
      [[repo, 0, false], [nested, 1, true]],
    );
    const tags = (await admin.api<TagsResponse>('GET', `/api/tags?repository=${q(repo)}`)).body.tags;
    assert.deepEqual(tags.map((tag) => [tag.tag, tag.pullCount, tag.lastPulledAt]), [['1', 0, undefined]]);
  });
});
