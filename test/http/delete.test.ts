import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { assertOciError, makeArtifact, makeImage, mediaTypes, pushBlob, pushManifest, randomDigest, request, uniqueRepo } from '../support/oci-client.js';
import { startRegistry, type RunningRegistry } from '../support/registry-server.js';

let reg: RunningRegistry;
before(async () => {
  reg = await startRegistry();
});
after(() => reg.close());

const accept = { accept: [mediaTypes.ociManifest, mediaTypes.ociIndex].join(', ') };

async function status(method: string, path: string): Promise<number> {
  const response = await request(method, `${reg.url}${path}`, { headers: accept });
  await response.arrayBuffer();
  return response.status;
}

async function tagsOf(repo: string): Promise<string[]> {
  const response = await request('GET', `${reg.url}/v2/${repo}/tags/list`);
  if (response.status === 404) {
    await response.arrayBuffer();
    return [];
  }
  assert.equal(response.status, 200);
  return ((await response.json()) as { tags: string[] | null }).tags ?? [];
}

describe('DELETE /v2/<name>/manifests/<reference>', () => {
  it('deletes a manifest by digest (202): gone by digest and by every tag that pointed to it', async () => {
    const repo = uniqueRepo('del');
    const doomed = await makeImage(reg.url, repo, { tag: 'one' });
    await pushManifest(reg.url, repo, 'two', doomed.bytes, doomed.mediaType);
    await makeImage(reg.url, repo, { tag: 'keep' });
    assert.equal(await status('DELETE', `/v2/${repo}/manifests/${doomed.digest}`), 202);
    await assertOciError(await request('GET', `${reg.url}/v2/${repo}/manifests/${doomed.digest}`, { headers: accept }), 404, 'MANIFEST_UNKNOWN', 'by digest');
    await assertOciError(await request('GET', `${reg.url}/v2/${repo}/manifests/one`, { headers: accept }), 404, 'MANIFEST_UNKNOWN', 'by tag');
    assert.equal(await status('HEAD', `/v2/${repo}/manifests/two`), 404);
    assert.deepEqual(await tagsOf(repo), ['keep']);
  });

  it('deletes a tag by name (202) and leaves the manifest reachable by digest', async () => {
    const repo = uniqueRepo('del');
    const image = await makeImage(reg.url, repo, { tag: 'a' });
    await pushManifest(reg.url, repo, 'b', image.bytes, image.mediaType);
    assert.equal(await status('DELETE', `/v2/${repo}/manifests/a`), 202);
    assert.equal(await status('GET', `/v2/${repo}/manifests/a`), 404);
    assert.equal(await status('GET', `/v2/${repo}/manifests/b`), 200);
    assert.equal(await status('GET', `/v2/${repo}/manifests/${image.digest}`), 200);
    assert.deepEqual(await tagsOf(repo), ['b']);
  });

  it('deleting a manifest in one repository leaves the same manifest in another alone', async () => {
    const repoA = uniqueRepo('del');
    const repoB = uniqueRepo('del');
    const image = await makeImage(reg.url, repoA, { tag: 'x' });
    for (const blob of [image.config, ...image.layers]) await pushBlob(reg.url, repoB, blob.bytes);
    await pushManifest(reg.url, repoB, 'x', image.bytes, image.mediaType);
    assert.equal(await status('DELETE', `/v2/${repoA}/manifests/${image.digest}`), 202);
    assert.equal(await status('GET', `/v2/${repoB}/manifests/x`), 200);
    assert.equal(await status('GET', `/v2/${repoB}/blobs/${image.layers[0]?.digest}`), 200);
  });

  it('drops a deleted referrer from the referrers list', async () => {
    const repo = uniqueRepo('del');
    const subject = await makeImage(reg.url, repo, { tag: 's' });
    const artifact = await makeArtifact(reg.url, repo, { artifactType: 'application/vnd.example.sig', subject: subject.descriptor });
    assert.equal(await status('DELETE', `/v2/${repo}/manifests/${artifact.digest}`), 202);
    const response = await request('GET', `${reg.url}/v2/${repo}/referrers/${subject.digest}`, { expected: 200 });
    assert.deepEqual(((await response.json()) as { manifests: unknown[] }).manifests, []);
  });

  it('answers unknown manifests and tags with 404 MANIFEST_UNKNOWN', async () => {
    const repo = uniqueRepo('del');
    await makeImage(reg.url, repo, { tag: 'x' });
    await assertOciError(await request('DELETE', `${reg.url}/v2/${repo}/manifests/${randomDigest()}`), 404, 'MANIFEST_UNKNOWN', 'unknown digest');
    await assertOciError(await request('DELETE', `${reg.url}/v2/${repo}/manifests/nope`), 404, 'MANIFEST_UNKNOWN', 'unknown tag');
    await assertOciError(
      await request('DELETE', `${reg.url}/v2/${uniqueRepo('del')}/manifests/${randomDigest()}`),
      404,
      ['MANIFEST_UNKNOWN', 'NAME_UNKNOWN'],
      'unknown repo',
    );
  });
});

describe('DELETE /v2/<name>/blobs/<digest>', () => {
  it('deletes a blob (202), then GET and HEAD answer 404 BLOB_UNKNOWN', async () => {
    const repo = uniqueRepo('del');
    const blob = await pushBlob(reg.url, repo, randomBytes(100));
    assert.equal(await status('DELETE', `/v2/${repo}/blobs/${blob.digest}`), 202);
    await assertOciError(await request('GET', `${reg.url}/v2/${repo}/blobs/${blob.digest}`), 404, 'BLOB_UNKNOWN', 'deleted blob');
    assert.equal(await status('HEAD', `/v2/${repo}/blobs/${blob.digest}`), 404);
  });

  it('only unlinks the blob from that repository', async () => {
    const repoA = uniqueRepo('del');
    const repoB = uniqueRepo('del');
    const bytes = randomBytes(100);
    const blob = await pushBlob(reg.url, repoA, bytes);
    await pushBlob(reg.url, repoB, bytes);
    assert.equal(await status('DELETE', `/v2/${repoB}/blobs/${blob.digest}`), 202);
    const response = await request('GET', `${reg.url}/v2/${repoA}/blobs/${blob.digest}`, { expected: 200 });
    assert.deepEqual(Buffer.from(await response.arrayBuffer()), bytes);
  });

  it('answers unknown blobs with 404 BLOB_UNKNOWN and bad digests with 400 DIGEST_INVALID', async () => {
    const repo = uniqueRepo('del');
    await pushBlob(reg.url, repo, randomBytes(10));
    await assertOciError(await request('DELETE', `${reg.url}/v2/${repo}/blobs/${randomDigest()}`), 404, 'BLOB_UNKNOWN', 'unknown blob');
    await assertOciError(await request('DELETE', `${reg.url}/v2/${repo}/blobs/sha256:xyz`), 400, 'DIGEST_INVALID', 'bad digest');
  });
});
