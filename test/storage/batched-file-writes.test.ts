import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { fstatSync } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, it } from 'node:test';
import { createBatchedFileWrites } from '../../registry/storage/batched-file-writes.js';
import { createTempDir, removeDir } from '../support/temp-dir.js';

const KiB = 1024;
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

describe('batched file writes (the filesystem driver writer under every upload and pull-through)', () => {
  let root: string;
  before(async () => {
    root = await createTempDir('berth-batched-writes-');
  });
  after(() => removeDir(root));

  it('appends every byte in order across batches, and end() writes the last partial batch', async () => {
    const path = join(root, 'mixed');
    const handle = await open(path, 'a');
    // Socket-sized chunks, odd sizes and chunks bigger than a batch, as network bodies arrive.
    const sizes = [64 * KiB, 1, 1000, 300 * KiB, 64 * KiB, 2 * 1024 * KiB + 7, 13, 64 * KiB, 5];
    const chunks = sizes.map((size) => randomBytes(size));
    try {
      await pipeline(Readable.from(chunks), createBatchedFileWrites(handle.fd, 256 * KiB));
    } finally {
      await handle.close();
    }
    const expected = Buffer.concat(chunks);
    const written = await readFile(path);
    assert.equal(written.length, expected.length);
    assert.equal(sha256(written), sha256(expected));
  });

  it('holds a fast writer back once a batch is full, with at most about one batch in memory', async () => {
    const handle = await open(join(root, 'backpressure'), 'a');
    try {
      const stream = createBatchedFileWrites(handle.fd, 128 * KiB);
      let accepted = 0;
      // write() says "stop" once a batch and the stream's own queue hold what it allows.
      while (stream.write(randomBytes(64 * KiB))) accepted += 1;
      assert.ok(accepted <= 4, `write() accepted ${accepted} chunks of 64 KiB before asking the writer to wait`);
      stream.end();
      await new Promise((resolve, reject) => stream.once('finish', resolve).once('error', reject));
    } finally {
      await handle.close();
    }
  });

  it('a stream destroyed while a batch is being written closes only after that write: the size is final by then', async () => {
    const path = join(root, 'destroyed');
    const handle = await open(path, 'a');
    try {
      // A big batch, so that its writev is still running when the stream is destroyed.
      const batch = 32 * 1024 * KiB;
      const stream = createBatchedFileWrites(handle.fd, batch);
      stream.on('error', () => undefined);
      const chunk = randomBytes(64 * KiB);
      // The last of these completes the batch: its writev starts now, and the stream is destroyed (a cut source) at once.
      for (let written = 0; written < batch; written += chunk.length) stream.write(chunk);
      stream.write(chunk);
      stream.destroy(new Error('connection reset by the client'));
      // Read synchronously in the 'close' listener: the file as the stream's owner sees it when it goes on.
      const atClose = await new Promise<number>((resolve) => stream.once('close', () => resolve(fstatSync(handle.fd).size)));
      assert.equal(atClose, batch, 'the batch under way is in the file at close; the chunk after it is dropped');
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal((await handle.stat()).size, atClose, 'nothing lands after close');
    } finally {
      await handle.close();
    }
  });

  it('fails the stream, not silently, when the file cannot be written', async () => {
    const handle = await open(join(root, 'read-only'), 'w+');
    const readOnly = await open(join(root, 'read-only'), 'r');
    await handle.close();
    try {
      const chunks = [randomBytes(200 * KiB), randomBytes(200 * KiB)];
      await assert.rejects(pipeline(Readable.from(chunks), createBatchedFileWrites(readOnly.fd, 128 * KiB)), { code: 'EBADF' });
    } finally {
      await readOnly.close();
    }
  });
});
