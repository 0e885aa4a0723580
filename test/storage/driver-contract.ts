import { setTimeout as sleep } from 'node:timers/promises';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, test } from 'node:test';
import { deleteLinkFile, isPathNotFound, type StorageDriver } from '../../registry/storage/driver.js';

/**
 * The one StorageDriver contract suite, after CNCF distribution's testsuites.go: every backend runs it as it is.
 * Sizes are chosen around S3's limits (5 MiB minimum part, 16 MiB default part of the S3 driver, 1000 keys per
 * listing page) so that the filesystem and S3 take the same steps a real push takes.
 */
export interface DriverBackend {
  /** A driver over a fresh, empty store. */
  readonly driver: StorageDriver;
  /** Another driver instance over the same store: another node of a cluster, or a restarted process. */
  another(): Promise<StorageDriver>;
  close(): Promise<void>;
}

export interface ContractOptions {
  readonly skip?: string | undefined;
  /** Per test. Default 120 s: S3 tests on a loaded 2-core machine. */
  readonly timeoutMs?: number;
}

const MiB = 1024 * 1024;

export function describeDriverContract(name: string, open: () => Promise<DriverBackend>, options: ContractOptions = {}): void {
  describe(`${name}: StorageDriver contract`, { skip: options.skip, timeout: 20 * 60_000 }, () => {
    let backend: DriverBackend;
    let driver: StorageDriver;
    const started = performance.now();
    before(async () => {
      backend = await open();
      driver = backend.driver;
    });
    after(async () => {
      await backend?.close();
      console.log(`# ${name}: contract suite took ${((performance.now() - started) / 1000).toFixed(1)} s`);
    });
    const it = (title: string, fn: () => Promise<void>) => test(title, { timeout: options.timeoutMs ?? 120_000 }, fn);
    let counter = 0;
    /** A fresh directory per test, so tests never see each other's objects. */
    const dir = (label: string) => `/contract/${label}-${++counter}`;

    it('putContent and getContent round-trip small objects; a second put replaces the first', async () => {
      const base = dir('small');
      await driver.putContent(`${base}/link`, 'sha256:abc');
      assert.equal((await driver.getContent(`${base}/link`)).toString(), 'sha256:abc');
      const bytes = randomBytes(70_000);
      await driver.putContent(`${base}/link`, bytes);
      assert.deepEqual(await driver.getContent(`${base}/link`), bytes);
      await driver.putContent(`${base}/empty`, '');
      assert.equal((await driver.getContent(`${base}/empty`)).length, 0);
      assert.equal((await driver.stat(`${base}/empty`)).size, 0);
      assert.deepEqual(await (await backend.another()).getContent(`${base}/link`), bytes, 'another instance reads the same bytes');
    });

    it('missing paths: getContent, reader, copyTo, stat and move throw PathNotFoundError; list is empty; delete is fine', async () => {
      const missing = `${dir('missing')}/nothing/here`;
      await assert.rejects(driver.getContent(missing), isPathNotFound);
      await assert.rejects(driver.reader(missing), isPathNotFound);
      await assert.rejects(driver.reader(missing, { start: 0, end: 10 }), isPathNotFound);
      await assert.rejects(driver.copyTo(missing, collector().stream, { start: 0, end: 0 }), isPathNotFound);
      await assert.rejects(driver.stat(missing), isPathNotFound);
      await assert.rejects(driver.move(missing, `${missing}-moved`), isPathNotFound);
      assert.deepEqual(await driver.list(missing), []);
      await driver.delete(missing);
    });

    it('paths that could leave the store are refused', async () => {
      for (const path of ['/contract/../escape', '/contract/./x', 'relative/path']) {
        await assert.rejects(async () => driver.putContent(path, 'x'), /illegal storage path/, path);
        await assert.rejects(async () => driver.getContent(path), /illegal storage path/, path);
        await assert.rejects(async () => driver.writer(path), /illegal storage path/, path);
      }
    });

    it('a large object reads back whole and by ranges: first byte, last byte, across a part boundary, clipped at the end', async () => {
      const path = `${dir('large')}/data`;
      const data = randomBytes(24 * MiB + 123);
      await writeAll(driver, path, [data.subarray(0, 9 * MiB), data.subarray(9 * MiB)], 'commit');
      assert.equal((await driver.stat(path)).size, data.length);
      assert.equal(sha256(await readAll(await driver.reader(path))), sha256(data));
      const last = data.length - 1;
      for (const [start, end] of [[0, 0], [last, last], [16 * MiB - 10, 16 * MiB + 10], [5 * MiB, 21 * MiB]] as const) {
        assert.deepEqual(await readAll(await driver.reader(path, { start, end })), data.subarray(start, end + 1), `range ${start}-${end}`);
      }
      // Past the end, as a file read: the bytes there are, then nothing.
      assert.deepEqual(await readAll(await driver.reader(path, { start: last - 4, end: last + 1000 })), data.subarray(last - 4));
      assert.equal((await readAll(await driver.reader(path, { start: data.length, end: data.length + 10 }))).length, 0);
    });

    it('copyTo writes exactly the range without ending the destination, and rejects a range past the end', async () => {
      const path = `${dir('copy-to')}/data`;
      const data = randomBytes(3 * MiB + 7);
      await driver.putContent(path, data);
      const whole = collector();
      await driver.copyTo(path, whole.stream, { start: 0, end: data.length - 1 });
      assert.equal(whole.stream.writableEnded, false, 'copyTo leaves the destination open');
      assert.deepEqual(whole.bytes(), data);
      const middle = collector();
      await driver.copyTo(path, middle.stream, { start: 1000, end: 2 * MiB });
      assert.deepEqual(middle.bytes(), data.subarray(1000, 2 * MiB + 1));
      await assert.rejects(driver.copyTo(path, collector().stream, { start: data.length - 10, end: data.length + 10 }));
      await assert.rejects(driver.copyTo(path, collector().stream, { start: data.length, end: data.length + 10 }));
    });

    it('a writer appends across instances: close keeps the bytes for the next writer, commit completes the object', async () => {
      const path = `${dir('append')}/data`;
      // Sizes around S3's 5 MiB minimum part and the 16 MiB part: a short start, a short-then-long continuation,
      // a continuation that fills whole parts, and a one-byte commit on a short last part.
      const pieces = [randomBytes(3 * MiB), randomBytes(7 * MiB), randomBytes(17 * MiB + 5), randomBytes(1)];
      let expected = 0;
      for (const [index, piece] of pieces.entries()) {
        const node = index % 2 === 0 ? driver : await backend.another();
        const writer = await node.writer(path);
        assert.equal(writer.initialSize, expected, `writer ${index + 1} resumes where the previous one stopped`);
        await pipeline(Readable.from([piece]), writer.stream);
        const last = index === pieces.length - 1;
        await (last ? writer.commit() : writer.close());
        expected += piece.length;
        assert.equal((await (await backend.another()).stat(path)).size, expected, `stat after writer ${index + 1}`);
      }
      assert.equal(sha256(await readAll(await driver.reader(path))), sha256(Buffer.concat(pieces)));
    });

    it('a writer that writes nothing: close creates an empty path, commit leaves existing content as it is', async () => {
      const base = dir('empty-writer');
      const writer = await driver.writer(`${base}/data`);
      assert.equal(writer.initialSize, 0);
      await writer.close();
      assert.equal((await driver.stat(`${base}/data`)).size, 0);
      assert.deepEqual(await driver.list(base), ['data']);
      const content = randomBytes(6 * MiB);
      await writeAll(driver, `${base}/data`, [content], 'close');
      const untouched = await (await backend.another()).writer(`${base}/data`);
      assert.equal(untouched.initialSize, content.length);
      await untouched.commit();
      assert.deepEqual(await driver.getContent(`${base}/data`), content);
    });

    it('a writer over an object stored with putContent appends to it', async () => {
      for (const size of [100, 6 * MiB]) {
        const path = `${dir('append-object')}/data`;
        const first = randomBytes(size);
        await driver.putContent(path, first);
        const second = randomBytes(2 * MiB);
        const writer = await (await backend.another()).writer(path);
        assert.equal(writer.initialSize, size);
        await pipeline(Readable.from([second]), writer.stream);
        await writer.commit();
        assert.equal(sha256(await readAll(await driver.reader(path))), sha256(Buffer.concat([first, second])), `after ${size} bytes`);
      }
    });

    it('a write cut off by its source keeps a prefix of what was sent, and the next writer resumes after it', async () => {
      const path = `${dir('cut-off')}/data`;
      const sent = randomBytes(11 * MiB);
      const writer = await driver.writer(path);
      const source = Readable.from(
        (async function* () {
          for (let offset = 0; offset < sent.length; offset += MiB) yield sent.subarray(offset, offset + MiB);
          throw new Error('connection reset by the client');
        })(),
      );
      await assert.rejects(pipeline(source, writer.stream), /connection reset/);
      await writer.close();
      const kept = (await driver.stat(path)).size;
      assert.ok(kept <= sent.length, `kept ${kept} of ${sent.length} bytes`);
      const resumed = await (await backend.another()).writer(path);
      assert.equal(resumed.initialSize, kept, 'the next writer starts where stat says');
      const rest = sent.subarray(kept);
      await pipeline(Readable.from([rest]), resumed.stream);
      await resumed.commit();
      assert.equal(sha256(await readAll(await driver.reader(path))), sha256(sent), 'prefix + resumed rest = what was sent');
    });

    it('move replaces an existing target, creates its parents, and removes the source', async () => {
      const base = dir('move');
      for (const size of [1000, 24 * MiB]) {
        const data = randomBytes(size);
        await writeAll(driver, `${base}/upload-${size}`, [data], 'commit');
        await driver.putContent(`${base}/deep/target-${size}/data`, 'old content');
        await driver.move(`${base}/upload-${size}`, `${base}/deep/target-${size}/data`);
        assert.equal(sha256(await readAll(await driver.reader(`${base}/deep/target-${size}/data`))), sha256(data));
        await assert.rejects(driver.stat(`${base}/upload-${size}`), isPathNotFound);
      }
      const moved = randomBytes(10);
      await driver.putContent(`${base}/a`, moved);
      await driver.move(`${base}/a`, `${base}/new/parent/b`);
      assert.deepEqual(await driver.getContent(`${base}/new/parent/b`), moved);
    });

    it('move keeps the modification time, as a rename does (the garbage collector judges a quarantined blob by its age)', async () => {
      const base = dir('move-age');
      await driver.putContent(`${base}/small`, randomBytes(100));
      await driver.putContent(`${base}/empty`, '');
      await writeAll(driver, `${base}/big`, [randomBytes(6 * MiB)], 'commit');
      const before = await Promise.all(['small', 'empty', 'big'].map((name) => driver.stat(`${base}/${name}`)));
      // Past the second: object stores keep whole seconds, and a copy made now would be visibly younger.
      await sleep(1100);
      for (const name of ['small', 'empty', 'big']) await driver.move(`${base}/${name}`, `${base}/moved/${name}`);
      const after = await Promise.all(['small', 'empty', 'big'].map((name) => driver.stat(`${base}/moved/${name}`)));
      assert.deepEqual(
        after.map((info) => info.modifiedAt.getTime()),
        before.map((info) => info.modifiedAt.getTime()),
      );
      // Stored anew, it is young again.
      await driver.putContent(`${base}/moved/small`, randomBytes(100));
      assert.ok((await driver.stat(`${base}/moved/small`)).modifiedAt.getTime() > (before[0]?.modifiedAt.getTime() ?? 0));
    });

    it('removeEmptyFolder keeps a folder that holds anything and removes it once empty; missing is fine', async () => {
      const base = dir('empty-folder');
      await driver.putContent(`${base}/blob/data`, 'x');
      await driver.removeEmptyFolder(`${base}/blob`);
      assert.equal((await driver.getContent(`${base}/blob/data`)).toString(), 'x', 'a folder with an object stays whole');
      await driver.delete(`${base}/blob/data`);
      await driver.removeEmptyFolder(`${base}/blob`);
      assert.deepEqual(await driver.list(base), []);
      await driver.removeEmptyFolder(`${base}/never`);
    });

    it('deleteLinkFile removes a link with its folder; a folder that holds anything else stays; a link written meanwhile lands', async () => {
      const base = dir('delete-link');
      await driver.putContent(`${base}/sha256/aa/link`, 'sha256:aa');
      await deleteLinkFile(driver, `${base}/sha256/aa/link`);
      assert.deepEqual(await driver.list(`${base}/sha256`), [], 'link and folder are gone');
      await driver.putContent(`${base}/sha256/bb/link`, 'sha256:bb');
      await driver.putContent(`${base}/sha256/bb/other`, 'x');
      await deleteLinkFile(driver, `${base}/sha256/bb/link`);
      assert.deepEqual(await driver.list(`${base}/sha256/bb`), ['other']);
      await deleteLinkFile(driver, `${base}/sha256/never/link`);
      // The collector removing a layer link while a push writes it again: the write never fails.
      for (let round = 0; round < 20; round++) {
        const link = `${base}/race/r${round}/link`;
        await driver.putContent(link, 'old');
        await Promise.all([deleteLinkFile(driver, link), driver.putContent(link, 'new')]);
        const found = await driver.getContent(link).catch((error: unknown) => (isPathNotFound(error) ? undefined : Promise.reject(error)));
        if (found) assert.equal(found.toString(), 'new');
      }
    });

    it('putContent and move racing a delete of their folder still store the object (no ENOENT)', async () => {
      const base = dir('write-vs-delete');
      for (let round = 0; round < 40; round++) {
        const folder = `${base}/r${round}`;
        await driver.putContent(`${base}/source-${round}`, 'moved');
        await Promise.all([
          driver.putContent(`${folder}/link`, 'written'),
          driver.move(`${base}/source-${round}`, `${folder}/data`),
          driver.delete(folder),
          driver.removeEmptyFolder(folder),
        ]);
        // Either the delete came last (nothing left) or the writes did (their bytes): never a failed write.
        for (const [name, content] of [['link', 'written'], ['data', 'moved']] as const) {
          const found = await driver.getContent(`${folder}/${name}`).catch((error: unknown) => (isPathNotFound(error) ? undefined : Promise.reject(error)));
          if (found) assert.equal(found.toString(), content);
        }
      }
    });

    it('list returns every child of a directory of more than one listing page (1000 keys), files and directories alike', async () => {
      const base = dir('list');
      const files = Array.from({ length: 1050 }, (_, index) => `file-${String(index).padStart(4, '0')}`);
      const dirs = Array.from({ length: 60 }, (_, index) => `dir-${String(index).padStart(2, '0')}`);
      await inBatches([...files.map((name) => `${base}/big/${name}`), ...dirs.map((name) => `${base}/big/${name}/link`)], (path) => driver.putContent(path, 'x'));
      await driver.putContent(`${base}/big-sibling/link`, 'x');
      const listed = await (await backend.another()).list(`${base}/big`);
      assert.equal(listed.length, files.length + dirs.length, 'each child once');
      assert.deepEqual([...listed].sort(), [...files, ...dirs].sort());
      assert.deepEqual((await driver.list(base)).sort(), ['big', 'big-sibling']);
      assert.deepEqual(await driver.list(`${base}/big/dir-07`), ['link']);
      assert.deepEqual(await driver.list(`${base}/big/file-0001`), [], 'a file has no children');
      assert.deepEqual(await (await backend.another()).usage(`${base}/big`), { bytes: files.length + dirs.length, files: files.length + dirs.length }, 'usage counts past one listing page');
    });

    it('usage sums the committed objects below a directory, whatever wrote them, and nothing beside it', async () => {
      const base = dir('usage');
      assert.deepEqual(await driver.usage(`${base}/tree`), { bytes: 0, files: 0 }, 'a missing directory counts nothing');
      await driver.putContent(`${base}/tree/a/link`, '12345');
      await driver.putContent(`${base}/tree/a/b/c/deep`, randomBytes(70_000));
      const big = randomBytes(6 * MiB + 17);
      const writer = await driver.writer(`${base}/staging/blob`);
      await pipeline(Readable.from([big]), writer.stream);
      await writer.commit();
      await driver.move(`${base}/staging/blob`, `${base}/tree/d/data`);
      await driver.putContent(`${base}/tree-sibling/link`, 'not counted');
      await driver.putContent(`${base}/tree2`, 'not counted');
      const expected = { bytes: 5 + 70_000 + big.length, files: 3 };
      assert.deepEqual(await driver.usage(`${base}/tree`), expected);
      assert.deepEqual(await (await backend.another()).usage(`${base}/tree`), expected, 'another instance sees the same');
      assert.deepEqual(await driver.usage(`${base}/tree/a`), { bytes: 70_005, files: 2 });
      await driver.delete(`${base}/tree/a`);
      assert.deepEqual(await driver.usage(`${base}/tree`), { bytes: big.length, files: 1 }, 'a deleted subtree no longer counts');
    });

    it('delete removes a whole subtree of more than 1000 objects and nothing beside it, and a single object', async () => {
      const base = dir('delete');
      const paths = Array.from({ length: 1100 }, (_, index) => `${base}/tree/${index % 3}/${index}/link`);
      await inBatches(paths, (path) => driver.putContent(path, 'x'));
      await driver.putContent(`${base}/tree-sibling/link`, 'keep');
      await driver.putContent(`${base}/tree2`, 'keep');
      await driver.delete(`${base}/tree`);
      assert.deepEqual(await driver.list(`${base}/tree`), []);
      await assert.rejects(driver.stat(`${base}/tree`), isPathNotFound);
      await assert.rejects(driver.stat(paths[0] as string), isPathNotFound);
      assert.equal((await driver.getContent(`${base}/tree-sibling/link`)).toString(), 'keep');
      assert.equal((await driver.getContent(`${base}/tree2`)).toString(), 'keep');
      await driver.delete(`${base}/tree2`);
      await assert.rejects(driver.getContent(`${base}/tree2`), isPathNotFound);
      assert.deepEqual((await driver.list(base)).sort(), ['tree-sibling']);
    });

    it('stat tells files (size, modification time) from directories', async () => {
      const base = dir('stat');
      const before = Date.now();
      await driver.putContent(`${base}/a/b/link`, '12345');
      const file = await driver.stat(`${base}/a/b/link`);
      assert.equal(file.isDirectory, false);
      assert.equal(file.size, 5);
      assert.ok(Math.abs(file.modifiedAt.getTime() - before) < 5 * 60_000, `modifiedAt ${file.modifiedAt.toISOString()} is about now`);
      for (const directory of [`${base}/a/b`, `${base}/a`, base]) assert.equal((await driver.stat(directory)).isDirectory, true, directory);
      await assert.rejects(driver.stat(`${base}/a/b/lin`), isPathNotFound, 'a key prefix is not a path');
    });

    it('concurrent writers on different paths each keep their own bytes', async () => {
      const base = dir('concurrent');
      const contents = Array.from({ length: 6 }, (_, index) => randomBytes(4 * MiB + index * 1_000_003));
      await Promise.all(contents.map((content, index) => writeAll(driver, `${base}/${index}/data`, [content.subarray(0, MiB), content.subarray(MiB)], 'commit')));
      for (const [index, content] of contents.entries()) {
        assert.equal(sha256(await readAll(await driver.reader(`${base}/${index}/data`))), sha256(content), `writer ${index}`);
      }
    });

    it('purgeLeftovers never removes the bytes of a closed writer', async () => {
      const path = `${dir('purge')}/data`;
      const content = randomBytes(6 * MiB + 1);
      await writeAll(driver, path, [content], 'close');
      assert.equal(typeof (await driver.purgeLeftovers(0)), 'number');
      const writer = await (await backend.another()).writer(path);
      assert.equal(writer.initialSize, content.length);
      await writer.commit();
      assert.equal(sha256(await readAll(await driver.reader(path))), sha256(content));
    });

    it('a 256 MiB object streams through writer, reader and copyTo in bounded memory', async () => {
      const path = `${dir('stream')}/data`;
      const size = 256 * MiB;
      const memory = sampleMemory();
      const written = createHash('sha256');
      const writer = await driver.writer(path);
      const startedAt = performance.now();
      await pipeline(generated(size, written), writer.stream);
      await writer.commit();
      const putSeconds = (performance.now() - startedAt) / 1000;
      const digest = written.digest('hex');
      assert.equal((await driver.stat(path)).size, size);
      const readAt = performance.now();
      assert.equal(await sha256Stream(await driver.reader(path)), digest, 'reader');
      const getSeconds = (performance.now() - readAt) / 1000;
      const hashing = hashingWritable();
      await driver.copyTo(path, hashing.stream, { start: 0, end: size - 1 });
      assert.equal(hashing.digest(), digest, 'copyTo');
      const growth = memory.stop();
      const mib = (bytes: number) => `${(bytes / MiB).toFixed(0)} MiB`;
      console.log(`# ${name}: 256 MiB put ${(256 / putSeconds).toFixed(0)} MiB/s, get ${(256 / getSeconds).toFixed(0)} MiB/s; peak growth: RSS ${mib(growth.rss)}, buffers ${mib(growth.buffers)}`);
      // Buffers held by JavaScript are the sharp measure (RSS may reuse memory freed by earlier tests); a driver
      // that held the object would need 256 MiB of them at once.
      assert.ok(growth.buffers < 128 * MiB, `buffers grew by ${mib(growth.buffers)} while streaming 256 MiB`);
      assert.ok(growth.rss < 160 * MiB, `RSS grew by ${mib(growth.rss)} while streaming 256 MiB`);
      await driver.delete(path);
    });
  });
}

async function writeAll(driver: StorageDriver, path: string, chunks: readonly Buffer[], end: 'commit' | 'close'): Promise<void> {
  const writer = await driver.writer(path);
  await pipeline(Readable.from(chunks), writer.stream);
  await (end === 'commit' ? writer.commit() : writer.close());
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

async function sha256Stream(stream: Readable): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** A Writable that keeps what it was given (an HTTP response stand-in for copyTo). */
function collector(): { stream: Writable; bytes(): Buffer } {
  const chunks: Buffer[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(Buffer.from(chunk));
      callback();
    },
  });
  return { stream, bytes: () => Buffer.concat(chunks) };
}

/** A Writable that hashes, slowly enough to make copyTo wait for it now and then. */
function hashingWritable(): { stream: Writable; digest(): string } {
  const hash = createHash('sha256');
  const stream = new Writable({
    highWaterMark: 64 * 1024,
    write(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      setImmediate(callback);
    },
  });
  return { stream, digest: () => hash.digest('hex') };
}

/** `size` pseudo-random bytes in fresh 1 MiB chunks, hashed on the way. */
function generated(size: number, hash: ReturnType<typeof createHash>): Readable {
  return Readable.from(
    (function* () {
      for (let offset = 0; offset < size; offset += MiB) {
        const chunk = randomBytes(Math.min(MiB, size - offset));
        hash.update(chunk);
        yield chunk;
      }
    })(),
  );
}

/** Peak growth of RSS and of the ArrayBuffers JavaScript holds (Buffers), over the baseline at the call, every 20 ms. */
function sampleMemory(): { stop(): { rss: number; buffers: number } } {
  const baseline = process.memoryUsage();
  const peak = { rss: baseline.rss, buffers: baseline.arrayBuffers };
  const sample = () => {
    const now = process.memoryUsage();
    peak.rss = Math.max(peak.rss, now.rss);
    peak.buffers = Math.max(peak.buffers, now.arrayBuffers);
  };
  const timer = setInterval(sample, 20);
  return {
    stop: () => {
      clearInterval(timer);
      sample();
      return { rss: peak.rss - baseline.rss, buffers: peak.buffers - baseline.arrayBuffers };
    },
  };
}

async function inBatches(paths: readonly string[], work: (path: string) => Promise<void>): Promise<void> {
  for (let index = 0; index < paths.length; index += 50) await Promise.all(paths.slice(index, index + 50).map(work));
}
