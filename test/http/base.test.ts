import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { assertOciError, makeImage, pushBlob, rawRequest, request, uniqueRepo } from '../support/oci-client.js';
import { startRegistry, type RunningRegistry } from '../support/registry-server.js';

let reg: RunningRegistry;
before(async () => {
  reg = await startRegistry();
});
after(() => reg.close());

describe('GET /v2/ (API version check)', () => {
  it('answers 200 with Docker-Distribution-API-Version: registry/2.0', async () => {
    const response = await request('GET', `${reg.url}/v2/`, { expected: 200 });
    await response.arrayBuffer();
    assert.equal(response.headers.get('docker-distribution-api-version'), 'registry/2.0');
  });

  it('answers HEAD /v2/ with 200 too (clients probe with either)', async () => {
    const response = await rawRequest(reg.url, 'HEAD', '/v2/');
    assert.equal(response.status, 200);
    assert.equal(response.headers['docker-distribution-api-version'], 'registry/2.0');
  });
});

describe('bad input is refused without crashing the server', () => {
  it('answers unknown /v2 endpoints with 404 and an OCI error body', async () => {
    for (const path of ['/v2/some/repo/not-an-endpoint', '/v2/some/repo/blobs', '/v2/_nothing', '/v2/repo/manifests/']) {
      const response = await rawRequest(reg.url, 'GET', path);
      await assertOciError(response, [400, 404], ['NAME_UNKNOWN', 'NAME_INVALID', 'UNSUPPORTED', 'MANIFEST_UNKNOWN', 'UNKNOWN'], `GET ${path}`);
    }
  });

  it('answers a wrong method on a known endpoint with 405 UNSUPPORTED (or 404)', async () => {
    const repo = uniqueRepo('base');
    const image = await makeImage(reg.url, repo, { tag: 'v1' });
    const cases: [string, string][] = [
      ['POST', `/v2/${repo}/manifests/v1`],
      ['PATCH', `/v2/${repo}/tags/list`],
      ['PUT', `/v2/${repo}/blobs/${image.config.digest}`],
      ['DELETE', '/v2/'],
    ];
    for (const [method, path] of cases) {
      const response = await rawRequest(reg.url, method, path);
      assert.ok([404, 405].includes(response.status), `${method} ${path} -> ${response.status} ${response.body.toString().slice(0, 200)}`);
      if (response.status === 405) await assertOciError(response, 405, 'UNSUPPORTED', `${method} ${path}`);
    }
    // None of those may have changed anything: the image is still there.
    const still = await request('GET', `${reg.url}/v2/${repo}/manifests/v1`, { headers: { accept: image.mediaType }, expected: 200 });
    assert.deepEqual(Buffer.from(await still.arrayBuffer()), image.bytes);
  });

  it('refuses invalid repository names with 400 NAME_INVALID', async () => {
    const digest = `sha256:${'a'.repeat(64)}`;
    for (const name of ['UpperCase', 'trailing-', 'a//b', `${'a'.repeat(256)}`]) {
      const response = await rawRequest(reg.url, 'GET', `/v2/${name}/blobs/${digest}`);
      await assertOciError(response, [400, 404], ['NAME_INVALID', 'NAME_UNKNOWN', 'BLOB_UNKNOWN'], `GET /v2/${name.slice(0, 20)}…/blobs`);
      // A name the grammar rejects must never be treated as an existing repository.
      if (name === 'UpperCase') await assertOciError(response, 400, 'NAME_INVALID', 'uppercase name');
    }
  });

  it('refuses path traversal in names, tags and digests without touching files outside the data dir', async () => {
    const attempts: [string, string][] = [
      ['GET', '/v2/../../etc/passwd/manifests/x'],
      ['GET', '/v2/%2e%2e/%2e%2e/%2e%2e/etc/manifests/passwd'],
      ['GET', '/v2/repo/..%2f..%2f..%2foutside.txt/manifests/latest'],
      ['GET', '/v2/repo/manifests/..%2f..%2f..%2f..%2foutside.txt'],
      ['GET', '/v2/repo/blobs/sha256:..%2f..%2f..%2f..%2foutside.txt'],
      ['GET', '/v2/repo/blobs/..%2F..%2F..%2Foutside.txt'],
      ['PUT', '/v2/..%2f..%2fescaped/manifests/latest'],
      ['PUT', '/v2/repo/manifests/..%2f..%2f..%2f..%2fescaped'],
      ['POST', '/v2/%2e%2e%2f%2e%2e%2fescaped/blobs/uploads/'],
      ['PATCH', '/v2/repo/blobs/uploads/..%2f..%2f..%2f..%2fescaped'],
      ['GET', '/v2/repo/blobs/uploads/..%2f..%2f..%2f..%2foutside.txt'],
      ['GET', '/v2/repo/tags/list?last=..%2f..%2f..%2f..%2foutside.txt'],
      ['GET', '/v2/%zz/manifests/latest'],
    ];
    for (const [method, path] of attempts) {
      const body = method === 'PUT' || method === 'PATCH' ? Buffer.from('{"schemaVersion":2}') : undefined;
      const response = await rawRequest(reg.url, method, path, { body, headers: body ? { 'content-type': 'application/octet-stream' } : {} });
      const where = `${method} ${path} -> ${response.status} ${response.body.toString().slice(0, 200)}`;
      if (path.startsWith('/v2/repo/tags/list')) assert.ok([200, 400, 404].includes(response.status), where);
      else assert.ok([400, 404, 405].includes(response.status), where);
      assert.ok(!response.body.toString('utf8').includes(reg.sentinelText), `sentinel leaked: ${where}`);
    }
    // Nothing new appeared next to the data dir (only `data` and the sentinel live there).
    assert.deepEqual((await readdir(reg.rootDir)).sort(), ['data', 'outside.txt']);
    const alive = await request('GET', `${reg.url}/v2/`, { expected: 200 });
    await alive.arrayBuffer();
  });

  it('answers odd headers and query strings with a 4xx or a success, never a 5xx', async () => {
    const repo = uniqueRepo('base');
    const image = await makeImage(reg.url, repo, { tag: 'v1' });
    const session = new URL((await request('POST', `${reg.url}/v2/${repo}/blobs/uploads/`, { expected: 202 })).headers.get('location') ?? '', `${reg.url}/`);
    const sessionPath = `${session.pathname}${session.search}`;
    const blobPath = `/v2/${repo}/blobs/${image.config.digest}`;
    const cases: [string, string, Record<string, string>, Buffer?][] = [
      ['GET', blobPath, { range: 'bytes=abc' }],
      ['GET', blobPath, { range: 'bytes=5-2' }],
      ['GET', blobPath, { range: 'bytes=0-1,5-6' }],
      ['GET', blobPath, { range: 'items=0-1' }],
      ['GET', `/v2/${repo}/tags/list?n=abc`, {}],
      ['GET', `/v2/${repo}/tags/list?n=-1`, {}],
      ['GET', `/v2/${repo}/tags/list?n=99999999999999999999`, {}],
      ['GET', '/v2/_catalog?n=-5&last=%00', {}],
      ['GET', `/v2/${repo}/manifests/v1`, { accept: 'garbage/*;;;q=x' }],
      ['POST', `/v2/${repo}/blobs/uploads/?mount=sha256:zz&from=${repo}`, {}],
      ['POST', `/v2/${repo}/blobs/uploads/?mount=${image.config.digest}&from=NOT..valid`, {}],
      ['POST', `/v2/${repo}/blobs/uploads/?digest=bogus`, { 'content-type': 'application/octet-stream' }, Buffer.from('x')],
      ['PATCH', sessionPath, { 'content-type': 'application/octet-stream', 'content-range': 'abc' }, Buffer.from('abc')],
      ['PATCH', sessionPath, { 'content-type': 'application/octet-stream', 'content-range': '5-2' }, Buffer.from('abc')],
      ['PATCH', sessionPath, { 'content-type': 'application/octet-stream', 'content-range': '0-99' }, Buffer.from('abc')],
      ['PUT', `${sessionPath}${session.search ? '&' : '?'}digest=sha256:zz`, {}],
      ['PUT', `/v2/${repo}/manifests/v2`, {}, Buffer.from(image.bytes)],
      ['PUT', `/v2/${repo}/manifests/v2`, { 'content-type': 'application/json' }, Buffer.from('')],
      ['DELETE', `/v2/${repo}/manifests/sha256:zz`, {}],
      ['GET', `/v2/${repo}/referrers/${image.digest}?artifactType=%ff%fe`, {}],
    ];
    for (const [method, path, headers, body] of cases) {
      const response = await rawRequest(reg.url, method, path, { headers, body });
      assert.ok(response.status < 500, `${method} ${path} ${JSON.stringify(headers)} -> ${response.status} ${response.body.toString().slice(0, 200)}`);
    }
    const alive = await request('GET', `${reg.url}/v2/${repo}/manifests/v1`, { headers: { accept: image.mediaType }, expected: 200 });
    await alive.arrayBuffer();
  });

  it('keeps serving after a client hangs up in the middle of a PATCH', async () => {
    const repo = uniqueRepo('base');
    const post = await request('POST', `${reg.url}/v2/${repo}/blobs/uploads/`, { expected: 202 });
    await post.arrayBuffer();
    const session = new URL(post.headers.get('location') ?? '', `${reg.url}/`);
    const port = Number(new URL(reg.url).port);
    // Announce 1 MiB, send 10 bytes, then drop the connection.
    await new Promise<void>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.write(`PATCH ${session.pathname}${session.search} HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
          'Content-Type: application/octet-stream\r\nContent-Length: 1048576\r\n\r\n0123456789');
        setTimeout(() => {
          socket.destroy();
          resolve();
        }, 50);
      });
      socket.on('error', () => resolve());
    });
    const alive = await request('GET', `${reg.url}/v2/`, { expected: 200 });
    await alive.arrayBuffer();
    // The session is still usable or cleanly unknown; either way the server answers.
    const status = await request('GET', session.toString());
    await status.arrayBuffer();
    assert.ok([204, 404].includes(status.status), `GET session after abort -> ${status.status}`);
  });
});

describe('shutdown', () => {
  it('close() returns promptly although the client keeps its connections alive', async (t) => {
    // fetch keeps sockets open; a registry that waits for them makes app quit and every restart slow.
    for (let attempt = 0; attempt < 10; attempt++) {
      const fresh = await startRegistry(t);
      const blob = await pushBlob(fresh.url, 'shutdown/app', Buffer.from(`attempt ${attempt}`));
      const response = await request('GET', `${fresh.url}/v2/shutdown/app/blobs/${blob.digest}`, { expected: 200 });
      await response.arrayBuffer();
      const started = Date.now();
      let timer: NodeJS.Timeout | undefined;
      const outcome = await Promise.race([
        fresh.registry.close().then(() => 'closed' as const),
        new Promise<'timeout'>((resolve) => {
          timer = setTimeout(() => resolve('timeout'), 1500);
        }),
      ]);
      clearTimeout(timer);
      if (outcome === 'timeout') fresh.server.closeAllConnections(); // unblock, then report
      assert.equal(outcome, 'closed', `registry.close() still pending after ${Date.now() - started} ms with an idle keep-alive client`);
    }
  });
});
