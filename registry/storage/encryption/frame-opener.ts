import type { DecipherGCM } from 'node:crypto';
import { authenticateFrame, EncryptedObjectError, frameDecipher, frameSpan, tagBytes, type FrameHeader, type FrameLayout, type FrameSpan } from './frame-format.js';

/** An encrypted object as found: its header, data key and layout (from its stored size). */
export interface EncryptedObject {
  readonly header: FrameHeader;
  readonly key: Buffer;
  readonly layout: FrameLayout;
}

/**
 * The first frame of a read did not authenticate, and no plaintext was handed on. Besides damage, this is what a
 * header read before the object was stored again looks like: a blob pushed twice is replaced (blob-store.ts), with a
 * new data key, and a cached header (or one read just before, by this node or another) no longer fits its frames.
 * The reader may look at the header again and retry.
 */
export class FirstFrameMismatchError extends EncryptedObjectError {}

/** What a read of plaintext `[start, end]` of an object has to fetch: the stored bytes of the frames that cover it. */
export interface FramedRead {
  readonly span: FrameSpan;
  readonly start: number;
  readonly end: number;
}

/** The frames a read of `range` (all of the object when absent) needs; undefined when it needs none (empty). */
export function planFramedRead(object: EncryptedObject, range?: { start: number; end: number }): FramedRead | undefined {
  const { header, layout } = object;
  const start = range?.start ?? 0;
  const end = Math.min(range?.end ?? Number.MAX_SAFE_INTEGER, layout.plaintextSize - 1);
  if (layout.frames === 0 || start > end) return undefined;
  return { span: frameSpan(layout, header.frameSize, { start, end }), start, end };
}

/**
 * Opens the frames of a read as their stored bytes arrive, in chunks of any size and alignment (a driver's read
 * buffers, an S3 response's pieces). Ciphertext goes to the frame's decipher as it comes, so a frame split across
 * chunks is never joined into one buffer first, and a chunk is consumed by the time push() returns: the caller may
 * reuse it at once. A frame's plaintext is handed on only once the frame authenticates, cut to the range.
 */
export class FrameOpener {
  private index: number;
  private readonly firstIndex: number;
  private skip: number;
  private wanted: number;
  private readonly lastIndex: number;
  private decipher: DecipherGCM | undefined;
  /** Ciphertext bytes of the open frame not yet fed to its decipher. */
  private cipherLeft = 0;
  private readonly tag = Buffer.alloc(tagBytes);
  private tagFilled = 0;
  /** The open frame's plaintext so far, held until its tag says it may be used. */
  private pending: Buffer[] = [];

  constructor(
    private readonly object: EncryptedObject,
    read: FramedRead,
  ) {
    this.index = read.span.firstFrame;
    this.firstIndex = read.span.firstFrame;
    this.skip = read.span.skip;
    this.wanted = read.end - read.start + 1;
    // An upload still being written has no last frame yet: every frame it holds is a whole one.
    this.lastIndex = object.layout.finished ? object.layout.frames - 1 : -1;
  }

  /** Whether every byte of the range has been handed on. */
  get satisfied(): boolean {
    return this.wanted <= 0;
  }

  /** Bytes of the range not handed on yet. */
  get missing(): number {
    return Math.max(this.wanted, 0);
  }

  /** Consumes the next stored bytes of the read; calls `emit` with each authenticated piece of plaintext. */
  push(chunk: Buffer, emit: (piece: Buffer) => void): void {
    let offset = 0;
    while (offset < chunk.length && this.wanted > 0) {
      const decipher = this.decipher ?? this.openNext();
      if (this.cipherLeft > 0) {
        const take = Math.min(this.cipherLeft, chunk.length - offset);
        this.pending.push(decipher.update(chunk.subarray(offset, offset + take)));
        this.cipherLeft -= take;
        offset += take;
        continue;
      }
      const take = Math.min(tagBytes - this.tagFilled, chunk.length - offset);
      chunk.copy(this.tag, this.tagFilled, offset, offset + take);
      this.tagFilled += take;
      offset += take;
      if (this.tagFilled === tagBytes) this.closeFrame(decipher, emit);
    }
  }

  private openNext(): DecipherGCM {
    const { header, key, layout } = this.object;
    const last = this.index === this.lastIndex;
    this.decipher = frameDecipher(key, header, this.index, last);
    this.cipherLeft = last ? layout.plaintextSize - this.index * header.frameSize : header.frameSize;
    this.tagFilled = 0;
    return this.decipher;
  }

  private closeFrame(decipher: DecipherGCM, emit: (piece: Buffer) => void): void {
    try {
      authenticateFrame(decipher, this.index, this.tag);
    } catch (error) {
      if (this.index !== this.firstIndex || !(error instanceof EncryptedObjectError)) throw error;
      throw new FirstFrameMismatchError(error.message, { cause: error.cause });
    }
    const parts = this.pending;
    this.pending = [];
    this.decipher = undefined;
    this.index += 1;
    for (const part of parts) {
      if (this.skip >= part.length) {
        this.skip -= part.length;
        continue;
      }
      const piece = part.subarray(this.skip, Math.min(part.length, this.skip + this.wanted));
      this.skip = 0;
      this.wanted -= piece.length;
      if (piece.length > 0) emit(piece);
      if (this.wanted <= 0) return;
    }
  }
}
