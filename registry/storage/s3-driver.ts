import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { GetObjectCommand, HeadBucketCommand } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { PathNotFoundError, type StorageDriver } from './driver.js';
import { createS3Context, type S3Context } from './s3/s3-context.js';
import type { S3DriverOptions } from './s3/s3-driver-options.js';
import { headObject } from './s3/s3-content.js';
import { deleteTree } from './s3/s3-delete.js';
import { isMissingObject, isUnsatisfiableRange, request } from './s3/s3-errors.js';
import { copyObject, deleteObject, getObject, putObject } from './s3/s3-objects.js';
import { purgeAbandonedUploads } from './s3/s3-purge.js';
import { listChildren, statPath } from './s3/s3-tree.js';
import { usageBelow } from './s3/s3-usage.js';
import { openS3Writer } from './s3/s3-writer.js';
import { streamInto } from './s3/stream-into.js';

export type { S3DriverOptions, S3Encryption } from './s3/s3-driver-options.js';
export { S3RequestError } from './s3/s3-errors.js';
export { EncryptionNotConfirmedError } from './s3/s3-encryption.js';

/**
 * StorageDriver over an S3 bucket (AWS or any S3-compatible service; tested against Ceph radosgw 16), so that
 * several Berth nodes can share one store. Every method keeps the contract of driver.ts; what S3 does
 * differently is hidden here:
 *
 * - putContent is one PutObject (atomic); reader and copyTo are ranged GETs that stream.
 * - writer() appends through multipart uploads whose state lives in S3 only, so any node resumes a writer
 *   another node closed or lost (s3/s3-writer.ts, s3/s3-content.ts). stat() and list() see a closed writer's
 *   bytes; reader(), getContent(), copyTo() and move() read committed objects, the only ones Berth reads.
 * - move is a server-side copy (UploadPartCopy in parallel for big objects), then a delete of the source.
 * - a directory is the key prefix of its children; list pages through ListObjectsV2 to the end.
 * - delete of a subtree aborts its unfinished uploads, then deletes its objects 1000 per request.
 * - purgeLeftovers aborts the multipart uploads that interrupted writers left behind (s3/s3-purge.ts).
 * - usage sums the sizes of a listing of the subtree (s3/s3-usage.ts).
 */
export interface S3StorageDriver extends StorageDriver {
  readonly name: 's3';
  /**
   * A pre-signed GET URL of an object, for a redirect (HTTP 307) that lets the client fetch a blob from the
   * object store directly; undefined when redirects are off (the default) or impossible (SSE-C). Checks that the
   * object exists (PathNotFoundError otherwise). Wiring, for the HTTP layer: the blob GET handler, after the
   * repository and range checks, asks the blob store for this URL and, when it gets one, answers 307 with
   * `Location` and `Docker-Content-Digest` instead of streaming; HEAD stays local.
   */
  redirectUrl(path: string): Promise<string | undefined>;
  /** Closes the client's connections. */
  close(): void;
}

/**
 * Creates the driver and checks, before anything is stored, that the bucket answers and, when encryption is
 * asked for, that the service confirms it (a service that would store plaintext is refused).
 */
export async function createS3Driver(options: S3DriverOptions): Promise<S3StorageDriver> {
  const ctx = createS3Context(options);
  try {
    await request('HeadBucket', '', () => ctx.client.send(new HeadBucketCommand({ Bucket: ctx.bucket })));
    if (options.encryption) await probeEncryption(ctx);
  } catch (error) {
    ctx.client.destroy();
    throw error;
  }
  const redirects = options.redirects ? { expiresIn: options.redirects.expiresInSeconds ?? 20 * 60 } : undefined;

  async function read(path: string, range?: { start: number; end: number }): Promise<Readable> {
    try {
      return (await getObject(ctx, ctx.keys.key(path), range)).body;
    } catch (error) {
      if (isMissingObject(error)) throw new PathNotFoundError(path, { cause: error });
      throw error;
    }
  }

  return {
    name: 's3',

    async getContent(path) {
      const body = await read(path);
      const chunks: Buffer[] = [];
      for await (const chunk of body) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    },

    putContent(path, content) {
      return putObject(ctx, ctx.keys.key(path), Buffer.isBuffer(content) ? content : Buffer.from(content));
    },

    async reader(path, range) {
      try {
        return await read(path, range);
      } catch (error) {
        // As a file read past its end: nothing, not an error.
        if (isUnsatisfiableRange(error)) return Readable.from([]);
        throw error;
      }
    },

    async copyTo(path, destination, range) {
      const expected = range.end - range.start + 1;
      let body: Readable;
      try {
        body = await read(path, range);
      } catch (error) {
        if (isUnsatisfiableRange(error)) throw new Error(`object ended ${expected} bytes early`, { cause: error });
        throw error;
      }
      await streamInto(body, destination, expected);
    },

    writer: (path) => openS3Writer(ctx, path),

    stat: (path) => statPath(ctx, path),

    list: (path) => listChildren(ctx, path),

    async move(source, destination) {
      const sourceKey = ctx.keys.key(source);
      const targetKey = ctx.keys.key(destination);
      const head = await headObject(ctx, sourceKey);
      if (!head) throw new PathNotFoundError(source);
      if (sourceKey === targetKey) return;
      await copyObject(ctx, { key: sourceKey, ...head }, targetKey);
      await deleteObject(ctx, sourceKey);
    },

    delete: (path) => deleteTree(ctx, ctx.keys.key(path), ctx.keys.below(path)),

    // Keys have no folders to tidy: a "folder" exists exactly while an object lies below it.
    removeEmptyFolder: async () => undefined,

    purgeLeftovers: (olderThanMs) => purgeAbandonedUploads(ctx, olderThanMs),

    usage: (path) => usageBelow(ctx, path),

    async redirectUrl(path) {
      if (!redirects || !ctx.encryption.presignable) return undefined;
      const key = ctx.keys.key(path);
      if (!(await headObject(ctx, key))) throw new PathNotFoundError(path);
      return getSignedUrl(ctx.client, new GetObjectCommand({ Bucket: ctx.bucket, Key: key }), { expiresIn: redirects.expiresIn });
    },

    close: () => ctx.client.destroy(),
  };
}

/** Writes and removes one small object, which throws EncryptionNotConfirmedError when the service ignores SSE. */
async function probeEncryption(ctx: S3Context): Promise<void> {
  const key = ctx.keys.key(`/.berth-encryption-probe-${randomBytes(8).toString('hex')}`);
  try {
    await putObject(ctx, key, Buffer.from('berth'));
  } finally {
    await deleteObject(ctx, key).catch(() => undefined);
  }
}
