import { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { FileWriter } from '../driver.js';
import { contentOf, type KeyContent, type StoredPart } from './s3-content.js';
import type { S3Context } from './s3-context.js';
import { minPartBytes } from './s3-driver-options.js';
import { abortUpload, completeUpload, copyIntoParts, createUpload, uploadPart } from './s3-multipart.js';
import { deleteObject, getObject, putObject } from './s3-objects.js';

/**
 * A writer that appends to a key through a multipart upload, and leaves after every step a state that
 * s3-content.ts reads back the same way on any node: the object if it exists, else the newest upload's parts.
 *
 * - Bytes are buffered and sent as parts of partSizeBytes, one part in flight while the next one fills.
 * - close() sends what is buffered as a last part of any size: the bytes stay, in S3, for the next writer.
 * - commit() completes the upload: the key becomes an object. A writer that wrote fewer than 5 MiB in all and
 *   has no upload yet stores one PutObject instead.
 * - Appending needs a state S3 can extend. A new part can follow the upload's parts only when the last one is
 *   at least 5 MiB (S3 refuses a short part in the middle), and an object cannot be appended to at all. So the
 *   first write of a writer that resumes a short last part completes that upload (the key becomes an object),
 *   and the first write to an object starts a new upload that holds the object: copied server-side as its first
 *   parts when it is at least 5 MiB (then the object is deleted: the upload is the content now), read back
 *   into the buffer when it is smaller (the object is deleted once a part holds those bytes, or overwritten by
 *   the commit). This is CNCF distribution's scheme; the difference is that every intermediate state is a valid
 *   one, so a writer that dies at any point loses only bytes it never acknowledged.
 *
 * One writer per key at a time: the upload store serializes writers of one session in a process; across nodes
 * that is the job of the upload session lock.
 */
export async function openS3Writer(ctx: S3Context, path: string): Promise<FileWriter> {
  const key = ctx.keys.key(path);
  return new S3Writer(ctx, key, await contentOf(ctx, key)).handle();
}

class S3Writer {
  readonly stream: Writable;
  private uploadId: string | undefined;
  /** The upload being created: parts sent at once must share it. */
  private creating: Promise<string> | undefined;
  /** Parts that hold the content, by part number (1-based). */
  private readonly parts: StoredPart[] = [];
  /** Parts finish out of order: numbers are handed out here, not from parts.length. */
  private nextPartNumber = 1;
  private readonly inFlight = new Set<Promise<void>>();
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Whether the first byte arrived (and the stored state was made appendable). */
  private appending = false;
  /** The object the upload replaces: deleted once a part holds its bytes (or overwritten by the commit). */
  private replacedObject = false;
  /** A part failed to upload: later bytes cannot follow it, so nothing more is stored. */
  private failure: Error | undefined;
  private done: Promise<void> | undefined;
  /** The chunk being accepted: a stream destroyed by its source does not wait for it, finish() must. */
  private accepting: Promise<void> = Promise.resolve();

  constructor(
    private readonly ctx: S3Context,
    private readonly key: string,
    private readonly initial: KeyContent,
  ) {
    this.stream = new Writable({
      highWaterMark: 1024 * 1024,
      write: (chunk: Buffer, _encoding, callback) => {
        this.accepting = this.accept(chunk);
        this.accepting.then(() => callback(), callback);
      },
      final: (callback) => this.settle().then(() => callback(this.failure), callback),
    });
  }

  handle(): FileWriter {
    return {
      stream: this.stream,
      initialSize: this.initial.kind === 'none' ? 0 : this.initial.size,
      commit: () => (this.done ??= this.finish(true)),
      close: () => (this.done ??= this.finish(false)),
    };
  }

  private async accept(chunk: Buffer): Promise<void> {
    if (this.failure) throw this.failure;
    if (chunk.length === 0) return;
    if (!this.appending) {
      this.appending = true;
      // A failure half-way leaves the stored content as it was (see makeAppendable): store nothing more.
      await this.makeAppendable().catch((error: unknown) => {
        this.failure = error instanceof Error ? error : new Error(String(error));
        throw error;
      });
    }
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.pendingBytes >= this.ctx.limits.partSizeBytes) {
      // One part in flight while the next one fills, never two: parts then land in order, and a writer that dies
      // leaves no gap. (A gap could never be completed on radosgw 16, which refuses a CompleteMultipartUpload that
      // leaves out any part it holds: the bytes before the gap would be lost.)
      await this.settle();
      if (this.failure) throw this.failure;
      this.sendPart();
    }
  }

  /** Turns the stored content into an upload this writer can add parts to (see the comment at the top). */
  private async makeAppendable(): Promise<void> {
    let content = this.initial;
    if (content.kind === 'upload') {
      const last = content.parts.at(-1);
      const extendable = !content.strayParts && (last === undefined || last.Size >= minPartBytes);
      if (extendable) {
        this.uploadId = content.uploadId;
        this.parts.push(...content.parts);
        this.nextPartNumber = this.parts.length + 1;
        await this.abortLeftovers(content);
        return;
      }
      const { etag } = await completeUpload(this.ctx, this.key, content.uploadId, content.parts);
      content = { kind: 'object', size: content.size, etag, modifiedAt: new Date(), leftovers: content.leftovers };
    }
    if (content.kind === 'none') return;
    await this.abortLeftovers(content);
    if (content.size >= minPartBytes) {
      this.uploadId = await createUpload(this.ctx, this.key);
      const copied = await copyIntoParts(this.ctx, { key: this.key, size: content.size, etag: content.etag }, { key: this.key, uploadId: this.uploadId, firstPart: 1 });
      this.parts.push(...copied);
      this.nextPartNumber = this.parts.length + 1;
      await deleteObject(this.ctx, this.key);
      return;
    }
    const { body } = await getObject(this.ctx, this.key);
    for await (const piece of body) {
      this.pending.push(piece as Buffer);
      this.pendingBytes += (piece as Buffer).length;
    }
    if (this.pendingBytes !== content.size) throw new Error(`S3 GetObject ${this.key}: read ${this.pendingBytes} bytes of ${content.size}`);
    this.replacedObject = true;
  }

  /** Older uploads of the key are what interrupted writers left: this writer owns the key now. */
  private async abortLeftovers(content: KeyContent): Promise<void> {
    if (content.kind === 'none') return;
    await Promise.all(content.leftovers.map((upload) => abortUpload(this.ctx, this.key, upload.UploadId as string)));
  }

  /** Sends everything buffered as the next part. */
  private sendPart(): void {
    const body = this.pending.length === 1 ? (this.pending[0] as Buffer) : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    const partNumber = this.nextPartNumber++;
    const sent = (async () => {
      const uploadId = this.uploadId ?? (await (this.creating ??= createUpload(this.ctx, this.key).then((id) => (this.uploadId = id))));
      this.parts[partNumber - 1] = await uploadPart(this.ctx, this.key, uploadId, partNumber, body);
    })().catch((error: unknown) => {
      this.failure ??= error instanceof Error ? error : new Error(String(error));
    });
    this.inFlight.add(sent);
    void sent.finally(() => this.inFlight.delete(sent));
  }

  private async settle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
  }

  private async finish(commit: boolean): Promise<void> {
    if (!this.stream.destroyed && !this.stream.writableFinished) {
      this.stream.end();
      await finished(this.stream).catch(() => undefined);
    }
    // A stream cut off by its source (a broken PATCH) still hands over what it accepted, in order; only a part
    // that failed to upload makes the bytes after it unplaceable.
    await this.accepting.catch(() => undefined);
    await this.settle();
    if (this.failure) {
      if (commit) throw this.failure;
      return;
    }
    return commit ? this.commit() : this.keep();
  }

  /** close(): what was accepted stays in S3, readable by the next writer on any node. */
  private async keep(): Promise<void> {
    if (!this.appending) {
      // Nothing written: the key exists afterwards, as a file the writer opened would.
      if (this.initial.kind === 'none') await putObject(this.ctx, this.key, Buffer.alloc(0));
      return;
    }
    if (this.uploadId === undefined && this.pendingBytes < minPartBytes) {
      // Short content and no upload: one object (it replaces the small object read into the buffer, if any).
      await putObject(this.ctx, this.key, this.takePending());
      return;
    }
    if (this.pendingBytes > 0) this.sendPart();
    await this.settle();
    if (this.failure) throw this.failure;
    if (this.replacedObject) await deleteObject(this.ctx, this.key);
  }

  /** commit(): the key becomes a complete object. */
  private async commit(): Promise<void> {
    if (!this.appending) {
      if (this.initial.kind === 'none') await putObject(this.ctx, this.key, Buffer.alloc(0));
      else if (this.initial.kind === 'upload') await this.completeUntouched(this.initial);
      return;
    }
    if (this.uploadId === undefined) {
      await putObject(this.ctx, this.key, this.takePending());
      return;
    }
    if (this.pendingBytes > 0) this.sendPart();
    await this.settle();
    if (this.failure) throw this.failure;
    await completeUpload(this.ctx, this.key, this.uploadId, this.parts);
  }

  /** Commit of a writer that wrote nothing over an upload another writer left. */
  private async completeUntouched(content: Extract<KeyContent, { kind: 'upload' }>): Promise<void> {
    if (content.parts.length === 0) {
      await putObject(this.ctx, this.key, Buffer.alloc(0));
      await abortUpload(this.ctx, this.key, content.uploadId);
      return;
    }
    await completeUpload(this.ctx, this.key, content.uploadId, content.parts);
  }

  private takePending(): Buffer {
    const body = Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    return body;
  }
}
