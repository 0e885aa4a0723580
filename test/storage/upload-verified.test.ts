import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { test, type TestContext } from 'node:test';
import { parseDigest } from '../../registry/core/digest.js';
import { silentLogger } from '../../registry/log.js';
import { createBlobFetcher } from '../../registry/mirror/blob-fetches.js';
import { createBlobStore, type BlobStore } from '../../registry/storage/blob-store.js';
import type { StorageDriver } from '../../registry/storage/driver.js';
import { createFilesystemDriver } from '../../registry/storage/filesystem-driver.js';
import { createRepositoryStore } from '../../registry/storage/repository-store.js';
import { openSqliteRepositoryIndex } from '../../registry/storage/sqlite-repository-index.js';
import { createUploadStore, type UploadStore } from '../../registry/storage/upload-store.js';
import { startDistribution } from '../support/distribution.js';
import { createImageLayout } from '../support/oci-layout.js';
import { makeTempDir } from '../support/temp-dir.js';
import { requireTools, toolSkipReason } from '../support/tools.js';
import { clientFor, pushImage } from '../mirror/fixtures.js';

/**
 * `complete`'s onVerified: the digest check comes before the fsync and the move into the blob store, so a mirror can
 * hand a verified blob's last bytes to its clients without waiting for the disk. The driver is the real filesystem
 * driver with one seam: the commit (fsync) of upload data waits for the test to let it go.
 */

interface HeldCommits {
  readonly driver: StorageDriver;
  /** Resolves when a commit of upload data is waiting. */
  readonly waiting: Promise<void>;
  release(): void;
}

function holdUploadCommits(real: StorageDriver): HeldCommits {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let noteWaiting!: () => void;
  const waiting = new Promise<void>((resolve) => (noteWaiting = resolve));
  const driver: StorageDriver = Object.create(real) as StorageDriver;
  driver.writer = async (path) => {
    const writer = await real.writer(path);
    if (!path.includes('_uploads')) return writer;
    return {
      stream: writer.stream,
      initialSize: writer.initialSize,
      close: () => writer.close(),
      commit: async () => {
        noteWaiting();
        await released;
        await writer.commit();
      },
    };
  };
  return { driver, waiting, release };
}

async function stores(t: TestContext) {
  const held = holdUploadCommits(createFilesystemDriver(await makeTempDir(t, 'berth-verified-')));
  const blobs = createBlobStore(held.driver);
  const uploads = createUploadStore(held.driver, blobs);
  t.after(() => held.release());
  return { held, blobs, uploads };
}

const digestOf = (bytes: Buffer) => parseDigest(`sha256:${createHash('sha256').update(bytes).digest('hex')}`);

async function isStored(blobs: BlobStore, bytes: Buffer): Promise<boolean> {
  return (await blobs.size(digestOf(bytes))) !== undefined;
}

/** Settles within a few turns of the event loop, or reports 'pending'. */
async function stateOf(promise: Promise<unknown>): Promise<'resolved' | 'rejected' | 'pending'> {
  return Promise.race([promise.then(() => 'resolved' as const, () => 'rejected' as const), new Promise<'pending'>((resolve) => setTimeout(() => resolve('pending'), 50))]);
}

test('onVerified comes when the digest matched, before the commit; the blob is stored only after it', async (t) => {
  const { held, blobs, uploads } = await stores(t);
  const bytes = randomBytes(3 * 1024 * 1024);
  const session = await uploads.start('team/app');
  let verifiedAt: 'before commit' | 'after release' | undefined;
  let released = false;
  const completed = uploads.complete('team/app', session.id, digestOf(bytes), Readable.from([bytes]), {
    onVerified: () => (verifiedAt = released ? 'after release' : 'before commit'),
  });
  await held.waiting;
  assert.equal(verifiedAt, 'before commit');
  assert.equal(await stateOf(completed), 'pending', 'complete waits for the commit');
  assert.equal(await isStored(blobs, bytes), false, 'nothing is in the blob store before the commit');
  released = true;
  held.release();
  assert.deepEqual(await completed, { size: bytes.length });
  assert.equal(await isStored(blobs, bytes), true);
});

test('a digest that does not match: no onVerified, DIGEST_INVALID, nothing stored', async (t) => {
  const { held, blobs, uploads } = await stores(t);
  held.release();
  const bytes = randomBytes(64 * 1024);
  const other = randomBytes(64 * 1024);
  const session = await uploads.start('team/app');
  let called = false;
  await assert.rejects(
    uploads.complete('team/app', session.id, digestOf(other), Readable.from([bytes]), { onVerified: () => (called = true) }),
    (error: { code?: string }) => error.code === 'DIGEST_INVALID',
  );
  assert.equal(called, false);
  assert.equal(await isStored(blobs, bytes), false);
  assert.equal(await isStored(blobs, other), false);
});

test('without the running hash (a session resumed by another process): verified from the file, then stored', async (t) => {
  const { held, blobs, uploads } = await stores(t);
  held.release();
  const bytes = randomBytes(256 * 1024);
  const session = await uploads.start('team/app');
  await uploads.append('team/app', session.id, Readable.from([bytes.subarray(0, 100_000)]));
  // A fresh store over the same files has no running hash for the session.
  const resumed: UploadStore = createUploadStore(held.driver, blobs);
  let called = 0;
  await resumed.complete('team/app', session.id, digestOf(bytes), Readable.from([bytes.subarray(100_000)]), { start: 100_000, onVerified: () => (called += 1) });
  assert.equal(called, 1);
  assert.equal(await isStored(blobs, bytes), true);
});

test('a mirror fetch hands its client the whole verified blob while the commit is still held; whenStored waits for the commit', { skip: toolSkipReason('docker-registry', 'skopeo'), timeout: 60_000 }, async (t) => {
  requireTools('docker-registry', 'skopeo');
  const registry = await startDistribution({ logLevel: 'warn', accessLog: false });
  t.after(() => registry.stop());
  const image = await createImageLayout(await makeTempDir(t), { tag: '1', layers: [{ bytes: 6 * 1024 * 1024, compress: false }] });
  await pushImage(image.ref, registry.host, 'library/held:1');
  const layer = image.layers[0];
  assert.ok(layer);

  const { held, blobs, uploads } = await stores(t);
  const indexDir = await makeTempDir(t, 'berth-verified-index-');
  const index = openSqliteRepositoryIndex(indexDir);
  t.after(() => index.close());
  const repositories = createRepositoryStore(held.driver, blobs, index);
  const fetcher = createBlobFetcher({ driver: held.driver, blobs, uploads, repositories, log: silentLogger() });
  const client = clientFor(t, { name: 'up', url: registry.url });

  const fetch = fetcher.fetch('up/library/held', parseDigest(layer.digest), { upstream: 'up', client, remote: 'library/held', listed: true });
  const hash = createHash('sha256');
  let received = 0;
  const response = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      received += chunk.length;
      callback();
    },
  });
  await fetch.sendTo(response);
  assert.equal(received, layer.size);
  assert.equal(`sha256:${hash.digest('hex')}`, layer.digest, 'every byte, verified');
  await held.waiting;
  assert.equal(await stateOf(fetch.done), 'pending', 'the blob is not stored yet');
  assert.equal(await blobs.size(parseDigest(layer.digest)), undefined);
  const stored = fetcher.whenStored();
  assert.equal(await stateOf(stored), 'pending', 'a shutdown waits for the store of a blob whose client has it all');
  held.release();
  await stored;
  await fetch.done;
  assert.equal(await blobs.size(parseDigest(layer.digest)), layer.size);
  assert.equal(await repositories.blobSize('up/library/held', parseDigest(layer.digest)), layer.size, 'linked once stored');
});
