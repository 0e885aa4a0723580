import { Transform, type TransformCallback } from 'node:stream';
import { createDigester, parseDigest } from '../core/digest.js';
import type { Hash } from 'node:crypto';

/**
 * Passes a blob through while counting and hashing it, and fails at the end — instead of ending cleanly —
 * when fewer (or more) bytes arrived than announced, or when the content does not match its digest. A consumer
 * that writes the stream to disk therefore never sees a clean end for a short or corrupted download.
 */
export class BlobVerifier extends Transform {
  private readonly hash: Hash | undefined;
  private received = 0;

  constructor(
    private readonly digest: string,
    private readonly expectedSize: number | undefined,
    private readonly onBadContent: (message: string, reason: 'protocol' | 'digest-mismatch') => Error,
    verifyDigest: boolean,
    private readonly onChunk?: (chunk: Buffer) => void,
  ) {
    super();
    this.hash = verifyDigest ? createDigester(parseDigest(digest).algorithm) : undefined;
  }

  get bytesReceived(): number {
    return this.received;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.received += chunk.length;
    this.hash?.update(chunk);
    if (this.expectedSize !== undefined && this.received > this.expectedSize) {
      callback(this.onBadContent(`blob ${this.digest}: more than the announced ${this.expectedSize} bytes`, 'protocol'));
      return;
    }
    this.onChunk?.(chunk);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    if (this.expectedSize !== undefined && this.received !== this.expectedSize) {
      callback(this.onBadContent(`blob ${this.digest}: ended after ${this.received} of ${this.expectedSize} bytes`, 'protocol'));
      return;
    }
    if (this.hash !== undefined) {
      const actual = `${parseDigest(this.digest).algorithm}:${this.hash.digest('hex')}`;
      if (actual !== this.digest) {
        callback(this.onBadContent(`blob ${this.digest}: content has digest ${actual}`, 'digest-mismatch'));
        return;
      }
    }
    callback();
  }
}
