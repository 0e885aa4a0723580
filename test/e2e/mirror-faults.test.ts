import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { test } from 'node:test';
import { startDistribution } from '../support/distribution.js';
import { createImageLayout } from '../support/oci-layout.js';
import { makeTempDir } from '../support/temp-dir.js';
import { requireTools, toolSkipReason } from '../support/tools.js';
import { pushImage, startFront } from '../mirror/fixtures.js';
import { sha256File } from './data-dir-check.js';
import { skopeoCopy } from './skopeo.js';
import { blobFileExists, hashGet, startMirror } from './mirror-fixture.js';

/**
 * The upstream dies in the middle of a blob: a node:http proxy in front of docker-registry forwards the
 * headers and the first bytes, then destroys the socket. The client must see an error, Berth must keep
 * nothing (no blob, no leftover upload), and once the upstream is back the same pull must succeed.
 */

const tools = ['docker-registry', 'skopeo'] as const;

async function entries(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

test('an upstream cut mid-blob leaves no cached blob, and the pull succeeds once it is back', { skip: toolSkipReason(...tools), timeout: 90_000 }, async (t) => {
  requireTools(...tools);
  const dist = await startDistribution({ logLevel: 'warn' });
  t.after(() => dist.stop());
  const image = await createImageLayout(await makeTempDir(t), { tag: '1', layers: [{ bytes: 6 * 1024 * 1024, compress: false }] });
  await pushImage(image.ref, dist.host, 'library/cut:1');
  const layer = image.layers[0];
  assert.ok(layer);

  const cutAt = 1024 * 1024;
  const dying = await startFront(t, { target: dist.url, cutBlobsAfterBytes: cutAt });
  const mirror = await startMirror(t, { upstreams: [{ name: 'up', url: dying.url }] });
  const blobUrl = `${mirror.url}/v2/up/library/cut/blobs/${layer.digest}`;

  // The client sees the stream break, never a "complete" short blob.
  const outcome = await hashGet(blobUrl).then(
    (answer) => `completed with ${answer.bytes} of ${layer.size} bytes (status ${answer.status})`,
    (error: unknown) => `failed: ${(error as Error).message}`,
  );
  assert.match(outcome, /^failed: /, outcome);
  assert.ok(dying.requests.some((seen) => seen.path.endsWith(layer.digest)), 'the blob was asked of the upstream');

  // Berth logs the failed fetch once it has cleaned up; then nothing of the blob may be left anywhere.
  await mirror.berth.waitForLog((line) => line.msg === 'blob fetch from upstream failed: nothing cached' && line.digest === layer.digest);
  assert.equal(await blobFileExists(mirror.dataDir, layer.digest), false, 'no blob file for the digest');
  assert.deepEqual(await entries(join(mirror.dataDir, 'repositories', 'up', 'library', 'cut', '_uploads')), [], 'no leftover upload');
  assert.deepEqual(await entries(join(mirror.dataDir, 'repositories', 'up', 'library', 'cut', '_layers', 'sha256')), [], 'no layer link');

  // The upstream comes back where it was (same port, nothing cut): the same pull now works.
  await dying.close();
  const healthy = await startFront(t, { target: dist.url, port: dying.port });
  await skopeoCopy(`docker://${mirror.host}/up/library/cut:1`, `oci:${await makeTempDir(t)}:1`);
  assert.ok(healthy.requests.some((seen) => seen.path.endsWith(layer.digest)));
  const hex = layer.digest.slice('sha256:'.length);
  await waitForBlobFile(mirror.dataDir, layer.digest);
  assert.equal(await sha256File(join(mirror.dataDir, 'blobs', 'sha256', hex.slice(0, 2), hex, 'data')), layer.digest, 'the cached blob is whole');
});

test('docker-registry killed while a blob streams: the client fails, nothing is cached, a restart heals', { skip: toolSkipReason(...tools), timeout: 90_000 }, async (t) => {
  requireTools(...tools);
  const dist = await startDistribution({ logLevel: 'warn' });
  t.after(() => dist.stop());
  const image = await createImageLayout(await makeTempDir(t), { tag: '1', layers: [{ bytes: 64 * 1024 * 1024, compress: false }] });
  await pushImage(image.ref, dist.host, 'library/killed:1');
  const layer = image.layers[0];
  assert.ok(layer);
  // In front of the registry: once 2 MiB of the blob went through, the registry process gets SIGKILL.
  let killed = false;
  const front = await startFront(t, {
    target: dist.url,
    handle: (req, res) => {
      if (req.method !== 'GET' || !req.url?.endsWith(layer.digest)) return false;
      const forward = httpRequest(new URL(req.url, dist.url), { headers: { ...req.headers, host: dist.host } }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        let sent = 0;
        answer.on('data', (chunk: Buffer) => {
          sent += chunk.length;
          if (!killed && sent >= 2 * 1024 * 1024) {
            killed = true;
            dist.kill();
          }
        });
        answer.on('error', () => res.destroy());
        answer.on('aborted', () => res.destroy());
        answer.pipe(res);
      });
      forward.on('error', () => res.destroy());
      forward.end();
      return true;
    },
  });
  const mirror = await startMirror(t, { upstreams: [{ name: 'up', url: front.url }] });
  const pending = hashGet(`${mirror.url}/v2/up/library/killed/blobs/${layer.digest}`).then(
    (answer) => `completed with ${answer.bytes} of ${layer.size} bytes`,
    (error: unknown) => `failed: ${(error as Error).message}`,
  );
  const outcome = await pending;
  assert.ok(killed, 'the registry was killed mid-blob');
  assert.match(outcome, /^failed: /, outcome);
  await mirror.berth.waitForLog((line) => line.msg === 'blob fetch from upstream failed: nothing cached' && line.digest === layer.digest);
  assert.equal(await blobFileExists(mirror.dataDir, layer.digest), false);
  await dist.restart();
  const again = await hashGet(`${mirror.url}/v2/up/library/killed/blobs/${layer.digest}`);
  assert.deepEqual(again, { status: 200, digest: layer.digest, bytes: layer.size });
  // The client has every byte before Berth's own digest check, fsync and commit end: wait for those.
  await waitForBlobFile(mirror.dataDir, layer.digest);
});

async function waitForBlobFile(dataDir: string, digest: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await blobFileExists(dataDir, digest))) {
    assert.ok(Date.now() < deadline, `blob ${digest} was not committed within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
