import type { FileInfo } from '../driver.js';
import { PathNotFoundError } from '../driver.js';
import { contentFrom, headObject } from './s3-content.js';
import type { S3Context } from './s3-context.js';
import { listObjectPages, listUploads, uploadsOf } from './s3-listing.js';

/**
 * stat() and list() over S3's flat key space. A path is a file when its key holds an object or the
 * content of an unfinished writer (s3-content.ts), and a directory when some key lies below it.
 */

export async function statPath(ctx: S3Context, path: string): Promise<FileInfo> {
  const key = ctx.keys.key(path);
  const below = ctx.keys.below(path);
  const isRoot = key === below;
  const head = isRoot ? undefined : await headObject(ctx, key);
  if (head) return { size: head.size, modifiedAt: head.modifiedAt, isDirectory: false };
  // One listing of uploads whose key starts with `key` covers an unfinished writer of the key and any below it.
  const [uploads, child] = await Promise.all([collect(listUploads(ctx, key)), firstObjectBelow(ctx, below)]);
  const own = isRoot ? [] : await uploadsOf(ctx, key, uploads);
  if (own.length > 0) {
    const content = await contentFrom(ctx, key, undefined, own);
    if (content.kind === 'upload') return { size: content.size, modifiedAt: content.modifiedAt, isDirectory: false };
  }
  const upload = uploads.find((candidate) => candidate.Key?.startsWith(below));
  const modifiedAt = child ?? upload?.Initiated;
  if (modifiedAt) return { size: 0, modifiedAt, isDirectory: true };
  throw new PathNotFoundError(path);
}

/** Names of the direct children: objects, "directories" (common prefixes), and keys of unfinished writers. */
export async function listChildren(ctx: S3Context, path: string): Promise<string[]> {
  const below = ctx.keys.below(path);
  const names = new Set<string>();
  const add = (key: string): void => {
    const name = key.slice(below.length).split('/')[0];
    if (name) names.add(name);
  };
  const objects = (async () => {
    for await (const page of listObjectPages(ctx, below, { delimiter: '/' })) {
      for (const object of page.objects) if (object.Key) add(object.Key);
      for (const prefix of page.prefixes) add(prefix);
    }
  })();
  const uploads = (async () => {
    const found: string[] = [];
    for await (const upload of listUploads(ctx, below)) if (upload.Key) found.push(upload.Key);
    return found;
  })();
  await objects;
  for (const key of await uploads) add(key);
  return [...names];
}

async function firstObjectBelow(ctx: S3Context, below: string): Promise<Date | undefined> {
  for await (const page of listObjectPages(ctx, below, { delimiter: '/', maxKeys: 1 })) {
    const object = page.objects[0];
    if (object) return object.LastModified ?? new Date(0);
    if (page.prefixes.length > 0) return new Date(0);
    return undefined;
  }
  return undefined;
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}
