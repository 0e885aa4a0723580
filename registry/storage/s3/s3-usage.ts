import type { SpaceUsage } from '../driver.js';
import type { S3Context } from './s3-context.js';
import { listObjectPages } from './s3-listing.js';

/**
 * StorageDriver.usage on S3: the sizes ListObjectsV2 reports for every object below `path`, summed page by page
 * (1000 keys a request, none held after its page). Unfinished multipart uploads are no objects and not counted.
 */
export async function usageBelow(ctx: S3Context, path: string): Promise<SpaceUsage> {
  let bytes = 0;
  let files = 0;
  for await (const page of listObjectPages(ctx, ctx.keys.below(path))) {
    for (const object of page.objects) {
      bytes += object.Size ?? 0;
      files += 1;
    }
  }
  return { bytes, files };
}
