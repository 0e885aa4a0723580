import { ListMultipartUploadsCommand, ListObjectsV2Command, ListPartsCommand, type _Object, type MultipartUpload, type Part } from '@aws-sdk/client-s3';
import type { S3Context } from './s3-context.js';
import { request } from './s3-errors.js';

/**
 * Every paged S3 listing, followed to its end: a listing that says it was truncated but gives no way on is an
 * error, never a silently shorter answer.
 */

export interface ObjectPage {
  readonly objects: readonly _Object[];
  /** Without a delimiter: always empty. */
  readonly prefixes: readonly string[];
}

export async function* listObjectPages(ctx: S3Context, prefix: string, options: { delimiter?: string; maxKeys?: number } = {}): AsyncGenerator<ObjectPage> {
  let token: string | undefined;
  for (;;) {
    const page = await request('ListObjectsV2', prefix, () =>
      ctx.client.send(
        new ListObjectsV2Command({ Bucket: ctx.bucket, Prefix: prefix, Delimiter: options.delimiter, MaxKeys: options.maxKeys, ContinuationToken: token }),
      ),
    );
    yield { objects: page.Contents ?? [], prefixes: (page.CommonPrefixes ?? []).map((entry) => entry.Prefix ?? '').filter(Boolean) };
    if (!page.IsTruncated) return;
    if (!page.NextContinuationToken) throw new Error(`S3 ListObjectsV2 ${prefix}: truncated listing without a continuation token`);
    token = page.NextContinuationToken;
  }
}

/** Multipart uploads in progress whose key starts with `prefix`. (radosgw 16 lists none when given a delimiter.) */
export async function* listUploads(ctx: S3Context, prefix: string): AsyncGenerator<MultipartUpload> {
  let keyMarker: string | undefined;
  let uploadIdMarker: string | undefined;
  for (;;) {
    const page = await request('ListMultipartUploads', prefix, () =>
      ctx.client.send(new ListMultipartUploadsCommand({ Bucket: ctx.bucket, Prefix: prefix, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker })),
    );
    yield* page.Uploads ?? [];
    if (!page.IsTruncated) return;
    if (!page.NextKeyMarker) throw new Error(`S3 ListMultipartUploads ${prefix}: truncated listing without a marker`);
    keyMarker = page.NextKeyMarker;
    uploadIdMarker = page.NextUploadIdMarker;
  }
}

/** The uploads in progress for exactly `key`, oldest first (from `listed`, uploads whose key starts with it, if given). */
export async function uploadsOf(ctx: S3Context, key: string, listed?: readonly MultipartUpload[]): Promise<MultipartUpload[]> {
  const found: MultipartUpload[] = [];
  for await (const upload of listed ?? listUploads(ctx, key)) if (upload.Key === key && upload.UploadId) found.push(upload);
  return found.sort(byInitiation);
}

/** Oldest first; the upload id breaks ties, so every node orders the same uploads the same way. */
export function byInitiation(a: MultipartUpload, b: MultipartUpload): number {
  const time = (a.Initiated?.getTime() ?? 0) - (b.Initiated?.getTime() ?? 0);
  return time !== 0 ? time : (a.UploadId ?? '').localeCompare(b.UploadId ?? '');
}

export async function listParts(ctx: S3Context, key: string, uploadId: string): Promise<Part[]> {
  const parts: Part[] = [];
  let marker: string | undefined;
  for (;;) {
    const page = await request('ListParts', key, () =>
      ctx.client.send(new ListPartsCommand({ Bucket: ctx.bucket, Key: key, UploadId: uploadId, PartNumberMarker: marker })),
    );
    parts.push(...(page.Parts ?? []));
    if (!page.IsTruncated) return parts;
    if (!page.NextPartNumberMarker) throw new Error(`S3 ListParts ${key}: truncated listing without a marker`);
    marker = page.NextPartNumberMarker;
  }
}
