import { CopyObjectCommand, DeleteObjectCommand, GetObjectCommand, PutObjectCommand, type GetObjectCommandOutput } from '@aws-sdk/client-s3';
import type { Readable } from 'node:stream';
import type { S3Context } from './s3-context.js';
import { request, S3RequestError } from './s3-errors.js';
import { abortUpload, completeUpload, copyIntoParts, copySource, createUpload } from './s3-multipart.js';
import { modifiedAtMetadata, type ObjectHead } from './s3-content.js';

/** Single-object calls: put, ranged get, delete, server-side copy. */

export async function putObject(ctx: S3Context, key: string, body: Buffer, metadata?: Record<string, string>): Promise<void> {
  const put = await request('PutObject', key, () =>
    ctx.client.send(
      new PutObjectCommand({
        Bucket: ctx.bucket,
        Key: key,
        Body: body,
        ContentLength: body.length,
        ContentType: 'application/octet-stream',
        ...(metadata ? { Metadata: metadata } : {}),
        ...ctx.encryption.create,
      }),
    ),
  );
  ctx.encryption.confirm('PutObject', key, put);
}

/** GetObject of `[start, end]` (inclusive) or the whole object; the body streams. */
export async function getObject(ctx: S3Context, key: string, range?: { start: number; end: number }): Promise<{ body: Readable; output: GetObjectCommandOutput }> {
  const output = await request('GetObject', key, () =>
    ctx.client.send(new GetObjectCommand({ Bucket: ctx.bucket, Key: key, ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}), ...ctx.encryption.access })),
  );
  // In Node the SDK's body is the http.IncomingMessage itself.
  return { body: output.Body as Readable, output };
}

export async function deleteObject(ctx: S3Context, key: string): Promise<void> {
  await request('DeleteObject', key, () => ctx.client.send(new DeleteObjectCommand({ Bucket: ctx.bucket, Key: key })));
}

/**
 * Server-side copy: one CopyObject up to multipartCopyThresholdBytes, else (or when the service refuses
 * CopyObject, as radosgw 16 does for SSE-C sources) a multipart upload of UploadPartCopy ranges. The target
 * appears whole or not at all, with the source's modification time (s3-content.ts modifiedAtMetadata): this is
 * the first half of a move.
 */
export async function copyObject(ctx: S3Context, source: { key: string } & ObjectHead, targetKey: string): Promise<void> {
  const metadata = { [modifiedAtMetadata]: source.modifiedAt.toISOString() };
  if (source.size === 0) return putObject(ctx, targetKey, Buffer.alloc(0), metadata);
  if (source.size <= ctx.limits.multipartCopyThresholdBytes && !ctx.singleCopyUnsupported) {
    try {
      const copied = await request('CopyObject', targetKey, () =>
        ctx.client.send(
          new CopyObjectCommand({
            Bucket: ctx.bucket,
            Key: targetKey,
            CopySource: copySource(ctx, source.key),
            ...(source.etag ? { CopySourceIfMatch: source.etag } : {}),
            MetadataDirective: 'REPLACE',
            Metadata: metadata,
            ContentType: 'application/octet-stream',
            ...ctx.encryption.create,
            ...ctx.encryption.copySource,
          }),
        ),
      );
      ctx.encryption.confirm('CopyObject', targetKey, copied);
      return;
    } catch (error) {
      if (!(error instanceof S3RequestError && error.status === 501)) throw error;
      ctx.singleCopyUnsupported = true;
    }
  }
  const uploadId = await createUpload(ctx, targetKey, metadata);
  try {
    const parts = await copyIntoParts(ctx, source, { key: targetKey, uploadId, firstPart: 1 });
    await completeUpload(ctx, targetKey, uploadId, parts);
  } catch (error) {
    await abortUpload(ctx, targetKey, uploadId).catch(() => undefined);
    throw error;
  }
}
