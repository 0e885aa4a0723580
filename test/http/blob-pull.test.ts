import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { assertOciError, pushBlob, randomDigest, rawExchange, rawRequest, request, uniqueRepo, type PushedBlob } from '../support/oci-client.js';
import { startRegistry, type RunningRegistry } from '../support/registry-server.js';

let reg: RunningRegistry;
let repo: string;
let blob: PushedBlob;
let blobUrl: string;

before(async () => {
  reg = await startRegistry();
  repo = uniqueRepo('pull');
  blob = await pushBlob(reg.url, repo, randomBytes(1000));
  blobUrl = `${reg.url}/v2/${repo}/blobs/${blob.digest}`;
});
after(() => reg.close());

async function getRange(range: string): Promise<{ status: number; headers: Headers; body: Buffer }> {
  const response = await request('GET', blobUrl, { headers: { range } });
  return { status: response.status, headers: response.headers, body: Buffer.from(await response.arrayBuffer()) };
}

describe('GET /v2/<name>/blobs/<digest>', () => {
  it('returns the exact bytes with Content-Length, Docker-Content-Digest, ETag and octet-stream type', async () => {
    const response = await request('GET', blobUrl, { expected: 200 });
    const body = Buffer.from(await response.arrayBuffer());
    assert.deepEqual(body, blob.bytes);
    assert.equal(response.headers.get('content-length'), '1000');
    assert.equal(response.headers.get('docker-content-digest'), blob.digest);
    assert.equal(response.headers.get('content-type'), 'application/octet-stream');
    assert.ok(response.headers.get('etag'), 'ETag header missing');
    // fetch asked for gzip/br; the registry must still send the stored bytes, or digests break.
    assert.equal(response.headers.get('content-encoding'), null);
  });

  it('answers HEAD with the same headers and not a single body byte on the wire', async () => {
    const get = await request('GET', blobUrl, { expected: 200 });
    await get.arrayBuffer();
    const head = await rawExchange(reg.url, 'HEAD', `/v2/${repo}/blobs/${blob.digest}`);
    assert.match(head.statusLine, /^HTTP\/1\.1 200/);
    assert.equal(head.headers['content-length'], '1000');
    assert.equal(head.headers['docker-content-digest'], blob.digest);
    assert.equal(head.headers['etag'], get.headers.get('etag'));
    assert.equal(head.headers['content-type'], 'application/octet-stream');
    assert.equal(head.afterHead.length, 0, `HEAD sent ${head.afterHead.length} body bytes`);
  });

  it('serves a closed byte range with 206 and Content-Range', async () => {
    const part = await getRange('bytes=0-99');
    assert.equal(part.status, 206);
    assert.equal(part.headers.get('content-range'), 'bytes 0-99/1000');
    assert.equal(part.headers.get('content-length'), '100');
    assert.deepEqual(part.body, blob.bytes.subarray(0, 100));
    const middle = await getRange('bytes=500-500');
    assert.equal(middle.status, 206);
    assert.deepEqual(middle.body, blob.bytes.subarray(500, 501));
  });

  it('serves open-ended, suffix and over-long ranges (resumable pull)', async () => {
    const open = await getRange('bytes=900-');
    assert.equal(open.status, 206);
    assert.equal(open.headers.get('content-range'), 'bytes 900-999/1000');
    assert.deepEqual(open.body, blob.bytes.subarray(900));
    const suffix = await getRange('bytes=-100');
    assert.equal(suffix.status, 206);
    assert.equal(suffix.headers.get('content-range'), 'bytes 900-999/1000');
    assert.deepEqual(suffix.body, blob.bytes.subarray(900));
    const clamped = await getRange('bytes=990-5000');
    assert.equal(clamped.status, 206);
    assert.equal(clamped.headers.get('content-range'), 'bytes 990-999/1000');
    assert.deepEqual(clamped.body, blob.bytes.subarray(990));
  });

  it('answers an unsatisfiable range with 416', async () => {
    const beyond = await getRange('bytes=1000-1100');
    assert.equal(beyond.status, 416);
    const contentRange = beyond.headers.get('content-range');
    if (contentRange !== null) assert.equal(contentRange, 'bytes */1000');
  });

  it('answers If-None-Match with the current ETag with 304 and no body', async () => {
    const first = await request('GET', blobUrl, { expected: 200 });
    await first.arrayBuffer();
    const etag = first.headers.get('etag') ?? '';
    const again = await request('GET', blobUrl, { headers: { 'if-none-match': etag } });
    assert.equal(again.status, 304);
    assert.equal((await again.arrayBuffer()).byteLength, 0);
    const other = await request('GET', blobUrl, { headers: { 'if-none-match': '"something-else"' } });
    assert.equal(other.status, 200);
    await other.arrayBuffer();
  });

  it('answers an unknown blob with 404 BLOB_UNKNOWN (and HEAD with a bare 404)', async () => {
    const digest = randomDigest();
    await assertOciError(await request('GET', `${reg.url}/v2/${repo}/blobs/${digest}`), 404, 'BLOB_UNKNOWN', 'GET unknown blob');
    const head = await rawRequest(reg.url, 'HEAD', `/v2/${repo}/blobs/${digest}`);
    assert.equal(head.status, 404);
    assert.equal(head.body.length, 0);
  });

  it('answers malformed digests with 400 DIGEST_INVALID', async () => {
    for (const digest of ['sha256:abc', 'notadigest', `sha256:${'G'.repeat(64)}`, `md5:${'a'.repeat(32)}`]) {
      await assertOciError(await request('GET', `${reg.url}/v2/${repo}/blobs/${digest}`), 400, 'DIGEST_INVALID', `GET blobs/${digest}`);
    }
  });

  it('answers an invalid repository name with 400 NAME_INVALID', async () => {
    await assertOciError(await request('GET', `${reg.url}/v2/Bad_Name/blobs/${blob.digest}`), 400, 'NAME_INVALID', 'uppercase repo');
  });

  it('does not serve a blob through a repository it was never pushed or mounted to', async () => {
    const other = uniqueRepo('pull');
    await pushBlob(reg.url, other, randomBytes(10)); // the other repository exists
    await assertOciError(await request('GET', `${reg.url}/v2/${other}/blobs/${blob.digest}`), 404, 'BLOB_UNKNOWN', 'cross-repo GET');
    const head = await rawRequest(reg.url, 'HEAD', `/v2/${other}/blobs/${blob.digest}`);
    assert.equal(head.status, 404);
    const neverSeen = uniqueRepo('pull');
    await assertOciError(await request('GET', `${reg.url}/v2/${neverSeen}/blobs/${blob.digest}`), 404, ['BLOB_UNKNOWN', 'NAME_UNKNOWN'], 'unknown repo');
  });

  it('serves blobs in multi-component repository names', async () => {
    const deep = `${uniqueRepo('pull')}/a.b/c-d/e__f`;
    const pushed = await pushBlob(reg.url, deep, randomBytes(33));
    const response = await request('GET', `${reg.url}/v2/${deep}/blobs/${pushed.digest}`, { expected: 200 });
    assert.deepEqual(Buffer.from(await response.arrayBuffer()), pushed.bytes);
  });
});
