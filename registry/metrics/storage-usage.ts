import type { SpaceUsage, StorageDriver } from '../storage/driver.js';
import { pathFor } from '../storage/paths.js';

/**
 * How much the blob store holds: the total size and number of the objects under `/blobs`, asked of the instance's
 * storage driver, so it describes the data directory with the filesystem driver and the bucket with S3. Everything
 * a repository holds is a blob (layers, configs, manifests), so this is the store's real size; link files and state
 * are a few bytes each and left out.
 *
 * The answer costs a walk of the store (a stat per blob, or a bucket listing of 1000 keys per request), so it is
 * cached: one meter per instance serves /metrics and the admin API, concurrent reads share one walk, and a reader
 * that may see an older figure (a scrape) gets the cached one at once while a walk refreshes it in the background.
 * The metadata index holds no sizes, which is why this is a cached listing rather than a query.
 */
export type StorageUsage = SpaceUsage;

export interface StorageUsageOptions {
  /** How long a result is reused by default. Default 30 000 ms. */
  ttlMs?: number;
  /** Clock, for tests. */
  now?: () => number;
}

export interface StorageUsageRead {
  /** Reuse a result up to this old. Default: the meter's ttlMs. */
  maxAgeMs?: number;
  /**
   * When the cached result is older than maxAgeMs, answer it anyway and refresh in the background (a scrape must
   * not wait for a listing of a large bucket). Without a cached result the read waits for the walk.
   */
  staleWhileRefreshing?: boolean;
}

export interface StorageUsageMeter {
  /** The cached usage, or a fresh walk when the cache is older than allowed. */
  read(options?: StorageUsageRead): Promise<StorageUsage>;
  /** Forgets the cached value (right after garbage collection): the next read waits for a fresh walk. */
  invalidate(): void;
}

export function createStorageUsage(driver: Pick<StorageDriver, 'usage'>, options: StorageUsageOptions = {}): StorageUsageMeter {
  const ttlMs = options.ttlMs ?? 30_000;
  const now = options.now ?? Date.now;
  const blobsRoot = pathFor({ kind: 'blobsRoot' });
  let cached: { at: number; usage: StorageUsage } | undefined;
  let inFlight: Promise<StorageUsage> | undefined;
  let generation = 0;

  const walk = (): Promise<StorageUsage> => {
    if (inFlight) return inFlight;
    const started = generation;
    const running: Promise<StorageUsage> = driver
      .usage(blobsRoot)
      .then((usage) => {
        // An invalidate() during the walk means the result may predate a deletion: return it, do not cache it.
        if (started === generation) cached = { at: now(), usage };
        return { ...usage };
      })
      .finally(() => {
        if (inFlight === running) inFlight = undefined;
      });
    inFlight = running;
    return running;
  };

  return {
    read({ maxAgeMs = ttlMs, staleWhileRefreshing = false } = {}): Promise<StorageUsage> {
      if (cached && now() - cached.at < maxAgeMs) return Promise.resolve({ ...cached.usage });
      if (cached && staleWhileRefreshing) {
        // A failed refresh keeps the old figure; the next read tries again.
        walk().catch(() => undefined);
        return Promise.resolve({ ...cached.usage });
      }
      return walk();
    },
    invalidate(): void {
      generation += 1;
      cached = undefined;
      // A walk in flight may predate the change: the next read starts its own instead of joining it.
      inFlight = undefined;
    },
  };
}
