import { Readable, type Writable } from 'node:stream';
import type { StorageDriver } from '../driver.js';
import { frameSpan, openFrame, sealFrame, tagBytes, type FrameHeader, type FrameLayout } from './frame-format.js';

/** An encrypted object as found: its header, data key and layout (from its stored size). */
export interface EncryptedObject {
  readonly header: FrameHeader;
  readonly key: Buffer;
  readonly layout: FrameLayout;
}

/**
 * Plaintext `[start, end]` of an encrypted object, as a stream: one ranged read of the frames that cover the range,
 * each frame authenticated before any of its bytes is handed on. Memory: one frame (plus the driver's chunk).
 */
export async function decryptingReader(driver: StorageDriver, path: string, object: EncryptedObject, range?: { start: number; end: number }): Promise<Readable> {
  return Readable.from(await decryptedPieces(driver, path, object, range), { objectMode: false, highWaterMark: 4 * object.header.frameSize });
}

/** The plaintext of `range` as an async sequence of pieces (a frame each, the first and last cut to the range). */
async function decryptedPieces(driver: StorageDriver, path: string, object: EncryptedObject, range?: { start: number; end: number }): Promise<AsyncGenerator<Buffer>> {
  const { header, key, layout } = object;
  const start = range?.start ?? 0;
  const end = Math.min(range?.end ?? Number.MAX_SAFE_INTEGER, layout.plaintextSize - 1);
  if (layout.frames === 0 || start > end) return (async function* () {})();
  const span = frameSpan(layout, header.frameSize, { start, end });
  const stored = await driver.reader(path, { start: span.storedStart, end: span.storedEnd });
  const sealedFrame = header.frameSize + tagBytes;
  const lastIndex = layout.finished ? layout.frames - 1 : -1;

  async function* frames(): AsyncGenerator<Buffer> {
    let index = span.firstFrame;
    let wanted = end - start + 1;
    let skip = span.skip;
    let parts: Buffer[] = [];
    let partBytes = 0;
    const emit = (sealed: Buffer): Buffer | undefined => {
      const plain = openFrame(key, header, index, sealed, index === lastIndex);
      index += 1;
      const piece = plain.subarray(skip, Math.min(plain.length, skip + wanted));
      skip = 0;
      wanted -= piece.length;
      return piece.length > 0 ? piece : undefined;
    };
    for await (const chunk of stored as AsyncIterable<Buffer>) {
      let offset = 0;
      while (offset < chunk.length && wanted > 0) {
        const expected = index === lastIndex ? layout.plaintextSize - index * header.frameSize + tagBytes : sealedFrame;
        const need = expected - partBytes;
        if (partBytes === 0 && chunk.length - offset >= need) {
          // The common case: a whole frame inside the chunk, opened without a copy.
          const piece = emit(chunk.subarray(offset, offset + need));
          offset += need;
          if (piece) yield piece;
          continue;
        }
        const take = Math.min(need, chunk.length - offset);
        parts.push(chunk.subarray(offset, offset + take));
        partBytes += take;
        offset += take;
        if (partBytes === expected) {
          const piece = emit(Buffer.concat(parts, partBytes));
          parts = [];
          partBytes = 0;
          if (piece) yield piece;
        }
      }
      if (wanted <= 0) break;
    }
    // Bytes the driver did not deliver are never made up: a short object is an error, not a short answer.
    if (wanted > 0 && layout.finished) throw new Error(`encrypted object ${path} ended ${wanted} bytes early`);
  }

  return frames();
}

/** Writes plaintext `[start, end]` into `destination` without ending it (StorageDriver.copyTo over encrypted objects). */
export async function decryptInto(driver: StorageDriver, path: string, object: EncryptedObject, destination: Writable, range: { start: number; end: number }): Promise<void> {
  // The pieces go straight into the response, without a Readable in between (one stream hop less per frame), and a
  // few are in flight at once (like the plain copy's buffers): the next frame is decrypted while the socket sends.
  const source = await decryptedPieces(driver, path, object, range);
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  let inFlight = 0;
  const wait = () => new Promise<void>((resolve) => (wake = resolve));
  const onClose = () => {
    failure ??= Object.assign(new Error('the client went away'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
    wake?.();
  };
  destination.once('close', onClose);
  if (destination.destroyed) onClose();
  try {
    for await (const chunk of source) {
      if (failure) throw failure;
      inFlight += 1;
      destination.write(chunk, (error) => {
        inFlight -= 1;
        if (error) failure ??= error;
        wake?.();
      });
      while (inFlight >= piecesInFlight && !failure) await wait();
    }
    while (inFlight > 0 && !failure) await wait();
    if (failure) throw failure;
  } finally {
    destination.off('close', onClose);
    // Ends the ranged read of the stored object when the copy stopped early (the client went away).
    await source.return(undefined);
  }
}

/** Decrypted frames handed to the response before waiting for the first to be written. */
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
