import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  UploadPartCommand,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import type { StoredPart } from './s3-content.js';
import type { S3Context } from './s3-context.js';
import { maxParts } from './s3-driver-options.js';
import { isMissingUpload, request } from './s3-errors.js';

/** The multipart upload calls, with the configured encryption on each. */

export async function createUpload(ctx: S3Context, key: string, metadata?: Record<string, string>): Promise<string> {
  const created = await request('CreateMultipartUpload', key, () =>
    ctx.client.send(
      new CreateMultipartUploadCommand({
        Bucket: ctx.bucket,
        Key: key,
        ContentType: 'application/octet-stream',
        ...(metadata ? { Metadata: metadata } : {}),
        ...ctx.encryption.create,
      }),
    ),
  );
  ctx.encryption.confirm('CreateMultipartUpload', key, created);
  if (!created.UploadId) throw new Error(`S3 CreateMultipartUpload ${key}: no upload id in the answer`);
  return created.UploadId;
}

export async function uploadPart(ctx: S3Context, key: string, uploadId: string, partNumber: number, body: Buffer): Promise<StoredPart> {
  if (partNumber > maxParts) throw new Error(`S3 upload ${key}: more than ${maxParts} parts (raise partSizeBytes for objects this large)`);
  const uploaded = await request('UploadPart', key, () =>
    ctx.client.send(
      new UploadPartCommand({ Bucket: ctx.bucket, Key: key, UploadId: uploadId, PartNumber: partNumber, Body: body, ContentLength: body.length, ...ctx.encryption.access }),
    ),
  );
  if (!uploaded.ETag) throw new Error(`S3 UploadPart ${key}: no ETag in the answer`);
  return { PartNumber: partNumber, ETag: uploaded.ETag, Size: body.length };
}

/**
 * Copies `[0, size)` of `sourceKey` into parts `firstPart, firstPart + 1, ...` of an upload, in ranges of at most
 * copyPartSizeBytes cut evenly (so every range is at least half of that, above S3's minimum part), with
 * copyConcurrency requests in flight. `etag` guards against copying a source that changed meanwhile (where the
 * service honours x-amz-copy-source-if-match; radosgw 16 ignores it).
 */
export async function copyIntoParts(
  ctx: S3Context,
  source: { key: string; size: number; etag: string },
  target: { key: string; uploadId: string; firstPart: number },
): Promise<StoredPart[]> {
  const count = Math.max(1, Math.ceil(source.size / ctx.limits.copyPartSizeBytes));
  const ranges = Array.from({ length: count }, (_, index) => {
    const start = Math.floor((source.size * index) / count);
    const end = Math.floor((source.size * (index + 1)) / count) - 1;
    return { start, end, partNumber: target.firstPart + index };
  });
  if (target.firstPart + count - 1 > maxParts) throw new Error(`S3 copy into ${target.key}: more than ${maxParts} parts`);
  const parts: StoredPart[] = new Array(count);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < ranges.length) {
      const range = ranges[next++] as (typeof ranges)[number];
      const copied = await request('UploadPartCopy', target.key, () =>
        ctx.client.send(
          new UploadPartCopyCommand({
            Bucket: ctx.bucket,
            Key: target.key,
            UploadId: target.uploadId,
            PartNumber: range.partNumber,
            CopySource: copySource(ctx, source.key),
            CopySourceRange: `bytes=${range.start}-${range.end}`,
            ...(source.etag ? { CopySourceIfMatch: source.etag } : {}),
            ...ctx.encryption.access,
            ...ctx.encryption.copySource,
          }),
        ),
      );
      const etag = copied.CopyPartResult?.ETag;
      if (!etag) throw new Error(`S3 UploadPartCopy ${target.key}: no ETag in the answer`);
      parts[range.partNumber - target.firstPart] = { PartNumber: range.partNumber, ETag: etag, Size: range.end - range.start + 1 };
    }
  };
  await Promise.all(Array.from({ length: Math.min(ctx.limits.copyConcurrency, count) }, worker));
  return parts;
}

export async function completeUpload(ctx: S3Context, key: string, uploadId: string, parts: readonly StoredPart[]): Promise<{ etag: string }> {
  const completed = await request('CompleteMultipartUpload', key, () =>
    ctx.client.send(
      new CompleteMultipartUploadCommand({
        Bucket: ctx.bucket,
        Key: key,
        UploadId: uploadId,
        MultipartUpload: { Parts: parts.map(({ PartNumber, ETag }) => ({ PartNumber, ETag })) },
      }),
    ),
  );
  return { etag: completed.ETag ?? '' };
}

/** Aborts an upload; one that is gone already (completed or aborted by someone else) is fine. */
export async function abortUpload(ctx: S3Context, key: string, uploadId: string): Promise<void> {
  try {
    await request('AbortMultipartUpload', key, () => ctx.client.send(new AbortMultipartUploadCommand({ Bucket: ctx.bucket, Key: key, UploadId: uploadId })));
  } catch (error) {
    if (!isMissingUpload(error)) throw error;
  }
}

/** `bucket/key` with the key URL-encoded, as x-amz-copy-source wants it. */
export function copySource(ctx: S3Context, key: string): string {
  return `${ctx.bucket}/${encodeURIComponent(key).replace(/%2F/g, '/')}`;
}
