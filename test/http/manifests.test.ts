import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import {
  assertOciError,
  jsonBytes,
  makeArtifact,
  makeImage,
  mediaTypes,
  pushBlob,
  pushManifest,
  putManifest,
  randomDigest,
  rawExchange,
  request,
  sha256,
  uniqueRepo,
  type Image,
} from '../support/oci-client.js';
import { startRegistry, type RunningRegistry } from '../support/registry-server.js';

let reg: RunningRegistry;
before(async () => {
  reg = await startRegistry();
});
after(() => reg.close());

const acceptAll = [mediaTypes.ociManifest, mediaTypes.ociIndex, mediaTypes.dockerManifest, mediaTypes.dockerList].join(', ');

/** GETs a manifest and checks the bytes and the headers every pull client relies on. */
async function assertServes(repo: string, reference: string, expected: { bytes: Buffer; mediaType: string }): Promise<Headers> {
  const response = await request('GET', `${reg.url}/v2/${repo}/manifests/${reference}`, { headers: { accept: acceptAll }, expected: 200 });
  const body = Buffer.from(await response.arrayBuffer());
  assert.deepEqual(body, expected.bytes, `GET ${reference} must return the pushed bytes unchanged`);
  assert.equal(response.headers.get('content-type'), expected.mediaType);
  assert.equal(response.headers.get('docker-content-digest'), sha256(expected.bytes));
  assert.equal(response.headers.get('content-length'), String(expected.bytes.length));
  assert.ok(response.headers.get('etag'), 'ETag missing');
  assert.equal(response.headers.get('content-encoding'), null, 'manifest bytes must not be re-encoded');
  return response.headers;
}

async function manifestStatus(repo: string, reference: string): Promise<number> {
  const response = await request('GET', `${reg.url}/v2/${repo}/manifests/${reference}`, { headers: { accept: acceptAll } });
  await response.arrayBuffer();
  return response.status;
}

async function dockerImage(repo: string): Promise<Image> {
  return makeImage(reg.url, repo, { layers: 2, docker: true, tag: 'docker' });
}

describe('OCI image manifests', () => {
  it('pushes by tag: 201 with Location and Docker-Content-Digest; GET by tag and by digest return the same bytes', async () => {
    const repo = uniqueRepo('man');
    const config = await pushBlob(reg.url, repo, jsonBytes({ architecture: 'arm64', os: 'linux' }));
    const layer = await pushBlob(reg.url, repo, randomBytes(300));
    // Pretty-printed on purpose: the registry must keep the client's exact bytes (digest = bytes as sent).
    const bytes = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: mediaTypes.ociManifest,
      config: { mediaType: mediaTypes.ociConfig, digest: config.digest, size: config.size },
      layers: [{ mediaType: mediaTypes.ociLayer, digest: layer.digest, size: layer.size }],
      annotations: { 'org.example.z': '1', 'org.example.a': '2' },
    }, null, 3));
    const pushed = await pushManifest(reg.url, repo, 'v1.0', bytes, mediaTypes.ociManifest);
    assert.equal(pushed.headers.get('docker-content-digest'), sha256(bytes));
    const location = pushed.headers.get('location');
    assert.ok(location, 'Location missing');
    assert.match(new URL(location, `${reg.url}/`).pathname, new RegExp(`^/v2/${repo}/manifests/(v1\\.0|${sha256(bytes)})$`));
    await assertServes(repo, 'v1.0', { bytes, mediaType: mediaTypes.ociManifest });
    await assertServes(repo, sha256(bytes), { bytes, mediaType: mediaTypes.ociManifest });
  });

  it('answers HEAD by tag and digest with the GET headers and no body', async () => {
    const repo = uniqueRepo('man');
    const image = await makeImage(reg.url, repo, { tag: 'latest' });
    for (const reference of ['latest', image.digest]) {
      const head = await rawExchange(reg.url, 'HEAD', `/v2/${repo}/manifests/${reference}`, { Accept: acceptAll });
      assert.match(head.statusLine, /^HTTP\/1\.1 200/);
      assert.equal(head.headers['content-type'], mediaTypes.ociManifest);
      assert.equal(head.headers['docker-content-digest'], image.digest);
      assert.equal(head.headers['content-length'], String(image.bytes.length));
      assert.equal(head.afterHead.length, 0, 'HEAD must not send a body');
    }
  });

  it('pushes by digest and moves a tag to a new manifest', async () => {
    const repo = uniqueRepo('man');
    const first = await makeImage(reg.url, repo); // pushed by digest
    await assertServes(repo, first.digest, first);
    await pushManifest(reg.url, repo, 'moving', first.bytes, first.mediaType);
    const second = await makeImage(reg.url, repo, { tag: 'moving' });
    await assertServes(repo, 'moving', second);
    await assertServes(repo, first.digest, first); // still reachable by digest
  });

  it('answers If-None-Match with the manifest ETag with 304', async () => {
    const repo = uniqueRepo('man');
    const image = await makeImage(reg.url, repo, { tag: 'etag' });
    const headers = await assertServes(repo, 'etag', image);
    const again = await request('GET', `${reg.url}/v2/${repo}/manifests/etag`, { headers: { accept: acceptAll, 'if-none-match': headers.get('etag') ?? '' } });
    assert.equal(again.status, 304);
    await again.arrayBuffer();
  });
});

describe('Docker and index manifests', () => {
  it('pushes and serves a Docker schema 2 manifest with its own media type', async () => {
    const repo = uniqueRepo('man');
    const image = await dockerImage(repo);
    await assertServes(repo, 'docker', image);
    await assertServes(repo, image.digest, image);
  });

  it('pushes an OCI image index whose children exist, and a Docker manifest list', async () => {
    const repo = uniqueRepo('man');
    const amd = await makeImage(reg.url, repo);
    const arm = await makeImage(reg.url, repo);
    const index = {
      schemaVersion: 2,
      mediaType: mediaTypes.ociIndex,
      manifests: [
        { ...amd.descriptor, platform: { architecture: 'amd64', os: 'linux' } },
        { ...arm.descriptor, platform: { architecture: 'arm64', os: 'linux' } },
      ],
    };
    const pushed = await pushManifest(reg.url, repo, 'multi', index);
    await assertServes(repo, 'multi', pushed);
    await assertServes(repo, pushed.digest, pushed);

    const d1 = await dockerImage(repo);
    const list = {
      schemaVersion: 2,
      mediaType: mediaTypes.dockerList,
      manifests: [{ mediaType: mediaTypes.dockerManifest, digest: d1.digest, size: d1.bytes.length, platform: { architecture: 'amd64', os: 'linux' } }],
    };
    const pushedList = await pushManifest(reg.url, repo, 'list', list);
    await assertServes(repo, 'list', pushedList);
  });

  it('refuses an index whose child manifest is missing with 400 MANIFEST_BLOB_UNKNOWN', async () => {
    const repo = uniqueRepo('man');
    const present = await makeImage(reg.url, repo);
    const index = {
      schemaVersion: 2,
      mediaType: mediaTypes.ociIndex,
      manifests: [present.descriptor, { mediaType: mediaTypes.ociManifest, digest: randomDigest(), size: 400 }],
    };
    const pushed = await putManifest(reg.url, repo, 'broken', index);
    await assertOciError(pushed, 400, 'MANIFEST_BLOB_UNKNOWN', 'index with missing child');
    assert.equal(await manifestStatus(repo, 'broken'), 404);
  });
});

describe('manifest validation', () => {
  it('refuses a manifest whose config or layer is missing with 400 MANIFEST_BLOB_UNKNOWN', async () => {
    const repo = uniqueRepo('man');
    const config = await pushBlob(reg.url, repo, jsonBytes({ os: 'linux' }));
    const layer = await pushBlob(reg.url, repo, randomBytes(20));
    const base = { schemaVersion: 2, mediaType: mediaTypes.ociManifest };
    const missingConfig = {
      ...base,
      config: { mediaType: mediaTypes.ociConfig, digest: randomDigest(), size: 10 },
      layers: [{ mediaType: mediaTypes.ociLayer, digest: layer.digest, size: layer.size }],
    };
    await assertOciError(await putManifest(reg.url, repo, 'a', missingConfig), 400, 'MANIFEST_BLOB_UNKNOWN', 'missing config');
    const missingLayer = {
      ...base,
      config: { mediaType: mediaTypes.ociConfig, digest: config.digest, size: config.size },
      layers: [{ mediaType: mediaTypes.ociLayer, digest: randomDigest(), size: 10 }],
    };
    await assertOciError(await putManifest(reg.url, repo, 'b', missingLayer), 400, 'MANIFEST_BLOB_UNKNOWN', 'missing layer');
    assert.equal(await manifestStatus(repo, 'a'), 404);
    assert.equal(await manifestStatus(repo, 'b'), 404);
  });

  it('refuses a manifest referencing a layer that only another repository holds', async () => {
    const repo = uniqueRepo('man');
    const elsewhere = uniqueRepo('man');
    const foreign = await pushBlob(reg.url, elsewhere, randomBytes(50));
    const config = await pushBlob(reg.url, repo, jsonBytes({ os: 'linux' }));
    const manifest = {
      schemaVersion: 2,
      mediaType: mediaTypes.ociManifest,
      config: { mediaType: mediaTypes.ociConfig, digest: config.digest, size: config.size },
      layers: [{ mediaType: mediaTypes.ociLayer, digest: foreign.digest, size: foreign.size }],
    };
    await assertOciError(await putManifest(reg.url, repo, 'steal', manifest), 400, 'MANIFEST_BLOB_UNKNOWN', 'foreign layer');
  });

  it('refuses malformed JSON and a mediaType that contradicts Content-Type with 400 MANIFEST_INVALID', async () => {
    const repo = uniqueRepo('man');
    const image = await makeImage(reg.url, repo);
    await assertOciError(await putManifest(reg.url, repo, 'bad', Buffer.from('{"schemaVersion": 2,'), mediaTypes.ociManifest), 400, 'MANIFEST_INVALID', 'bad JSON');
    await assertOciError(await putManifest(reg.url, repo, 'bad', Buffer.from('[]'), mediaTypes.ociManifest), 400, 'MANIFEST_INVALID', 'JSON array');
    await assertOciError(await putManifest(reg.url, repo, 'bad', image.bytes, mediaTypes.dockerManifest), 400, 'MANIFEST_INVALID', 'mediaType mismatch');
    assert.equal(await manifestStatus(repo, 'bad'), 404);
  });

  it('refuses a manifest larger than 4 MiB and stores nothing', async () => {
    const repo = uniqueRepo('man');
    const image = await makeImage(reg.url, repo);
    const huge = jsonBytes({ ...image.manifest, annotations: { padding: 'x'.repeat(4 * 1024 * 1024 + 10) } });
    const pushed = await putManifest(reg.url, repo, 'huge', huge, mediaTypes.ociManifest);
    assert.ok([400, 413].includes(pushed.status), `oversized manifest -> ${pushed.status}`);
    if (pushed.body) await assertOciError(pushed, [400, 413], ['MANIFEST_INVALID', 'SIZE_INVALID', 'UNSUPPORTED', 'DENIED'], 'huge manifest');
    assert.equal(await manifestStatus(repo, 'huge'), 404);
    assert.equal(await manifestStatus(repo, sha256(huge)), 404);
  });

  it('refuses a push by digest whose bytes have another digest with 400 DIGEST_INVALID', async () => {
    const repo = uniqueRepo('man');
    const image = await makeImage(reg.url, repo);
    const claimed = randomDigest();
    await assertOciError(await putManifest(reg.url, repo, claimed, image.bytes, image.mediaType), 400, 'DIGEST_INVALID', 'digest mismatch');
    assert.equal(await manifestStatus(repo, claimed), 404);
  });

  it('refuses structurally wrong manifests with 400, never a server error', async () => {
    const repo = uniqueRepo('man');
    const image = await makeImage(reg.url, repo);
    const config = (image.manifest as { config: object }).config;
    const cases: [string, unknown, string][] = [
      ['layers not an array', { ...image.manifest, layers: 'nope' }, mediaTypes.ociManifest],
      ['config missing', { schemaVersion: 2, mediaType: mediaTypes.ociManifest, layers: [] }, mediaTypes.ociManifest],
      ['config digest malformed', { ...image.manifest, config: { ...config, digest: 'sha256:zz' } }, mediaTypes.ociManifest],
      ['layer null', { ...image.manifest, layers: [null] }, mediaTypes.ociManifest],
      ['size negative', { ...image.manifest, config: { ...config, size: -1 } }, mediaTypes.ociManifest],
      ['schemaVersion 1', { ...image.manifest, schemaVersion: 1 }, mediaTypes.ociManifest],
      ['index manifests null', { schemaVersion: 2, mediaType: mediaTypes.ociIndex, manifests: null }, mediaTypes.ociIndex],
      ['index child digest missing', { schemaVersion: 2, mediaType: mediaTypes.ociIndex, manifests: [{ mediaType: mediaTypes.ociManifest, size: 1 }] }, mediaTypes.ociIndex],
      ['JSON string', 'just a string', mediaTypes.ociManifest],
      ['JSON null', null, mediaTypes.ociManifest],
    ];
    for (const [label, body, type] of cases) {
      const pushed = await putManifest(reg.url, repo, 'shape', jsonBytes(body), type);
      await assertOciError(pushed, 400, ['MANIFEST_INVALID', 'DIGEST_INVALID', 'MANIFEST_BLOB_UNKNOWN', 'SIZE_INVALID'], label);
    }
    assert.equal(await manifestStatus(repo, 'shape'), 404);
  });

  it('accepts a 128-character tag (the longest the grammar allows)', async () => {
    const repo = uniqueRepo('man');
    const image = await makeImage(reg.url, repo);
    const tag = `A_${'b'.repeat(124)}.-`;
    assert.equal(tag.length, 128);
    await pushManifest(reg.url, repo, tag, image.bytes, image.mediaType);
    await assertServes(repo, tag, image);
  });

  it('refuses invalid tags', async () => {
    const repo = uniqueRepo('man');
    const image = await makeImage(reg.url, repo);
    for (const tag of ['.hidden', '-dash', 'a'.repeat(129), 'sp%20ace']) {
      await assertOciError(await putManifest(reg.url, repo, tag, image.bytes, image.mediaType), 400, ['TAG_INVALID', 'MANIFEST_INVALID'], `tag ${tag.slice(0, 12)}`);
    }
  });

  it('answers reads and deletes of a tag that cannot exist with 404 MANIFEST_UNKNOWN (as the conformance suite expects)', async () => {
    const repo = uniqueRepo('man');
    await makeImage(reg.url, repo, { tag: 'known' });
    for (const tag of ['.INVALID_MANIFEST_NAME', '-dash', 'a'.repeat(129), 'sp%20ace']) {
      for (const method of ['GET', 'DELETE']) {
        await assertOciError(await request(method, `${reg.url}/v2/${repo}/manifests/${tag}`), 404, 'MANIFEST_UNKNOWN', `${method} tag ${tag.slice(0, 12)}`);
      }
      const head = await rawExchange(reg.url, 'HEAD', `/v2/${repo}/manifests/${tag}`);
      assert.match(head.statusLine, /^HTTP\/1\.1 404/, `HEAD tag ${tag.slice(0, 12)}`);
    }
    await request('GET', `${reg.url}/v2/${repo}/manifests/known`, { expected: 200 });
  });

  it('answers unknown tags, digests and repositories with 404', async () => {
    const repo = uniqueRepo('man');
    await makeImage(reg.url, repo, { tag: 'known' });
    await assertOciError(await request('GET', `${reg.url}/v2/${repo}/manifests/unknown`), 404, 'MANIFEST_UNKNOWN', 'unknown tag');
    await assertOciError(await request('GET', `${reg.url}/v2/${repo}/manifests/${randomDigest()}`), 404, 'MANIFEST_UNKNOWN', 'unknown digest');
    const missingRepo = uniqueRepo('man');
    await assertOciError(await request('GET', `${reg.url}/v2/${missingRepo}/manifests/known`), 404, ['MANIFEST_UNKNOWN', 'NAME_UNKNOWN'], 'unknown repo');
    const head = await rawExchange(reg.url, 'HEAD', `/v2/${repo}/manifests/unknown`);
    assert.match(head.statusLine, /^HTTP\/1\.1 404/);
  });

  it('does not serve a manifest through another repository', async () => {
    const repo = uniqueRepo('man');
    const other = uniqueRepo('man');
    const image = await makeImage(reg.url, repo, { tag: 'x' });
    await makeImage(reg.url, other, { tag: 'y' });
    await assertOciError(await request('GET', `${reg.url}/v2/${other}/manifests/${image.digest}`), 404, 'MANIFEST_UNKNOWN', 'cross-repo manifest');
  });
});

describe('artifacts with a subject', () => {
  it('answers 201 with OCI-Subject for a manifest with artifactType and subject', async () => {
    const repo = uniqueRepo('man');
    const image = await makeImage(reg.url, repo, { tag: 'app' });
    const artifact = await makeArtifact(reg.url, repo, { artifactType: 'application/vnd.example.sbom+json', subject: image.descriptor });
    assert.equal(artifact.status, 201);
    assert.equal(artifact.headers.get('oci-subject'), image.digest);
    await assertServes(repo, artifact.digest, artifact);
  });

  it('accepts a subject that has not been pushed yet', async () => {
    const repo = uniqueRepo('man');
    const subject = { mediaType: mediaTypes.ociManifest, digest: randomDigest(), size: 1234 };
    const artifact = await makeArtifact(reg.url, repo, { artifactType: 'application/vnd.example.sig', subject });
    assert.equal(artifact.status, 201);
    assert.equal(artifact.headers.get('oci-subject'), subject.digest);
  });
});
