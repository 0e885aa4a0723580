import { setTimeout as delay } from 'node:timers/promises';
import { DeleteObjectsCommand } from '@aws-sdk/client-s3';
import type { S3Context } from './s3-context.js';
import { request } from './s3-errors.js';
import { listObjectPages, listUploads } from './s3-listing.js';
import { abortUpload } from './s3-multipart.js';

/** DeleteObjects takes at most 1000 keys. */
const batchSize = 1000;

/**
 * Deletes the object at `key` and everything below `key/`: first the uploads in progress there (an upload left
 * after its object is gone would become the key's content again, see s3-content.ts), then the objects in
 * batches of 1000. What does not exist is not an error.
 */
export async function deleteTree(ctx: S3Context, key: string, below: string): Promise<void> {
  const aborts: Array<Promise<void>> = [];
  for await (const upload of listUploads(ctx, key)) {
    if (upload.Key && upload.UploadId && (upload.Key === key || upload.Key.startsWith(below))) aborts.push(abortUpload(ctx, upload.Key, upload.UploadId));
  }
  await Promise.all(aborts);
  let batch: string[] = key === below ? [] : [key];
  for await (const page of listObjectPages(ctx, below)) {
    for (const object of page.objects) {
      if (!object.Key) continue;
      batch.push(object.Key);
      if (batch.length === batchSize) {
        await deleteBatch(ctx, below, batch);
        batch = [];
      }
    }
  }
  if (batch.length > 0) await deleteBatch(ctx, below, batch);
}

/**
 * Per-key errors of DeleteObjects that a retry clears: the service busy, or (radosgw's UnknownError) a write to the
 * same key racing the delete in its bucket index, seen in the contract test that writes a link while deleting it.
 */
const transientKeyErrors = new Set(['InternalError', 'SlowDown', 'ServiceUnavailable', 'UnknownError']);
const keyRetryDelaysMs = [50, 150, 400];

async function deleteBatch(ctx: S3Context, below: string, keys: readonly string[]): Promise<void> {
  let pending = keys;
  for (let attempt = 0; ; attempt += 1) {
    const result = await request('DeleteObjects', below, () =>
      ctx.client.send(new DeleteObjectsCommand({ Bucket: ctx.bucket, Delete: { Objects: pending.map((Key) => ({ Key })), Quiet: true } })),
    );
    const failed = (result.Errors ?? []).filter((error) => error.Code !== 'NoSuchKey');
    if (failed.length === 0) return;
    const wait = keyRetryDelaysMs[attempt];
    if (wait === undefined || !failed.every((error) => error.Key && transientKeyErrors.has(error.Code ?? ''))) {
      const first = failed[0];
      throw new Error(`S3 DeleteObjects ${below}: ${failed.length} of ${pending.length} keys not deleted (${first?.Key}: ${first?.Code} ${first?.Message ?? ''})`);
    }
    await delay(wait);
    pending = failed.map((error) => error.Key as string);
  }
}
