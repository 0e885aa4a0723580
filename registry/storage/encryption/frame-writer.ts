import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { isPathNotFound, type FileWriter, type StorageDriver } from '../driver.js';
import { uploadTailPathOf } from '../paths.js';
import type { DataKeys } from './data-keys.js';
import { decryptingReader } from './frame-reader.js';
import { EncryptedObjectError, headerBytes, newHeader, openFrame, parseHeader, sealFrame, tagBytes, type FrameHeader } from './frame-format.js';

/**
 * Appends to an encrypted object (upload data; an encrypted rewrite) with the driver's plain append writer
 * underneath, across requests and nodes:
 *
 * - the object holds the header and whole frames only while it is being written; the bytes of the frame not yet
 *   full live in its tail object (`<path>-tail`, one atomic putContent, sealed under the data key with a random
 *   nonce of its own, never the frame's), with the header, so a writer on any node continues where the last one
 *   closed. The tail exists from the first open: it is what says "this upload is encrypted";
 * - commit() seals the tail as the last frame, commits the object, and deletes the tail: the object is finished
 *   (the upload store commits only the last chunk of an upload);
 * - the tail names the frame it follows: a tail that does not match the object (the process died between the
 *   two writes) is ignored, so the size reported is what is really stored and the client resumes from there;
 * - an object that does not end on a whole frame (a write cut inside a frame, or a finished object opened again
 *   by a retried PUT) is rewritten once, re-encrypted under a fresh nonce base (a frame index is never sealed
 *   twice with one nonce), before appending goes on.
 */

interface Tail {
  readonly header: FrameHeader;
  readonly frameIndex: number;
  readonly plaintext: Buffer;
}

function tailAad(header: FrameHeader, frameIndex: number): Buffer {
  const aad = Buffer.alloc(headerBytes + 12);
  header.bytes.copy(aad, 0);
  aad.write('tail', headerBytes, 'latin1');
  aad.writeBigUInt64BE(BigInt(frameIndex), headerBytes + 4);
  return aad;
}

function sealTail(key: Buffer, tail: Tail): Buffer {
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(tailAad(tail.header, tail.frameIndex));
  const body = Buffer.concat([cipher.update(tail.plaintext), cipher.final()]);
  const index = Buffer.alloc(8);
  index.writeBigUInt64BE(BigInt(tail.frameIndex));
  return Buffer.concat([tail.header.bytes, index, nonce, body, cipher.getAuthTag()]);
}

async function readTail(driver: StorageDriver, path: string, keys: DataKeys): Promise<{ tail: Tail; key: Buffer } | undefined> {
  let bytes: Buffer;
  try {
    bytes = await driver.getContent(path);
  } catch (error) {
    if (isPathNotFound(error)) return undefined;
    throw error;
  }
  const header = parseHeader(bytes);
  if (!header || bytes.length < headerBytes + 20 + tagBytes) throw new EncryptedObjectError(`${path}: not an upload tail`);
  const key = await keys.open(header.keyId);
  const frameIndex = Number(bytes.readBigUInt64BE(headerBytes));
  const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(headerBytes + 8, headerBytes + 20));
  decipher.setAAD(tailAad(header, frameIndex));
  decipher.setAuthTag(bytes.subarray(bytes.length - tagBytes));
  try {
    const plaintext = Buffer.concat([decipher.update(bytes.subarray(headerBytes + 20, bytes.length - tagBytes)), decipher.final()]);
    return { tail: { header, frameIndex, plaintext }, key };
  } catch (error) {
    throw new EncryptedObjectError(`${path}: the upload tail does not authenticate`, { cause: error });
  }
}

/** A finished encrypted object as if it had a tail that matches nothing (its last frame becomes the pending bytes). */
async function finishedObject(driver: StorageDriver, path: string, keys: DataKeys): Promise<{ tail: Tail; key: Buffer } | undefined> {
  const parts: Buffer[] = [];
  try {
    for await (const chunk of await driver.reader(path, { start: 0, end: headerBytes - 1 })) parts.push(chunk as Buffer);
  } catch (error) {
    // Not readable as an object: an S3 multipart upload, never a finished object (those are committed).
    if (isPathNotFound(error)) return undefined;
    throw error;
  }
  const header = parseHeader(Buffer.concat(parts));
  if (!header) return undefined;
  return { tail: { header, frameIndex: -1, plaintext: Buffer.alloc(0) }, key: await keys.open(header.keyId) };
}

/** The plaintext size of upload data that has a tail: whole frames + the tail when it matches. */
export async function uploadPlaintextSize(driver: StorageDriver, path: string, tailPath: string, keys: DataKeys, storedSize: number): Promise<number | undefined> {
  const found = await readTail(driver, tailPath, keys);
  if (!found) return undefined;
  const { header, frameIndex, plaintext } = found.tail;
  if (storedSize <= headerBytes) return frameIndex === 0 ? plaintext.length : 0;
  const body = storedSize - headerBytes;
  const sealedFrame = header.frameSize + tagBytes;
  // Whole frames plus the tail when it follows them. Bytes after the whole frames are a frame being written, a write
  // cut short, or the last frame of a commit whose tail is not deleted yet: in that last case the tail holds the
  // same bytes as the last frame, so the sum is right in every case.
  const whole = Math.floor(body / sealedFrame);
  return whole * header.frameSize + (frameIndex === whole ? plaintext.length : 0);
}

/**
 * Opens an encrypted append writer on `path`, or undefined when `path` holds plaintext upload data (a session
 * started before encryption was enabled stays plaintext to its end; the encryption pass handles the blob later)
 * or when nothing is stored and `encryptNew` is false.
 */
export async function openFrameWriter(driver: StorageDriver, keys: DataKeys, path: string, tailPath: string, encryptNew: boolean): Promise<FileWriter | undefined> {
  const storedSize = await driver.stat(path).then(
    (info) => info.size,
    (error: unknown) => {
      if (isPathNotFound(error)) return 0;
      throw error;
    },
  );
  // No tail but stored bytes: a finished encrypted object (its commit deleted the tail) opened again, or plaintext.
  const found = (await readTail(driver, tailPath, keys)) ?? (storedSize >= headerBytes ? await finishedObject(driver, path, keys) : undefined);
  let header: FrameHeader;
  let key: Buffer;
  let frames = 0;
  let pending: Buffer = Buffer.alloc(0);
  if (!found) {
    if (storedSize > 0 || !encryptNew) return undefined;
    const created = await keys.create();
    key = created.key;
    header = newHeader(created.id);
    await driver.putContent(tailPath, sealTail(key, { header, frameIndex: 0, plaintext: pending }));
  } else if (storedSize < headerBytes) {
    // No whole header stored yet (none written, or a write cut inside it): the tail holds everything.
    ({ header } = found.tail);
    key = found.key;
    if (storedSize > 0) await driver.delete(path);
    if (found.tail.frameIndex === 0) pending = found.tail.plaintext;
  } else {
    ({ header } = found.tail);
    key = found.key;
    const body = Math.max(storedSize - headerBytes, 0);
    const sealedFrame = header.frameSize + tagBytes;
    const whole = Math.floor(body / sealedFrame);
    const rest = body % sealedFrame;
    if (rest === 0) {
      frames = whole;
      if (found.tail.frameIndex === whole) pending = found.tail.plaintext;
    } else {
      ({ header, frames, pending } = await repair(driver, path, tailPath, found.tail, key, whole, rest));
    }
  }
  return frameWriter(driver, path, tailPath, key, header, frames, pending, storedSize < headerBytes);
}

/**
 * Rewrites an object that ends inside a frame or with its last frame: its whole frames re-encrypted under a new
 * nonce base, streamed (one frame in memory), into `<path>-repair`, then moved over the object.
 */
async function repair(driver: StorageDriver, path: string, tailPath: string, tail: Tail, key: Buffer, whole: number, rest: number): Promise<{ header: FrameHeader; frames: number; pending: Buffer }> {
  const old = tail.header;
  // Committing makes what a dead writer left readable (an S3 multipart upload becomes an object).
  const settle = await driver.writer(path);
  await settle.commit();
  const sealedFrame = old.frameSize + tagBytes;
  let pending: Buffer = tail.frameIndex === whole ? tail.plaintext : Buffer.alloc(0);
  if (rest >= tagBytes) {
    const start = headerBytes + whole * sealedFrame;
    const parts: Buffer[] = [];
    for await (const chunk of await driver.reader(path, { start, end: start + rest - 1 })) parts.push(chunk as Buffer);
    try {
      pending = openFrame(key, old, whole, Buffer.concat(parts), true);
    } catch {
      // A write cut inside the frame: the tail (when it matches) holds these bytes.
    }
  }
  const header = newHeader(old.keyId, old.frameSize);
  const temp = `${path}-repair`;
  const tempTail = uploadTailPathOf(temp);
  await driver.delete(temp);
  const plaintext = await decryptingReader(driver, path, { header: old, key, layout: { frames: whole, finished: false, plaintextSize: whole * old.frameSize } });
  const writer = await frameWriter(driver, temp, tempTail, key, header, 0, Buffer.alloc(0), true);
  await pipeline(plaintext, writer.stream);
  await writer.close();
  await driver.delete(tempTail);
  await driver.putContent(tailPath, sealTail(key, { header, frameIndex: whole, plaintext: pending }));
  await driver.move(temp, path);
  return { header, frames: whole, pending };
}

function frameWriter(driver: StorageDriver, path: string, tailPath: string, key: Buffer, header: FrameHeader, startFrames: number, startPending: Buffer, needHeader: boolean): Promise<FileWriter> {
  return driver.writer(path).then((inner) => {
    const frameSize = header.frameSize;
    let frames = startFrames;
    const frame = Buffer.allocUnsafe(frameSize);
    startPending.copy(frame, 0);
    let filled = startPending.length;
    let headerDue = needHeader;
    let failure: Error | undefined;
    inner.stream.on('error', (error) => (failure ??= error));

    /**
     * Hands `buffers` (frames and their tags) to the driver's stream as they are; resolves when it can take more.
     * The drivers gather writes into batches (batched-file-writes.ts: one writev a MiB; S3: parts), so a 16-byte tag
     * costs no system call of its own, and joining them first only copied every frame once more.
     */
    const push = (buffers: Buffer[]): Promise<void> => {
      let ok = true;
      for (const buffer of buffers) ok = inner.stream.write(buffer);
      if (ok || failure) return Promise.resolve();
      return new Promise((resolve) => {
        const done = () => {
          inner.stream.off('drain', done);
          inner.stream.off('error', done);
          resolve();
        };
        inner.stream.once('drain', done);
        inner.stream.once('error', done);
      });
    };
    const withHeader = (buffers: Buffer[]): Buffer[] => {
      if (!headerDue) return buffers;
      headerDue = false;
      return [header.bytes, ...buffers];
    };

    const stream = new Writable({
      highWaterMark: 1024 * 1024,
      write(chunk: Buffer, _encoding, callback) {
        if (failure) return callback(failure);
        const sealed: Buffer[] = [];
        let offset = 0;
        while (offset < chunk.length) {
          const take = Math.min(frameSize - filled, chunk.length - offset);
          chunk.copy(frame, filled, offset, offset + take);
          filled += take;
          offset += take;
          if (filled === frameSize) {
            sealed.push(...sealFrame(key, header, frames, frame, false));
            frames += 1;
            filled = 0;
          }
        }
        if (sealed.length === 0) return callback();
        push(withHeader(sealed)).then(() => callback(failure), callback);
      },
    });

    const tail = (): Tail => ({ header, frameIndex: frames, plaintext: Buffer.from(frame.subarray(0, filled)) });
    const endOurs = async () => {
      if (!stream.writableEnded && !stream.destroyed) {
        stream.end();
        await finished(stream).catch(() => undefined);
      }
    };
    let done: Promise<void> | undefined;
    return {
      stream,
      initialSize: startFrames * frameSize + startPending.length,
      commit: () =>
        (done ??= (async () => {
          await endOurs();
          if (failure) {
            await inner.close().catch(() => undefined);
            throw failure;
          }
          await push(withHeader(sealFrame(key, header, frames, frame.subarray(0, filled), true)));
          await inner.commit();
          await driver.delete(tailPath);
        })()),
      close: () =>
        (done ??= (async () => {
          await endOurs();
          await inner.close();
          await driver.putContent(tailPath, sealTail(key, tail()));
        })()),
    } satisfies FileWriter;
  });
}
