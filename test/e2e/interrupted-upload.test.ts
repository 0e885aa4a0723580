import assert from 'node:assert/strict';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { createImageLayout } from '../support/oci-layout.js';
import { makeTempDir } from '../support/temp-dir.js';
import { requireTools, toolSkipReason } from '../support/tools.js';
import { startTestServer, type TestServer } from './berth-fixture.js';
import { absolute, createBlobSource, rawRequest, withDigest } from './blob-stream.js';
import { blobDataPath, checkDataDir, sha256File } from './data-dir-check.js';
import { dockerRef, skopeoCopy, skopeoCopyResult } from './skopeo.js';

/**
 * Uploads that outlive the server process: a client must be able to ask where its upload stands after a
 * restart and finish it, and the finished blob must be exactly the bytes sent.
 */

const mib = 1024 * 1024;

/** The offset a session's `Range: 0-<end>` header reports (0 for a missing header or an empty upload). */
function rangeEnd(range: string | string[] | undefined): number {
  const match = /^0-(\d+)$/.exec(String(range ?? ''));
  assert.ok(match, `Range header ${String(range)} is not 0-<end>`);
  return Number(match[1]) + 1;
}

async function assertBlobServed(server: TestServer, repo: string, digest: string, size: number): Promise<void> {
  const pulled = await rawRequest('GET', `${server.url}/v2/${repo}/blobs/${digest}`);
  assert.equal(pulled.status, 200);
  assert.equal(pulled.bodyBytes, size);
  assert.equal(pulled.bodyDigest, digest, 'the blob served is not the bytes uploaded');
  assert.equal(await sha256File(blobDataPath(server.dataDir, digest)), digest);
}

test('a chunked upload survives a graceful restart: status says half, the rest completes byte-exact', { timeout: 60_000 }, async (t) => {
  const server = await startTestServer(t);
  const repo = 'big/resume';
  const blob = createBlobSource(24 * mib);
  const half = 12 * mib;
  const digest = await blob.digest();

  const started = await rawRequest('POST', `${server.url}/v2/${repo}/blobs/uploads/`);
  assert.equal(started.status, 202, started.text);
  let session = absolute(server.url, started.headers.location);
  const first = await rawRequest(
    'PATCH',
    session,
    { 'content-type': 'application/octet-stream', 'content-range': `0-${half - 1}`, 'content-length': String(half) },
    blob.stream(0, half),
  );
  assert.equal(first.status, 202, first.text);
  assert.equal(rangeEnd(first.headers.range), half);
  session = absolute(server.url, first.headers.location);

  const exit = await server.restart('SIGTERM');
  assert.deepEqual(exit, { code: 0, signal: null }, 'SIGTERM must stop berth cleanly');

  const status = await rawRequest('GET', session);
  assert.equal(status.status, 204, `upload status after restart: ${status.text}`);
  assert.equal(rangeEnd(status.headers.range), half, 'the restarted server lost track of the bytes already received');
  session = absolute(server.url, status.headers.location ?? session);

  const rest = await rawRequest(
    'PATCH',
    session,
    { 'content-type': 'application/octet-stream', 'content-range': `${half}-${blob.size - 1}`, 'content-length': String(blob.size - half) },
    blob.stream(half),
  );
  assert.equal(rest.status, 202, rest.text);
  assert.equal(rangeEnd(rest.headers.range), blob.size);
  session = absolute(server.url, rest.headers.location);

  const done = await rawRequest('PUT', withDigest(session, digest), { 'content-length': '0' });
  assert.equal(done.status, 201, done.text);
  assert.equal(done.headers['docker-content-digest'], digest);
  await assertBlobServed(server, repo, digest, blob.size);
});

test('an upload cut mid-chunk by SIGKILL resumes from the offset the server reports', { timeout: 60_000 }, async (t) => {
  const server = await startTestServer(t);
  const repo = 'big/crash-resume';
  const blob = createBlobSource(48 * mib);
  const digest = await blob.digest();

  const started = await rawRequest('POST', `${server.url}/v2/${repo}/blobs/uploads/`);
  assert.equal(started.status, 202, started.text);
  const session = absolute(server.url, started.headers.location);
  const uploadsDir = join(server.dataDir, 'repositories', repo, '_uploads');

  // Kill the server once some, but not all, of the chunk is on disk.
  const cut = rawRequest('PATCH', session, { 'content-type': 'application/octet-stream' }, blob.stream()).then(
    (response) => response,
    (error: Error) => error,
  );
  const deadline = Date.now() + 20_000;
  for (;;) {
    const ids = await readdir(uploadsDir).catch(() => []);
    const size = ids[0] ? await stat(join(uploadsDir, ids[0], 'data')).then((s) => s.size, () => 0) : 0;
    if (size >= 4 * mib) break;
    assert.ok(Date.now() < deadline, 'the upload never reached 4 MiB on disk');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  await server.restart('SIGKILL');
  const outcome = await cut;
  // A cut request fails on the socket; a 202 would have to mean that all of it arrived.
  if (!(outcome instanceof Error) && outcome.status === 202) assert.equal(rangeEnd(outcome.headers.range), blob.size);

  const status = await rawRequest('GET', session);
  assert.equal(status.status, 204, `upload status after a crash: ${status.text}`);
  const offset = rangeEnd(status.headers.range);
  assert.ok(offset <= blob.size, `server claims ${offset} bytes of ${blob.size}`);
  t.diagnostic(`resuming at ${offset} of ${blob.size} bytes`);

  // Resume exactly where the server says it stands; the digest check on PUT proves those bytes were right.
  let resumed = absolute(server.url, status.headers.location ?? session);
  if (offset < blob.size) {
    const rest = await rawRequest(
      'PATCH',
      resumed,
      { 'content-type': 'application/octet-stream', 'content-range': `${offset}-${blob.size - 1}`, 'content-length': String(blob.size - offset) },
      blob.stream(offset),
    );
    assert.equal(rest.status, 202, rest.text);
    resumed = absolute(server.url, rest.headers.location);
  }
  const done = await rawRequest('PUT', withDigest(resumed, digest), { 'content-length': '0' });
  assert.equal(done.status, 201, `PUT after resuming at ${offset}: ${done.text}`);
  await assertBlobServed(server, repo, digest, blob.size);
});

test('skopeo --retry-times finishes a large push across a server restart', { skip: toolSkipReason('skopeo'), timeout: 120_000 }, async (t) => {
  requireTools('skopeo');
  const server = await startTestServer(t);
  const work = await makeTempDir(t);
  // One 96 MiB plain-tar layer: big enough to be caught in flight, no gzip CPU on this small machine.
  const image = await createImageLayout(join(work, 'layout'), { tag: 'big', layers: [{ bytes: 96 * mib, files: 2, compress: false }] });
  const ref = dockerRef(server.host, 'big/skopeo', 'v1');

  const push = skopeoCopyResult(image.ref, ref, ['--preserve-digests', '--retry-times', '3'], { timeoutMs: 100_000 });
  const uploads = join(server.dataDir, 'repositories', 'big', 'skopeo', '_uploads');
  const deadline = Date.now() + 30_000;
  let seen = 0;
  while (seen < 8 * mib) {
    assert.ok(Date.now() < deadline, 'the push never started uploading');
    const ids = await readdir(uploads).catch(() => []);
    for (const id of ids) seen = Math.max(seen, await stat(join(uploads, id, 'data')).then((s) => s.size, () => 0));
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const before = server.berth;
  const exit = await server.restart('SIGTERM');
  assert.deepEqual(exit, { code: 0, signal: null });
  assert.ok(before.logLines().some((line) => line.msg === 'stopped'), 'no "stopped" log line after SIGTERM');

  const result = await push;
  assert.equal(result.code, 0, `skopeo did not finish the push after the restart:\n${result.stderr}`);
  // Otherwise the push finished before the stop and this test proved nothing about restarts.
  assert.match(result.stderr, /retrying/i, 'skopeo was never interrupted by the restart');
  const out = join(work, 'out');
  await skopeoCopy(ref, `dir:${out}`, ['--preserve-digests']);
  assert.deepEqual(await readFile(join(out, 'manifest.json')), image.manifestBytes);
  const layer = image.layers[0];
  assert.ok(layer);
  assert.equal(await sha256File(join(out, layer.digest.slice(7))), layer.digest);
  const report = await checkDataDir(server.dataDir);
  assert.deepEqual(report.problems, []);
});
