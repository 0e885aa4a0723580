import { Readable, Writable } from 'node:stream';
import { destinationClosedError, type StorageDriver } from '../driver.js';
import { openFrame, sealFrame, tagBytes, type FrameHeader } from './frame-format.js';
import { FirstFrameMismatchError, FrameOpener, planFramedRead, type EncryptedObject } from './frame-opener.js';

/** How often a read looks at an object's header again when its first frame does not fit (FirstFrameMismatchError). */
const headerRereads = 2;

/** The object as it is now, its header read afresh (undefined: no longer encrypted). */
export type Reinspect = () => Promise<EncryptedObject | undefined>;

/**
 * Plaintext `[start, end]` of an encrypted object, as a stream: one ranged read of the frames that cover the range,
 * each frame authenticated before any of its bytes is handed on. Memory: one frame (plus the driver's chunk).
 * `reinspect`, when given, reads the header afresh after a FirstFrameMismatchError, and the read starts over.
 */
export async function decryptingReader(
  driver: StorageDriver,
  path: string,
  object: EncryptedObject,
  range?: { start: number; end: number },
  reinspect?: Reinspect,
): Promise<Readable> {
  return Readable.from(await decryptedPieces(driver, path, object, range, reinspect), { objectMode: false, highWaterMark: 4 * object.header.frameSize });
}

/** The plaintext of `range` as an async sequence of pieces (a frame each, the first and last cut to the range). */
async function decryptedPieces(
  driver: StorageDriver,
  path: string,
  first: EncryptedObject,
  range: { start: number; end: number } | undefined,
  reinspect: Reinspect | undefined,
): Promise<AsyncGenerator<Buffer>> {
  const open = async (object: EncryptedObject) => {
    const read = planFramedRead(object, range);
    if (!read) return undefined;
    return { object, stored: await driver.reader(path, { start: read.span.storedStart, end: read.span.storedEnd }), opener: new FrameOpener(object, read) };
  };
  // The first read is opened here, so that a missing object fails the call rather than the stream.
  let current = await open(first);

  async function* frames(): AsyncGenerator<Buffer> {
    const opened: Buffer[] = [];
    const collect = (piece: Buffer) => opened.push(piece);
    for (let rereads = 0; current; rereads += 1) {
      const { object, stored, opener } = current;
      try {
        for await (const chunk of stored as AsyncIterable<Buffer>) {
          opener.push(chunk, collect);
          yield* opened.splice(0);
          if (opener.satisfied) break;
        }
      } catch (error) {
        const fresh = error instanceof FirstFrameMismatchError && reinspect && rereads < headerRereads ? await reinspect() : undefined;
        if (!fresh) throw error;
        current = await open(fresh);
        continue;
      }
      // Bytes the driver did not deliver are never made up: a short object is an error, not a short answer.
      if (!opener.satisfied && object.layout.finished) throw new Error(`encrypted object ${path} ended ${opener.missing} bytes early`);
      return;
    }
  }

  return frames();
}

/**
 * Writes plaintext `[start, end]` into `destination` without ending it (StorageDriver.copyTo over encrypted objects).
 *
 * The stored frames come through the inner driver's own copyTo, into a sink that opens them: on the filesystem that
 * reads into a ring of reused buffers, where a read stream would allocate a fresh MiB per chunk for the collector.
 * A chunk is given back once its frames are opened and at most `piecesInFlight` opened frames wait for the socket, so
 * the next chunk is read and opened while the socket sends. `reinspect` as for decryptingReader.
 */
export async function decryptInto(
  driver: StorageDriver,
  path: string,
  object: EncryptedObject,
  destination: Writable,
  range: { start: number; end: number },
  reinspect?: Reinspect,
): Promise<void> {
  let current = object;
  for (let rereads = 0; ; rereads += 1) {
    try {
      return await decryptIntoOnce(driver, path, current, destination, range);
    } catch (error) {
      // Nothing was written yet (see FirstFrameMismatchError): the object may have been stored again since.
      const fresh = error instanceof FirstFrameMismatchError && reinspect && rereads < headerRereads ? await reinspect() : undefined;
      if (!fresh) throw error;
      current = fresh;
    }
  }
}

async function decryptIntoOnce(driver: StorageDriver, path: string, object: EncryptedObject, destination: Writable, range: { start: number; end: number }): Promise<void> {
  const read = planFramedRead(object, range);
  if (!read) return;
  const opener = new FrameOpener(object, read);
  let broken: Error | undefined;
  let inFlight = 0;
  let resume: (() => void) | undefined;
  const settle = () => {
    if (!resume || (inFlight >= piecesInFlight && !broken)) return;
    const next = resume;
    resume = undefined;
    next();
  };
  const written = (error?: Error | null) => {
    inFlight -= 1;
    if (error) broken ??= error;
    settle();
  };
  const send = (piece: Buffer) => {
    inFlight += 1;
    destination.write(piece, written);
  };
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      try {
        opener.push(chunk, send);
      } catch (error) {
        broken ??= error as Error;
      }
      resume = () => callback(broken);
      settle();
    },
  });
  // The copy below reports the failure; the sink's own error event must not go unheard.
  sink.on('error', () => undefined);
  const onClose = () => {
    broken ??= destinationClosedError();
    sink.destroy();
  };
  destination.once('close', onClose);
  if (destination.destroyed) onClose();
  try {
    try {
      await driver.copyTo(path, sink, { start: read.span.storedStart, end: read.span.storedEnd });
    } catch (error) {
      throw broken ?? error;
    }
    while (inFlight > 0 && !broken) await new Promise<void>((resolve) => (resume = resolve));
    if (broken) throw broken;
    if (!opener.satisfied && object.layout.finished) throw new Error(`encrypted object ${path} ended ${opener.missing} bytes early`);
  } finally {
    destination.off('close', onClose);
    sink.destroy();
  }
}

/** Opened frames handed to the response before a stored chunk is given back to the driver. */
const piecesInFlight = 4;

/** A small object (manifest) encrypted whole, in memory: header + frames + the last frame. */
export function encryptWhole(key: Buffer, header: FrameHeader, content: Uint8Array): Buffer {
  const parts: Buffer[] = [header.bytes];
  const frameSize = header.frameSize;
  let index = 0;
  for (let offset = 0; ; offset += frameSize, index += 1) {
    const rest = content.length - offset;
    const last = rest < frameSize;
    parts.push(...sealFrame(key, header, index, content.subarray(offset, offset + Math.min(rest, frameSize)), last));
    if (last) break;
  }
  return Buffer.concat(parts);
}

/** The plaintext of a small finished object read whole. */
export function decryptWhole(object: EncryptedObject, stored: Buffer): Buffer {
  const { header, key, layout } = object;
  if (!layout.finished) throw new Error('encrypted object is not finished');
  const parts: Buffer[] = [];
  let offset = header.bytes.length;
  for (let index = 0; index < layout.frames; index += 1) {
    const last = index === layout.frames - 1;
    const length = (last ? layout.plaintextSize - index * header.frameSize : header.frameSize) + tagBytes;
    parts.push(openFrame(key, header, index, stored.subarray(offset, offset + length), last));
    offset += length;
  }
  return Buffer.concat(parts);
}
