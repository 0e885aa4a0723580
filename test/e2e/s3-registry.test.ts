import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createS3Driver, type S3StorageDriver } from '../../registry/storage/s3-driver.js';
import { patchChunk, request, sha256, startUpload } from '../support/oci-client.js';
import { blobPath, createImageLayout } from '../support/oci-layout.js';
import { startRegistry } from '../support/registry-server.js';
import { radosgwSkipReason, requireRadosgw, startRadosgw, type RadosgwServer } from '../support/services/radosgw.js';
import { makeTempDir } from '../support/temp-dir.js';
import { requireTools, toolSkipReason } from '../support/tools.js';
import { radosgwDriverOptions } from '../storage/s3-backend.js';
import { sha256File } from './data-dir-check.js';
import { dockerRef, skopeoCopy, skopeoInspectRaw } from './skopeo.js';

/**
 * The registry over the S3 driver end to end: `createRegistry({ dataDir, driver })` on a real radosgw serves a
 * skopeo push and pull byte-exact with nothing of the image in the data directory, and a chunked upload whose
 * PATCHes land on two registry instances over one bucket (two nodes) completes on either.
 */
const MiB = 1024 * 1024;

describe('registry on the S3 driver (radosgw)', { skip: radosgwSkipReason(), timeout: 10 * 60_000 }, () => {
  let server: RadosgwServer;
  const drivers: S3StorageDriver[] = [];
  const openDriver = async (): Promise<S3StorageDriver> => {
    const driver = await createS3Driver(radosgwDriverOptions(server));
    drivers.push(driver);
    return driver;
  };
  before(async () => {
    requireRadosgw();
    server = await startRadosgw();
  });
  after(async () => {
    for (const driver of drivers) driver.close();
    await server?.stop();
  });

  test('skopeo pushes and pulls a multi-layer image byte-exact; the image lives in the bucket, not the data directory', { skip: toolSkipReason('skopeo'), timeout: 180_000 }, async (t) => {
    requireTools('skopeo');
    const registry = await startRegistry(t, { driver: await openDriver() });
    const work = await makeTempDir(t);
    const image = await createImageLayout(join(work, 'layout'), {
      tag: 'v1',
      // Around the S3 driver's limits: under one 5 MiB part, several 16 MiB parts, plain tar (no re-compression).
      layers: [{ bytes: 600 * 1024, files: 20 }, { bytes: 40 * MiB, compress: false }, { bytes: 7 * MiB, compress: false }],
    });
    const host = new URL(registry.url).host;
    const ref = dockerRef(host, 'team/app', 'v1');
    await skopeoCopy(image.ref, ref, ['--preserve-digests']);
    assert.deepEqual(await skopeoInspectRaw(ref), image.manifestBytes);

    // Another node (a second registry on the same bucket) serves the pull.
    const other = await startRegistry(t, { driver: await openDriver() });
    const pulled = join(work, 'pulled');
    await skopeoCopy(dockerRef(new URL(other.url).host, 'team/app', 'v1'), `dir:${pulled}`);
    assert.deepEqual(await readFile(join(pulled, 'manifest.json')), image.manifestBytes);
    for (const blob of [image.config, ...image.layers]) {
      assert.equal(await sha256File(join(pulled, blob.digest.replace('sha256:', ''))), await sha256File(blobPath(image.dir, blob.digest)), blob.digest);
    }
    // Only the node's own metadata index (derived from the bucket's link files) and its pull records live on local disk.
    // Only metadata: the index, the pull records and the trash (SQLite, as no shared database was given).
    assert.deepEqual((await readdir(registry.dataDir)).sort(), ['index', 'trash', 'usage'], 'no blob, link or upload in the data directory');

    const result = await registry.registry.collectGarbage({ graceMs: 0 });
    assert.equal(result.blobsDeleted, 0, 'garbage collection over S3 keeps every referenced blob');
    await skopeoCopy(ref, `dir:${join(work, 'after-gc')}`);
  });

  test('a chunked upload whose PATCHes land on two nodes completes on either, byte-exact', { timeout: 120_000 }, async (t) => {
    requireRadosgw();
    const nodes = [await startRegistry(t, { driver: await openDriver() }), await startRegistry(t, { driver: await openDriver() })];
    const on = (index: number, session: string) => `${nodes[index]?.url}${new URL(session).pathname}${new URL(session).search}`;
    const bytes = Buffer.concat([Buffer.alloc(6 * MiB, 1), Buffer.alloc(3 * MiB, 2), Buffer.alloc(MiB + 5, 3)]);
    const chunks = [bytes.subarray(0, 6 * MiB), bytes.subarray(6 * MiB, 9 * MiB), bytes.subarray(9 * MiB)];
    let session = await startUpload(nodes[0]?.url as string, 'team/chunked');
    let offset = 0;
    for (const [index, chunk] of chunks.entries()) {
      const node = index % 2;
      session = await patchChunk(nodes[node]?.url as string, on(node, session), chunk, offset);
      offset += chunk.length;
      // The other node reports the same offset: the upload's state is in S3, not in the node that took the chunk.
      const status = await request('GET', on(1 - node, session), { expected: 204 });
      assert.equal(status.headers.get('range'), `0-${offset - 1}`);
    }
    const digest = sha256(bytes);
    const done = await request('PUT', `${on(1, session)}${session.includes('?') ? '&' : '?'}digest=${encodeURIComponent(digest)}`, { expected: 201 });
    await done.arrayBuffer();
    const blob = await request('GET', `${nodes[0]?.url}/v2/team/chunked/blobs/${digest}`, { expected: 200 });
    assert.equal(sha256(Buffer.from(await blob.arrayBuffer())), digest);
  });
});
