import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import {
  assertOciError,
  rawRequest,
  finishUpload,
  patchChunk,
  pushBlob,
  pushBlobChunked,
  randomDigest,
  request,
  resolveLocation,
  sha256,
  sha512,
  startUpload,
  uniqueRepo,
} from '../support/oci-client.js';
import { startRegistry, type RunningRegistry } from '../support/registry-server.js';

let reg: RunningRegistry;
before(async () => {
  reg = await startRegistry();
});
after(() => reg.close());

async function blobStatus(repo: string, digest: string): Promise<number> {
  const response = await request('HEAD', `${reg.url}/v2/${repo}/blobs/${digest}`);
  await response.arrayBuffer();
  return response.status;
}

async function readBlob(repo: string, digest: string): Promise<Buffer> {
  const response = await request('GET', `${reg.url}/v2/${repo}/blobs/${digest}`, { expected: 200 });
  return Buffer.from(await response.arrayBuffer());
}

describe('POST /v2/<name>/blobs/uploads/', () => {
  it('opens a session: 202 with Location, Range: 0-0 and Docker-Upload-UUID', async () => {
    const repo = uniqueRepo('up');
    const response = await request('POST', `${reg.url}/v2/${repo}/blobs/uploads/`, { expected: 202 });
    await response.arrayBuffer();
    const location = response.headers.get('location');
    assert.ok(location, 'Location missing');
    assert.match(new URL(location, `${reg.url}/`).pathname, new RegExp(`^/v2/${repo}/blobs/uploads/[^/]+$`));
    assert.equal(response.headers.get('range'), '0-0');
    assert.ok(response.headers.get('docker-upload-uuid'), 'Docker-Upload-UUID missing');
  });

  it('accepts a monolithic upload with ?digest=: 201, Location of the blob, Docker-Content-Digest', async () => {
    const repo = uniqueRepo('up');
    const bytes = randomBytes(4096);
    const digest = sha256(bytes);
    const response = await request('POST', `${reg.url}/v2/${repo}/blobs/uploads/?digest=${digest}`, {
      headers: { 'content-type': 'application/octet-stream' },
      body: bytes,
      expected: 201,
    });
    await response.arrayBuffer();
    assert.equal(new URL(response.headers.get('location') ?? '', `${reg.url}/`).pathname, `/v2/${repo}/blobs/${digest}`);
    assert.equal(response.headers.get('docker-content-digest'), digest);
    assert.deepEqual(await readBlob(repo, digest), bytes);
  });

  it('refuses a monolithic upload whose bytes do not match ?digest= and stores nothing', async () => {
    const repo = uniqueRepo('up');
    const bytes = randomBytes(100);
    const claimed = randomDigest();
    const response = await request('POST', `${reg.url}/v2/${repo}/blobs/uploads/?digest=${claimed}`, {
      headers: { 'content-type': 'application/octet-stream' },
      body: bytes,
    });
    await assertOciError(response, 400, 'DIGEST_INVALID', 'monolithic POST with wrong digest');
    assert.equal(await blobStatus(repo, claimed), 404);
    assert.equal(await blobStatus(repo, sha256(bytes)), 404);
  });

  it('accepts POST then a single PUT carrying the whole blob', async () => {
    const repo = uniqueRepo('up');
    const bytes = randomBytes(2048);
    const session = await startUpload(reg.url, repo);
    const response = await finishUpload(reg.url, session, sha256(bytes), bytes);
    assert.equal(response.status, 201);
    await response.arrayBuffer();
    assert.equal(new URL(response.headers.get('location') ?? '', `${reg.url}/`).pathname, `/v2/${repo}/blobs/${sha256(bytes)}`);
    assert.equal(response.headers.get('docker-content-digest'), sha256(bytes));
    assert.deepEqual(await readBlob(repo, sha256(bytes)), bytes);
  });
});

describe('PATCH /v2/<name>/blobs/uploads/<id> (chunked)', () => {
  it('appends in-order chunks, reports Range, rejects gaps and overlaps with 416 and keeps its offset', async () => {
    const repo = uniqueRepo('up');
    const bytes = randomBytes(40);
    let session = await startUpload(reg.url, repo);

    const first = await request('PATCH', session, {
      headers: { 'content-type': 'application/octet-stream', 'content-range': '0-9' },
      body: bytes.subarray(0, 10),
      expected: 202,
    });
    await first.arrayBuffer();
    assert.equal(first.headers.get('range'), '0-9');
    assert.ok(first.headers.get('location'), 'PATCH 202 without Location');
    assert.ok(first.headers.get('docker-upload-uuid'), 'PATCH 202 without Docker-Upload-UUID');
    session = resolveLocation(reg.url, first.headers.get('location') ?? '');

    session = await patchChunk(reg.url, session, bytes.subarray(10, 20), 10);

    const gap = await request('PATCH', session, {
      headers: { 'content-type': 'application/octet-stream', 'content-range': '25-29' },
      body: bytes.subarray(25, 30),
    });
    assert.equal(gap.status, 416, 'a chunk leaving a gap must be refused');
    await gap.arrayBuffer();
    const overlap = await request('PATCH', session, {
      headers: { 'content-type': 'application/octet-stream', 'content-range': '5-14' },
      body: bytes.subarray(5, 15),
    });
    assert.equal(overlap.status, 416, 'an overlapping chunk must be refused');
    await overlap.arrayBuffer();
    // A 416 should tell the client where to resume; if it does, it must be the unchanged offset.
    for (const refused of [gap, overlap]) {
      const range = refused.headers.get('range');
      if (range !== null) assert.equal(range, '0-19', '416 Range must report the unchanged offset');
    }

    const status = await request('GET', session, { expected: 204 });
    await status.arrayBuffer();
    assert.equal(status.headers.get('range'), '0-19', 'refused chunks must not move the offset');
    assert.ok(status.headers.get('docker-upload-uuid'));

    session = await patchChunk(reg.url, session, bytes.subarray(20, 30), 20);
    const after30 = await request('GET', session, { expected: 204 });
    await after30.arrayBuffer();
    assert.equal(after30.headers.get('range'), '0-29');

    const done = await finishUpload(reg.url, session, sha256(bytes), bytes.subarray(30));
    assert.equal(done.status, 201);
    await done.arrayBuffer();
    assert.deepEqual(await readBlob(repo, sha256(bytes)), bytes);
  });

  it('appends streamed PATCH bodies sent without Content-Range, then closes with a bodiless PUT', async () => {
    const repo = uniqueRepo('up');
    const bytes = randomBytes(3000);
    let session = await startUpload(reg.url, repo);
    for (const [start, end] of [[0, 1000], [1000, 3000]] as const) {
      const response = await request('PATCH', session, {
        headers: { 'content-type': 'application/octet-stream' },
        body: bytes.subarray(start, end),
        expected: 202,
      });
      await response.arrayBuffer();
      assert.equal(response.headers.get('range'), `0-${end - 1}`);
      session = resolveLocation(reg.url, response.headers.get('location') ?? '');
    }
    const done = await finishUpload(reg.url, session, sha256(bytes));
    assert.equal(done.status, 201);
    await done.arrayBuffer();
    assert.deepEqual(await readBlob(repo, sha256(bytes)), bytes);
  });

  it('accepts bodies sent with Transfer-Encoding: chunked (no Content-Length), in PATCH and monolithic POST', async () => {
    const repo = uniqueRepo('up');
    const bytes = randomBytes(10_000);
    const session = new URL(await startUpload(reg.url, repo));
    const patched = await rawRequest(reg.url, 'PATCH', `${session.pathname}${session.search}`, {
      headers: { 'content-type': 'application/octet-stream' },
      body: bytes,
      chunked: true,
    });
    assert.equal(patched.status, 202, patched.body.toString());
    assert.equal(patched.headers['range'], `0-${bytes.length - 1}`);
    const done = await finishUpload(reg.url, resolveLocation(reg.url, String(patched.headers['location'])), sha256(bytes));
    assert.equal(done.status, 201);
    await done.arrayBuffer();
    assert.deepEqual(await readBlob(repo, sha256(bytes)), bytes);

    const mono = randomBytes(5000);
    const posted = await rawRequest(reg.url, 'POST', `/v2/${repo}/blobs/uploads/?digest=${sha256(mono)}`, {
      headers: { 'content-type': 'application/octet-stream' },
      body: mono,
      chunked: true,
    });
    assert.equal(posted.status, 201, posted.body.toString());
    assert.deepEqual(await readBlob(repo, sha256(mono)), mono);
  });

  it('lets only one of two concurrent PATCHes for the same range in', async () => {
    const repo = uniqueRepo('up');
    const bytes = randomBytes(4096);
    const session = await startUpload(reg.url, repo);
    const send = () =>
      request('PATCH', session, {
        headers: { 'content-type': 'application/octet-stream', 'content-range': `0-${bytes.length - 1}` },
        body: bytes,
      }).then(async (response) => {
        await response.arrayBuffer();
        return response.status;
      });
    const statuses = (await Promise.all([send(), send()])).sort();
    assert.deepEqual(statuses, [202, 416]);
    const done = await finishUpload(reg.url, session, sha256(bytes));
    assert.equal(done.status, 201);
    await done.arrayBuffer();
    assert.deepEqual(await readBlob(repo, sha256(bytes)), bytes);
  });

  it('round-trips a 20 MiB blob pushed in 4 MiB chunks byte-exactly', async () => {
    const repo = uniqueRepo('up');
    const bytes = randomBytes(20 * 1024 * 1024);
    const pushed = await pushBlobChunked(reg.url, repo, bytes, 4 * 1024 * 1024);
    const response = await request('GET', `${reg.url}/v2/${repo}/blobs/${pushed.digest}`, { expected: 200 });
    assert.equal(response.headers.get('content-length'), String(bytes.length));
    const hash = createHash('sha256');
    let received = 0;
    for await (const chunk of response.body ?? []) {
      hash.update(chunk as Uint8Array);
      received += (chunk as Uint8Array).byteLength;
    }
    assert.equal(received, bytes.length);
    assert.equal(`sha256:${hash.digest('hex')}`, pushed.digest);
  });
});

describe('closing and cancelling upload sessions', () => {
  it('refuses PUT with a wrong digest (400 DIGEST_INVALID) and exposes nothing under either digest', async () => {
    const repo = uniqueRepo('up');
    const bytes = randomBytes(500);
    const session = await patchChunk(reg.url, await startUpload(reg.url, repo), bytes, 0);
    const wrong = randomDigest();
    await assertOciError(await finishUpload(reg.url, session, wrong), 400, 'DIGEST_INVALID', 'PUT wrong digest');
    assert.equal(await blobStatus(repo, wrong), 404);
    assert.equal(await blobStatus(repo, sha256(bytes)), 404);
  });

  it('refuses PUT without ?digest= with 400', async () => {
    const repo = uniqueRepo('up');
    const session = await patchChunk(reg.url, await startUpload(reg.url, repo), randomBytes(10), 0);
    const response = await request('PUT', session, { headers: { 'content-type': 'application/octet-stream' }, body: new Uint8Array(0) });
    await assertOciError(response, 400, ['DIGEST_INVALID', 'BLOB_UPLOAD_INVALID'], 'PUT without digest');
  });

  it('cancels a session with DELETE (204); the session is then unknown', async () => {
    const repo = uniqueRepo('up');
    const session = await patchChunk(reg.url, await startUpload(reg.url, repo), randomBytes(10), 0);
    const cancel = await request('DELETE', session, { expected: 204 });
    await cancel.arrayBuffer();
    await assertOciError(await request('GET', session), 404, 'BLOB_UPLOAD_UNKNOWN', 'GET cancelled session');
    await assertOciError(
      await request('PATCH', session, { headers: { 'content-type': 'application/octet-stream' }, body: randomBytes(5) }),
      404,
      'BLOB_UPLOAD_UNKNOWN',
      'PATCH cancelled session',
    );
  });

  it('answers unknown session ids with 404 BLOB_UPLOAD_UNKNOWN on every method', async () => {
    const repo = uniqueRepo('up');
    await pushBlob(reg.url, repo, randomBytes(8));
    const session = `${reg.url}/v2/${repo}/blobs/uploads/${randomUUID()}`;
    await assertOciError(await request('GET', session), 404, 'BLOB_UPLOAD_UNKNOWN', 'GET');
    await assertOciError(
      await request('PATCH', session, { headers: { 'content-type': 'application/octet-stream' }, body: randomBytes(5) }),
      404,
      'BLOB_UPLOAD_UNKNOWN',
      'PATCH',
    );
    await assertOciError(await request('PUT', `${session}?digest=${randomDigest()}`), 404, 'BLOB_UPLOAD_UNKNOWN', 'PUT');
    await assertOciError(await request('DELETE', session), 404, 'BLOB_UPLOAD_UNKNOWN', 'DELETE');
  });

  it('does not let another repository use a session', async () => {
    const repoA = uniqueRepo('up');
    const repoB = uniqueRepo('up');
    const session = new URL(await startUpload(reg.url, repoA));
    const id = session.pathname.split('/').pop() ?? '';
    await assertOciError(await request('GET', `${reg.url}/v2/${repoB}/blobs/uploads/${id}`), 404, 'BLOB_UPLOAD_UNKNOWN', 'foreign session');
  });
});

describe('digests and edge cases', () => {
  it('pushes and serves a sha512 blob', async () => {
    const repo = uniqueRepo('up');
    const pushed = await pushBlob(reg.url, repo, randomBytes(777), 'sha512');
    assert.equal(pushed.digest, sha512(pushed.bytes));
    const response = await request('GET', `${reg.url}/v2/${repo}/blobs/${pushed.digest}`, { expected: 200 });
    assert.deepEqual(Buffer.from(await response.arrayBuffer()), pushed.bytes);
    assert.equal(response.headers.get('docker-content-digest'), pushed.digest);
  });

  it('accepts the same blob pushed concurrently to one repository', async () => {
    const repo = uniqueRepo('up');
    const bytes = randomBytes(256 * 1024);
    await Promise.all(Array.from({ length: 4 }, () => pushBlob(reg.url, repo, bytes)));
    assert.deepEqual(await readBlob(repo, sha256(bytes)), bytes);
  });

  it('refuses uploads to an invalid repository name with 400 NAME_INVALID', async () => {
    await assertOciError(await request('POST', `${reg.url}/v2/Not_Valid/blobs/uploads/`), 400, 'NAME_INVALID', 'POST invalid name');
  });

  it('accepts the same blob pushed twice, monolithic then chunked', async () => {
    const repo = uniqueRepo('up');
    const bytes = randomBytes(1500);
    await pushBlob(reg.url, repo, bytes);
    await pushBlob(reg.url, repo, bytes);
    await pushBlobChunked(reg.url, repo, bytes, 700);
    assert.deepEqual(await readBlob(repo, sha256(bytes)), bytes);
  });

  it('handles a 0-byte blob, monolithic and through a session', async () => {
    const repo = uniqueRepo('up');
    const empty = new Uint8Array(0);
    const digest = sha256(empty);
    assert.equal(digest, 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    await pushBlob(reg.url, repo, empty);
    const response = await request('GET', `${reg.url}/v2/${repo}/blobs/${digest}`, { expected: 200 });
    assert.equal(response.headers.get('content-length'), '0');
    assert.equal((await response.arrayBuffer()).byteLength, 0);

    const repo2 = uniqueRepo('up');
    const done = await finishUpload(reg.url, await startUpload(reg.url, repo2), digest);
    assert.equal(done.status, 201);
    await done.arrayBuffer();
    assert.equal(await blobStatus(repo2, digest), 200);
  });
});

describe('cross-repository mount', () => {
  it('mounts a blob the source repository has: 201, then readable in the target', async () => {
    const source = uniqueRepo('mount');
    const target = uniqueRepo('mount');
    const blob = await pushBlob(reg.url, source, randomBytes(256));
    assert.equal(await blobStatus(target, blob.digest), 404);
    const response = await request('POST', `${reg.url}/v2/${target}/blobs/uploads/?mount=${blob.digest}&from=${source}`, { expected: 201 });
    await response.arrayBuffer();
    assert.equal(new URL(response.headers.get('location') ?? '', `${reg.url}/`).pathname, `/v2/${target}/blobs/${blob.digest}`);
    assert.equal(response.headers.get('docker-content-digest'), blob.digest);
    assert.deepEqual(await readBlob(target, blob.digest), blob.bytes);
  });

  it('falls back to a new session (202) when the blob is unknown, and that session works', async () => {
    const target = uniqueRepo('mount');
    const source = uniqueRepo('mount');
    await pushBlob(reg.url, source, randomBytes(16));
    const bytes = randomBytes(64);
    const response = await request('POST', `${reg.url}/v2/${target}/blobs/uploads/?mount=${sha256(bytes)}&from=${source}`, { expected: 202 });
    await response.arrayBuffer();
    const location = response.headers.get('location');
    assert.ok(location, '202 without Location');
    const done = await finishUpload(reg.url, resolveLocation(reg.url, location), sha256(bytes), bytes);
    assert.equal(done.status, 201);
    await done.arrayBuffer();
    assert.deepEqual(await readBlob(target, sha256(bytes)), bytes);
  });

  it('does not mount from a repository that does not hold the blob (202, blob stays invisible)', async () => {
    const owner = uniqueRepo('mount');
    const bystander = uniqueRepo('mount');
    const target = uniqueRepo('mount');
    const blob = await pushBlob(reg.url, owner, randomBytes(128));
    await pushBlob(reg.url, bystander, randomBytes(16));
    const response = await request('POST', `${reg.url}/v2/${target}/blobs/uploads/?mount=${blob.digest}&from=${bystander}`, { expected: 202 });
    await response.arrayBuffer();
    assert.ok(response.headers.get('location'));
    assert.equal(await blobStatus(target, blob.digest), 404, 'a mount must not leak a blob the `from` repository does not have');
  });
});
