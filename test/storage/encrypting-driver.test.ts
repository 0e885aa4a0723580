import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, test } from 'node:test';
import { parseDigest } from '../../registry/core/digest.js';
import type { StorageDriver } from '../../registry/storage/driver.js';
import { createEncryptingDriver, type EncryptingDriver } from '../../registry/storage/encryption/encrypting-driver.js';
import { writeEncryptionMarker } from '../../registry/storage/encryption/encryption-marker.js';
import { defaultFrameSize, headerBytes, storedSizeOf, tagBytes } from '../../registry/storage/encryption/frame-format.js';
import { fileKeyRingStore, MasterKeys } from '../../registry/storage/encryption/key-ring.js';
import { createFilesystemDriver } from '../../registry/storage/filesystem-driver.js';
import { pathFor } from '../../registry/storage/paths.js';
import { radosgwSkipReason } from '../support/services/radosgw.js';
import { createTempDir, removeDir } from '../support/temp-dir.js';
import { startS3Backend } from './s3-backend.js';

/**
 * The encrypting layer over both real backends: what is stored holds no plaintext, what is read is byte-exact
 * (whole, ranged, across frame boundaries), uploads resume across writers and nodes, and damage is detected.
 */

const frame = defaultFrameSize;
const marker = Buffer.from('BERTH-PLAINTEXT-MARKER-7f3a');

/** Content with the marker repeated throughout, so any plaintext frame on disk would show it. */
function markedContent(size: number): Buffer {
  const content = randomBytes(size);
  for (let offset = 0; offset + marker.length <= size; offset += 4096) marker.copy(content, offset);
  return content;
}

async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

interface Backend {
  inner: StorageDriver;
  another(): Promise<StorageDriver>;
  close(): Promise<void>;
}

function describeEncryption(name: string, open: () => Promise<Backend>, skip?: string): void {
  describe(`encrypting driver over ${name}`, { skip, timeout: 10 * 60_000 }, () => {
    let backend: Backend;
    let keysDir: string;
    let driver: EncryptingDriver;
    const ring = () => new MasterKeys(fileKeyRingStore(join(keysDir, 'keys.json')));
    const digest = (seed: string) => parseDigest(`sha256:${seed.padEnd(64, '0')}`);

    before(async () => {
      backend = await open();
      keysDir = await createTempDir('berth-keys-');
      const keys = ring();
      await keys.ensure();
      driver = createEncryptingDriver(backend.inner, keys);
      await writeEncryptionMarker(backend.inner);
      assert.equal(await driver.encryptsWrites(true), true);
    });
    after(async () => {
      await backend?.close();
      if (keysDir) await removeDir(keysDir);
    });

    test('an upload written in chunks across writers (and another node) is stored encrypted and reads back byte-exact', async () => {
      const content = markedContent(3 * frame + 12_345);
      const upload = pathFor({ kind: 'uploadData', repository: 'team/app', id: '00000000-0000-4000-8000-000000000001' });
      // Chunk ends inside a frame, on a frame boundary, and a tiny one: every tail case.
      const cuts = [100, frame, frame + 1, 2 * frame + 7, 3 * frame];
      let written = 0;
      for (const [index, cut] of cuts.entries()) {
        const writerDriver = index === 2 ? createEncryptingDriver(await backend.another(), ring()) : driver;
        const writer = await writerDriver.writer(upload);
        assert.equal(writer.initialSize, written, `writer ${index} resumes at the stored plaintext size`);
        await pipeline(Readable.from([content.subarray(written, cut)]), writer.stream);
        await writer.close();
        written = cut;
        assert.equal((await driver.stat(upload)).size, written, `stat after writer ${index} is the plaintext size`);
      }
      const last = await driver.writer(upload);
      assert.equal(last.initialSize, written);
      await pipeline(Readable.from([content.subarray(written)]), last.stream);
      await last.commit();
      const blob = pathFor({ kind: 'blobData', digest: digest('a1') });
      await driver.move(upload, blob);

      assert.equal((await driver.stat(blob)).size, content.length);
      assert.deepEqual(await readAll(await driver.reader(blob)), content);
      const stored = await readAll(await backend.inner.reader(blob));
      assert.equal(stored.length, storedSizeOf(content.length));
      assert.equal(stored.indexOf(marker), -1, 'no plaintext marker in the stored object');
      for (const [start, end] of [
        [0, 0],
        [frame - 1, frame],
        [frame, 2 * frame - 1],
        [5, content.length - 1],
        [content.length - 1, content.length - 1],
        [3 * frame, content.length - 1],
        [1000, 1000 + 2 * frame],
      ] as const) {
        assert.deepEqual(await readAll(await driver.reader(blob, { start, end })), content.subarray(start, end + 1), `range ${start}-${end}`);
        const sink: Buffer[] = [];
        const destination = new Writable({ write: (chunk: Buffer, _e, callback) => (sink.push(chunk), callback()) });
        await driver.copyTo(blob, destination, { start, end });
        assert.deepEqual(Buffer.concat(sink), content.subarray(start, end + 1), `copyTo ${start}-${end}`);
      }
      // A node that never saw this blob reads it too (the data key is in the storage, the master key in the ring).
      const other = createEncryptingDriver(await backend.another(), ring());
      assert.deepEqual(await readAll(await other.reader(blob, { start: 2 * frame - 3, end: 2 * frame + 3 })), content.subarray(2 * frame - 3, 2 * frame + 4));
    });

    test("upload data read while it is written (what a mirror fetch's followers do) yields a prefix of the plaintext, never a half frame", async () => {
      const content = markedContent(4 * frame + 777);
      const upload = pathFor({ kind: 'uploadData', repository: 'mirror/follow', id: '00000000-0000-4000-8000-00000000f011' });
      const writer = await driver.writer(upload);
      const step = 100_003;
      for (let offset = 0; offset < content.length; offset += step) {
        await new Promise<void>((resolve, reject) => writer.stream.write(content.subarray(offset, offset + step), (error) => (error ? reject(error) : resolve())));
        const seen = await readAll(await driver.reader(upload, { start: 0, end: Number.MAX_SAFE_INTEGER })).catch((error: unknown) => {
          // S3 keeps upload data in a multipart upload, which is not an object to read until it is committed.
          if ((error as Error).name === 'PathNotFoundError') return Buffer.alloc(0);
          throw error;
        });
        assert.equal(seen.length % frame, 0, 'whole frames only');
        assert.deepEqual(seen, content.subarray(0, seen.length));
      }
      await pipeline(Readable.from([]), writer.stream);
      await writer.commit();
      assert.deepEqual(await readAll(await driver.reader(upload)), content, 'once committed, all of it');
      assert.equal((await driver.stat(upload)).size, content.length);
    });

    test('an upload cut inside a frame, or finished and opened again (a retried PUT), is repaired and resumes where its bytes end', async () => {
      const content = markedContent(3 * frame + 5000);
      const upload = pathFor({ kind: 'uploadData', repository: 'repair/cut', id: '00000000-0000-4000-8000-0000000c0001' });
      const first = await driver.writer(upload);
      await pipeline(Readable.from([content.subarray(0, 2 * frame + 100)]), first.stream);
      await first.close();
      // A write that died inside a frame: bytes after the whole frames that are no frame.
      const raw = await backend.inner.writer(upload);
      await pipeline(Readable.from([randomBytes(5000)]), raw.stream);
      await raw.close();
      const resumed = await driver.writer(upload);
      assert.equal(resumed.initialSize, 2 * frame + 100, 'the whole frames and the matching tail count; the torn bytes do not');
      await pipeline(Readable.from([content.subarray(2 * frame + 100, 3 * frame)]), resumed.stream);
      await resumed.commit();
      assert.deepEqual(await readAll(await driver.reader(upload)), content.subarray(0, 3 * frame));

      // Finished, then opened again by a retried last chunk: it goes on from its end.
      const retried = await driver.writer(upload);
      assert.equal(retried.initialSize, 3 * frame);
      await pipeline(Readable.from([content.subarray(3 * frame)]), retried.stream);
      await retried.commit();
      assert.deepEqual(await readAll(await driver.reader(upload)), content);
      assert.equal((await readAll(await backend.inner.reader(upload))).indexOf(marker), -1);
    });

    test('sizes at and around frame multiples, and the empty blob, round-trip through upload and putContent', async () => {
      for (const size of [0, 1, frame - 1, frame, frame + 1, 2 * frame]) {
        const content = markedContent(size);
        const upload = pathFor({ kind: 'uploadData', repository: 'sizes', id: `00000000-0000-4000-8000-${String(size).padStart(12, '0')}` });
        const writer = await driver.writer(upload);
        await pipeline(Readable.from(size > 0 ? [content] : []), writer.stream);
        await writer.commit();
        const blob = pathFor({ kind: 'blobData', digest: digest(`b${size.toString(16)}`) });
        await driver.move(upload, blob);
        assert.equal((await driver.stat(blob)).size, size, `stat of ${size}`);
        assert.deepEqual(await readAll(await driver.reader(blob)), content, `upload of ${size}`);
        const manifest = pathFor({ kind: 'blobData', digest: digest(`c${size.toString(16)}`) });
        await driver.putContent(manifest, content);
        assert.deepEqual(await driver.getContent(manifest), content, `putContent of ${size}`);
        assert.equal((await driver.stat(manifest)).size, size);
        assert.equal((await backend.inner.getContent(manifest)).indexOf(marker), -1);
      }
    });

    test('ranges copied into a response (the blob GET path) are byte-exact inside a frame, across frames and across the read chunks the frames straddle', async () => {
      // 9 frames and a bit: the stored frames (256 KiB + tag) straddle the filesystem's 1 MiB read buffers.
      const content = markedContent(9 * frame + 777);
      const blob = pathFor({ kind: 'blobData', digest: digest('a7') });
      await driver.putContent(blob, content);
      const last = content.length - 1;
      const ranges = [
        [0, last],
        [0, 0],
        [10, 20],
        [frame - 1, frame],
        [4 * frame - 3, 4 * frame + 2],
        [3 * frame + 5, 8 * frame + 11],
        [9 * frame, last],
        [last, last],
      ] as const;
      for (const [start, end] of ranges) {
        const received: Buffer[] = [];
        const response = new Writable({
          write(chunk: Buffer, _encoding, callback) {
            received.push(Buffer.from(chunk));
            setImmediate(callback);
          },
        });
        await driver.copyTo(blob, response, { start, end });
        assert.deepEqual(Buffer.concat(received), content.subarray(start, end + 1), `range ${start}-${end}`);
      }
    });

    test('a blob stored again (a new data key) reads right on a node that has its old header cached: whole, ranged and as a stream', async () => {
      // S3 gives whole seconds, so two stores of one blob within a second look alike to a cache of (size, time): here
      // the reading node sees one time for everything, and only its first frame can tell it the header is stale.
      const frozen = Object.create(backend.inner) as StorageDriver;
      frozen.stat = async (path) => ({ ...(await backend.inner.stat(path)), modifiedAt: new Date(0) });
      const reading = createEncryptingDriver(frozen, ring());
      const content = markedContent(2 * frame + 99);
      const blob = pathFor({ kind: 'blobData', digest: digest('e1') });
      let stores = 0;
      const storeAgain = async () => {
        stores += 1;
        const upload = pathFor({ kind: 'uploadData', repository: 'again', id: `00000000-0000-4000-8000-${String(stores).padStart(12, '0')}` });
        const writer = await driver.writer(upload);
        await pipeline(Readable.from([content]), writer.stream);
        await writer.commit();
        await driver.move(upload, blob);
        return (await backend.inner.getContent(blob)).subarray(0, headerBytes);
      };
      const copied = async (start: number, end: number) => {
        const received: Buffer[] = [];
        const response = new Writable({
          write(chunk: Buffer, _encoding, callback) {
            received.push(Buffer.from(chunk));
            callback();
          },
        });
        await reading.copyTo(blob, response, { start, end });
        return Buffer.concat(received);
      };
      const firstHeader = await storeAgain();
      assert.deepEqual(await copied(0, content.length - 1), content, 'read once: its header is cached');
      assert.notDeepEqual(await storeAgain(), firstHeader, 'stored again under a new data key');
      assert.deepEqual(await copied(0, content.length - 1), content, 'whole');
      await storeAgain();
      assert.deepEqual(await copied(frame + 5, 2 * frame + 50), content.subarray(frame + 5, 2 * frame + 51), 'ranged');
      await storeAgain();
      assert.deepEqual(await readAll(await reading.reader(blob)), content, 'as a stream');
    });

    test('a size and a header from two versions of a blob (rewritten between the two reads) are looked at again, not called damage', async () => {
      // Plaintext sizes that, read as an encrypted object's size, end on a frame boundary and inside a frame's tag.
      for (const [index, size] of [headerBytes + frame + tagBytes, headerBytes + frame + tagBytes + 5].entries()) {
        const content = markedContent(size);
        const blob = pathFor({ kind: 'blobData', digest: digest(`e2${index}`) });
        await backend.inner.putContent(blob, content); // plaintext, as before encryption was enabled
        const plaintextInfo = await backend.inner.stat(blob);
        await driver.putContent(blob, content); // rewritten encrypted, as the encryption pass does
        // The reading node's first stat still sees the plaintext object; its header read then finds the new one.
        let stale = true;
        const skewed = Object.create(backend.inner) as StorageDriver;
        skewed.stat = async (path) => {
          if (path === blob && stale) {
            stale = false;
            return plaintextInfo;
          }
          return backend.inner.stat(path);
        };
        const reading = createEncryptingDriver(skewed, ring());
        assert.equal(await reading.isEncrypted(blob), true, `size ${size}`);
        assert.deepEqual(await readAll(await reading.reader(blob)), content, `size ${size}`);
      }
    });

    test('a blob cut short at a frame boundary, a flipped bit, or frames swapped fail instead of reading short or wrong', async () => {
      const content = markedContent(3 * frame + 10);
      const blob = pathFor({ kind: 'blobData', digest: digest('d1') });
      await driver.putContent(blob, content);
      const stored = await backend.inner.getContent(blob);
      const sealed = frame + tagBytes;
      const damaged = pathFor({ kind: 'blobData', digest: digest('d2') });

      await backend.inner.putContent(damaged, stored.subarray(0, headerBytes + 2 * sealed));
      await assert.rejects(async () => readAll(await driver.reader(damaged)), /cut short/);

      const flipped = Buffer.from(stored);
      flipped.writeUInt8((flipped[headerBytes + sealed + 5] ?? 0) ^ 1, headerBytes + sealed + 5);
      await backend.inner.putContent(damaged, flipped);
      await assert.rejects(async () => readAll(await driver.reader(damaged, { start: frame, end: frame + 10 })), /frame 1 does not authenticate/);
      // Frame 0 is intact: a range inside it still reads.
      assert.deepEqual(await readAll(await driver.reader(damaged, { start: 0, end: 99 })), content.subarray(0, 100));

      const swapped = Buffer.concat([stored.subarray(0, headerBytes), stored.subarray(headerBytes + sealed, headerBytes + 2 * sealed), stored.subarray(headerBytes, headerBytes + sealed), stored.subarray(headerBytes + 2 * sealed)]);
      await backend.inner.putContent(damaged, swapped);
      await assert.rejects(async () => readAll(await driver.reader(damaged)), /does not authenticate/);
    });

    test('a damaged frame deep in a blob fails the read after the good frames before it, a reader that stops early leaves no error behind, and a range before the damage still reads', async () => {
      const content = markedContent(8 * frame + 3);
      const blob = pathFor({ kind: 'blobData', digest: digest('e1') });
      await driver.putContent(blob, content);
      const stored = Buffer.from(await backend.inner.getContent(blob));
      const sealed = frame + tagBytes;
      stored.writeUInt8((stored[headerBytes + 5 * sealed + 7] ?? 0) ^ 1, headerBytes + 5 * sealed + 7);
      const damaged = pathFor({ kind: 'blobData', digest: digest('e2') });
      await backend.inner.putContent(damaged, stored);

      const unhandled: unknown[] = [];
      const onUnhandled = (reason: unknown) => unhandled.push(reason);
      process.on('unhandledRejection', onUnhandled);
      try {
        // Copy to the end: the five good frames arrive, byte-exact, then the damaged one fails the copy.
        const received: Buffer[] = [];
        const collector = new Writable({
          write(chunk: Buffer, _encoding, callback) {
            received.push(Buffer.from(chunk));
            callback();
          },
        });
        await assert.rejects(driver.copyTo(damaged, collector, { start: 0, end: content.length - 1 }), /frame 5 does not authenticate/);
        assert.deepEqual(Buffer.concat(received), content.subarray(0, 5 * frame));
        await assert.rejects(async () => readAll(await driver.reader(damaged)), /frame 5 does not authenticate/);

        // Stop after the first piece, and a copy whose destination fails: neither leaves a rejection behind.
        for await (const chunk of await driver.reader(damaged)) {
          assert.deepEqual(chunk, content.subarray(0, (chunk as Buffer).length));
          break;
        }
        const copyStopped = new Writable({ write: (_chunk, _encoding, callback) => callback(new Error('socket closed')) });
        copyStopped.on('error', () => undefined);
        await assert.rejects(driver.copyTo(damaged, copyStopped, { start: 0, end: content.length - 1 }), /socket closed/);
        // A rejection left behind would surface within a few turns of the event loop.
        await new Promise((resolve) => setTimeout(resolve, 200));
        assert.deepEqual(unhandled, []);
      } finally {
        process.off('unhandledRejection', onUnhandled);
      }
      // A range that ends before the damage reads, though the frames after it are damaged.
      assert.deepEqual(await readAll(await driver.reader(damaged, { start: frame - 5, end: 3 * frame + 5 })), content.subarray(frame - 5, 3 * frame + 6));
    });

    test('deleting an encrypted object (garbage collection) or a cancelled upload session deletes its data key too', async () => {
      const keyCount = async () => (await driver.dataKeys.countByMaster()).get((await driver.masterKeys.active()).id) ?? 0;
      const quarantined = pathFor({ kind: 'quarantinedBlob', digest: digest('f1') });
      const before = await keyCount();
      await driver.putContent(quarantined, markedContent(1000));
      assert.equal(await keyCount(), before + 1);
      await driver.delete(quarantined);
      assert.equal(await keyCount(), before, "the blob's key left with it");

      const session = pathFor({ kind: 'upload', repository: 'team/cancel', id: '00000000-0000-4000-8000-0000000ca11e' });
      const writer = await driver.writer(`${session}/data`);
      await pipeline(Readable.from([markedContent(frame + 10)]), writer.stream);
      await writer.close();
      assert.equal(await keyCount(), before + 1);
      await driver.delete(session);
      assert.equal(await keyCount(), before, "the cancelled upload's key left with it");
    });

    test('a copy into a response that goes away mid-blob fails at once instead of hanging', async () => {
      const blob = pathFor({ kind: 'blobData', digest: digest('f2') });
      await driver.putContent(blob, markedContent(6 * frame));
      let writes = 0;
      const destination: Writable = new Writable({
        write(_chunk, _encoding, callback) {
          writes += 1;
          if (writes === 2) destination.destroy();
          callback();
        },
      });
      await assert.rejects(driver.copyTo(blob, destination, { start: 0, end: 6 * frame - 1 }), /went away|destroyed/);
      assert.ok(writes < 6, `stopped early (${writes} writes)`);
    });

    test('an upload started before encryption was enabled stays plaintext to its end, its size right at every step (on S3 too)', async () => {
      const content = markedContent(2 * frame + 999);
      const upload = pathFor({ kind: 'uploadData', repository: 'team/early', id: '00000000-0000-4000-8000-0000000ea417' });
      const early = await backend.inner.writer(upload);
      await pipeline(Readable.from([content.subarray(0, frame + 5)]), early.stream);
      await early.close();
      assert.equal((await driver.stat(upload)).size, frame + 5, 'the closed chunk counts (an S3 multipart upload is not readable yet)');
      const later = await driver.writer(upload);
      assert.equal(later.initialSize, frame + 5);
      await pipeline(Readable.from([content.subarray(frame + 5)]), later.stream);
      await later.commit();
      assert.deepEqual(await readAll(await driver.reader(upload)), content);
      assert.equal(await driver.isEncrypted(upload), false);
    });

    test('plaintext content stored before encryption was enabled reads as it is beside encrypted content', async () => {
      const content = markedContent(frame + 99);
      const blob = pathFor({ kind: 'blobData', digest: digest('e1') });
      await backend.inner.putContent(blob, content);
      assert.equal((await driver.stat(blob)).size, content.length);
      assert.deepEqual(await readAll(await driver.reader(blob, { start: 10, end: frame + 20 })), content.subarray(10, frame + 21));
      assert.deepEqual(await driver.getContent(blob), content);
      // Not content (a link file): never encrypted.
      const link = pathFor({ kind: 'layerLink', repository: 'team/app', digest: digest('e1') });
      await driver.putContent(link, 'sha256:e1');
      assert.equal((await backend.inner.getContent(link)).toString(), 'sha256:e1');
    });
  });
}

describeEncryption('the filesystem', async () => {
  const root = await createTempDir('berth-enc-fs-');
  return { inner: createFilesystemDriver(root), another: async () => createFilesystemDriver(root), close: () => removeDir(root) };
});

describeEncryption(
  'S3 (radosgw)',
  async () => {
    const s3 = await startS3Backend();
    return { inner: s3.driver, another: s3.another, close: s3.close };
  },
  radosgwSkipReason(),
);
