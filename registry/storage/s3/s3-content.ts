import { HeadObjectCommand, type MultipartUpload, type Part } from '@aws-sdk/client-s3';
import type { S3Context } from './s3-context.js';
import { minPartBytes } from './s3-driver-options.js';
import { isMissingObject, request } from './s3-errors.js';
import { listParts, uploadsOf } from './s3-listing.js';

/**
 * What a key holds, read from S3 alone, so that any node can resume a writer another node left:
 *
 * - the object, when it exists. Multipart uploads for the same key are then leftovers of an interrupted append
 *   (a writer that was copying the object into a new upload): the object is the truth;
 * - else the newest multipart upload in progress for the key: the bytes of its parts in order. Only the parts
 *   numbered 1, 2, 3, ... without a gap count, and none after the first short one (S3 refuses a short part in
 *   the middle): anything else was written by a writer that died with parts in flight, never acknowledged;
 * - else nothing.
 *
 * A writer keeps this true at every step (see s3-writer.ts), which is what makes its state recoverable with
 * HeadObject, ListMultipartUploads and ListParts, and what stat() and the next writer agree on.
 */
export type KeyContent =
  | { readonly kind: 'none' }
  | { readonly kind: 'object'; readonly size: number; readonly etag: string; readonly modifiedAt: Date; readonly leftovers: readonly MultipartUpload[] }
  | {
      readonly kind: 'upload';
      readonly uploadId: string;
      /** The parts that count, in order. */
      readonly parts: readonly StoredPart[];
      /** Parts that exist beyond those: they must not be completed with the others. */
      readonly strayParts: boolean;
      readonly size: number;
      readonly modifiedAt: Date;
      readonly leftovers: readonly MultipartUpload[];
    };

export interface StoredPart {
  readonly PartNumber: number;
  readonly ETag: string;
  readonly Size: number;
}

export interface ObjectHead {
  readonly size: number;
  readonly etag: string;
  readonly modifiedAt: Date;
}

/**
 * User metadata that carries an object's modification time across a move: S3 gives a copy a new LastModified,
 * while a move must keep the age, as a rename does (the garbage collector tells a blob stored again from one it
 * moved into its quarantine by the age, and the grace period counts from when the bytes were written).
 */
export const modifiedAtMetadata = 'berth-modified-at';

/** The time a move carried over, else S3's LastModified. */
function modifiedAtOf(head: { Metadata?: Record<string, string>; LastModified?: Date }): Date {
  const carried = head.Metadata?.[modifiedAtMetadata];
  const parsed = carried === undefined ? Number.NaN : Date.parse(carried);
  return Number.isNaN(parsed) ? (head.LastModified ?? new Date(0)) : new Date(parsed);
}

/** HeadObject, or undefined when the object does not exist. */
export async function headObject(ctx: S3Context, key: string): Promise<ObjectHead | undefined> {
  try {
    const head = await request('HeadObject', key, () => ctx.client.send(new HeadObjectCommand({ Bucket: ctx.bucket, Key: key, ...ctx.encryption.access })));
    return { size: head.ContentLength ?? 0, etag: head.ETag ?? '', modifiedAt: modifiedAtOf(head) };
  } catch (error) {
    if (isMissingObject(error)) return undefined;
    throw error;
  }
}

/** The content of `key`. */
export async function contentOf(ctx: S3Context, key: string): Promise<KeyContent> {
  const [head, uploads] = await Promise.all([headObject(ctx, key), uploadsOf(ctx, key)]);
  return contentFrom(ctx, key, head, uploads);
}

/** The content of `key` from what the caller already asked: its HeadObject and its uploads, oldest first. */
export async function contentFrom(ctx: S3Context, key: string, head: ObjectHead | undefined, uploads: readonly MultipartUpload[]): Promise<KeyContent> {
  if (head) return { kind: 'object', ...head, leftovers: uploads };
  const newest = uploads.at(-1);
  if (!newest?.UploadId) return { kind: 'none' };
  const all = (await listParts(ctx, key, newest.UploadId)).sort((a, b) => (a.PartNumber ?? 0) - (b.PartNumber ?? 0));
  const parts = countingParts(all);
  const size = parts.reduce((sum, part) => sum + part.Size, 0);
  const lastModified = parts.at(-1)?.LastModified ?? newest.Initiated ?? new Date(0);
  return {
    kind: 'upload',
    uploadId: newest.UploadId,
    parts: parts.map(({ PartNumber, ETag, Size }) => ({ PartNumber, ETag, Size })),
    strayParts: all.length > parts.length,
    size,
    modifiedAt: lastModified,
    leftovers: uploads.slice(0, -1),
  };
}

function countingParts(sorted: readonly Part[]): Array<StoredPart & { LastModified?: Date }> {
  const counted: Array<StoredPart & { LastModified?: Date }> = [];
  for (const part of sorted) {
    if (part.PartNumber !== counted.length + 1 || !part.ETag || part.Size === undefined) break;
    counted.push({ PartNumber: part.PartNumber, ETag: part.ETag, Size: part.Size, LastModified: part.LastModified });
    if (part.Size < minPartBytes) break;
  }
  return counted;
}
