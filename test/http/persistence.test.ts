import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  finishUpload,
  makeArtifact,
  makeImage,
  mediaTypes,
  patchChunk,
  pushBlob,
  request,
  resolveLocation,
  sha256,
  startUpload,
  uniqueRepo,
} from '../support/oci-client.js';
import { startRegistry } from '../support/registry-server.js';

const accept = { accept: [mediaTypes.ociManifest, mediaTypes.ociIndex].join(', ') };

describe('data survives a restart on the same data dir', () => {
  it('keeps manifests, tags, blobs, referrers and deletions', async (t) => {
    const reg = await startRegistry(t);
    const repo = uniqueRepo('persist');
    const image = await makeImage(reg.url, repo, { tag: 'v1', layers: 2 });
    const gone = await makeImage(reg.url, repo, { tag: 'gone' });
    const artifact = await makeArtifact(reg.url, repo, { artifactType: 'application/vnd.example.sig', subject: image.descriptor });
    const deletedBlob = await pushBlob(reg.url, repo, randomBytes(64));
    for (const path of [`/v2/${repo}/manifests/${gone.digest}`, `/v2/${repo}/blobs/${deletedBlob.digest}`]) {
      const response = await request('DELETE', `${reg.url}${path}`, { expected: 202 });
      await response.arrayBuffer();
    }

    await reg.restart();

    for (const reference of ['v1', image.digest]) {
      const response = await request('GET', `${reg.url}/v2/${repo}/manifests/${reference}`, { headers: accept, expected: 200 });
      assert.deepEqual(Buffer.from(await response.arrayBuffer()), image.bytes);
      assert.equal(response.headers.get('content-type'), image.mediaType);
    }
    for (const blob of [image.config, ...image.layers]) {
      const response = await request('GET', `${reg.url}/v2/${repo}/blobs/${blob.digest}`, { expected: 200 });
      assert.deepEqual(Buffer.from(await response.arrayBuffer()), blob.bytes);
    }
    const tags = await request('GET', `${reg.url}/v2/${repo}/tags/list`, { expected: 200 });
    assert.deepEqual(((await tags.json()) as { tags: string[] }).tags, ['v1']);
    const catalog = await request('GET', `${reg.url}/v2/_catalog`, { expected: 200 });
    assert.ok(((await catalog.json()) as { repositories: string[] }).repositories.includes(repo));
    const refs = await request('GET', `${reg.url}/v2/${repo}/referrers/${image.digest}`, { expected: 200 });
    assert.deepEqual(((await refs.json()) as { manifests: { digest: string }[] }).manifests.map((d) => d.digest), [artifact.digest]);

    for (const path of [`/v2/${repo}/manifests/${gone.digest}`, `/v2/${repo}/manifests/gone`, `/v2/${repo}/blobs/${deletedBlob.digest}`]) {
      const response = await request('GET', `${reg.url}${path}`, { headers: accept });
      await response.arrayBuffer();
      assert.equal(response.status, 404, `${path} came back after restart`);
    }
  });

  it('continues an upload session started before the restart', async (t) => {
    const reg = await startRegistry(t);
    const repo = uniqueRepo('persist');
    const bytes = randomBytes(64 * 1024);
    const half = bytes.length / 2;
    const session = await patchChunk(reg.url, await startUpload(reg.url, repo), bytes.subarray(0, half), 0);

    await reg.restart();

    // restart() may have had to take another port: keep the session's path, take the new origin.
    const { pathname, search } = new URL(session);
    const moved = resolveLocation(reg.url, `${pathname}${search}`);
    const status = await request('GET', moved, { expected: 204 });
    await status.arrayBuffer();
    assert.equal(status.headers.get('range'), `0-${half - 1}`);
    const next = await patchChunk(reg.url, moved, bytes.subarray(half), half);
    const done = await finishUpload(reg.url, next, sha256(bytes));
    assert.equal(done.status, 201);
    await done.arrayBuffer();
    const blob = await request('GET', `${reg.url}/v2/${repo}/blobs/${sha256(bytes)}`, { expected: 200 });
    assert.deepEqual(Buffer.from(await blob.arrayBuffer()), bytes);
  });
});
