import type { MultipartUpload } from '@aws-sdk/client-s3';
import type { S3Context } from './s3-context.js';
import { byInitiation, listUploads } from './s3-listing.js';
import { headObject } from './s3-content.js';
import { abortUpload } from './s3-multipart.js';

/**
 * Aborts the multipart uploads that interrupted writers left behind, started more than `olderThanMs` ago:
 * those that are no longer the content of their key (see s3-content.ts), because the key has an object or a
 * newer upload. The newest upload of a key without an object is the key's content, the bytes an upload session
 * holds until it is committed or its session is purged (then deleting the session aborts it), and is kept
 * however old: aborting it would lose a resumable push. Returns how many uploads were aborted.
 */
export async function purgeAbandonedUploads(ctx: S3Context, olderThanMs: number, now = Date.now()): Promise<number> {
  const byKey = new Map<string, MultipartUpload[]>();
  for await (const upload of listUploads(ctx, ctx.keys.below('/'))) {
    if (!upload.Key || !upload.UploadId) continue;
    const uploads = byKey.get(upload.Key) ?? [];
    uploads.push(upload);
    byKey.set(upload.Key, uploads);
  }
  let aborted = 0;
  const cutoff = now - olderThanMs;
  for (const [key, uploads] of byKey) {
    const old = (upload: MultipartUpload) => (upload.Initiated?.getTime() ?? 0) < cutoff;
    if (!uploads.some(old)) continue;
    uploads.sort(byInitiation);
    const superseded = (await headObject(ctx, key)) ? uploads : uploads.slice(0, -1);
    for (const upload of superseded.filter(old)) {
      await abortUpload(ctx, key, upload.UploadId as string);
      aborted += 1;
    }
  }
  return aborted;
}
