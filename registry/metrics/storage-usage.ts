import { lstat, opendir } from 'node:fs/promises';
import { join, resolve } from 'node:path';

/**
 * How much disk the blob store uses: the sum of the file sizes under `<dataDir>/blobs`. Walking a large store
 * costs a stat per blob, so the result is cached (30 s by default) and concurrent scrapes share one walk.
 * Everything a repository holds is a blob (layers, configs, manifests), so this is the store's real size;
 * repository link files and state are a few bytes each and left out.
 */
export interface StorageUsage {
  bytes: number;
  /** Regular files counted (one `data` file per blob). */
  files: number;
}

export interface StorageUsageOptions {
  /** How long a result is reused. Default 30 000 ms. */
  ttlMs?: number;
  /** Clock, for tests. */
  now?: () => number;
}

export interface StorageUsageMeter {
  /** The cached usage, or a fresh walk when the cache is older than ttlMs. */
  read(): Promise<StorageUsage>;
  /** Forget the cached value (e.g. right after garbage collection). */
  invalidate(): void;
}

/** Walks `dir` with opendir (one directory handle at a time, no full listing in memory). Missing dir = empty. */
export async function walkUsage(dir: string): Promise<StorageUsage> {
  const total: StorageUsage = { bytes: 0, files: 0 };
  async function visit(path: string): Promise<void> {
    let handle;
    try {
      handle = await opendir(path);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      // Deleted under us (GC, an upload's temp dir) or never created: nothing to count.
      if (code === 'ENOENT' || code === 'ENOTDIR') return;
      throw error;
    }
    for await (const entry of handle) {
      const child = join(path, entry.name);
      if (entry.isDirectory()) {
        await visit(child);
      } else if (entry.isFile()) {
        const info = await lstat(child).catch(() => undefined);
        if (info) {
          total.bytes += info.size;
          total.files += 1;
        }
      }
    }
  }
  await visit(dir);
  return total;
}

export function createStorageUsage(dataDir: string, options: StorageUsageOptions = {}): StorageUsageMeter {
  const ttlMs = options.ttlMs ?? 30_000;
  const now = options.now ?? Date.now;
  const blobsDir = join(dataDir, 'blobs');
  let cached: { at: number; usage: StorageUsage } | undefined;
  let inFlight: Promise<StorageUsage> | undefined;
  let generation = 0;

  return {
    read(): Promise<StorageUsage> {
      if (cached && now() - cached.at < ttlMs) return Promise.resolve({ ...cached.usage });
      if (inFlight) return inFlight;
      const started = generation;
      inFlight = walkUsage(blobsDir)
        .then((usage) => {
          // An invalidate() during the walk means the result may predate a deletion: return it, do not cache it.
          if (started === generation) cached = { at: now(), usage };
          return { ...usage };
        })
        .finally(() => {
          inFlight = undefined;
        });
      return inFlight;
    },
    invalidate(): void {
      generation += 1;
      cached = undefined;
    },
  };
}

const meters = new Map<string, StorageUsageMeter>();

/** `createStorageUsage` shared per data directory, so every caller in the process hits the same 30 s cache. */
export function storageUsage(dataDir: string): Promise<StorageUsage> {
  const key = resolve(dataDir);
  let meter = meters.get(key);
  if (!meter) meters.set(key, (meter = createStorageUsage(key)));
  return meter.read();
}
