/**
 * Keeps manifest reads off the disk on the hot path (`GET /v2/<name>/manifests/<tag>` is what every
 * `docker pull` starts with). Entries are keyed by `repository@reference` and dropped at once by this
 * process's own writes. Another process's writes (the CLI's `retention run` or `image rm` beside a running server)
 * are seen a millisecond later when `changeCount` is given (the local index's counter), and otherwise, so that a
 * second Berth on shared storage is seen, after `ttlMs`. The TTL also bounds a read that overlapped another
 * process's tag deletion (the index row goes before the file). Bounded by total bytes; the oldest entries go first.
 */
export interface CachedManifest {
  readonly digest: string;
  readonly mediaType: string;
  readonly bytes: Buffer;
  /** Quoted strong validator, computed once. */
  readonly etag: string;
}

export interface ManifestCache {
  get(repository: string, reference: string): CachedManifest | undefined;
  set(repository: string, reference: string, manifest: CachedManifest): void;
  /**
   * The cached manifest, or the one `load` reads (and caches). Concurrent misses of one key share a single load:
   * when an entry expires under load, every request in flight missed at once and each read the store (on S3, a
   * burst of GETs per expiry). A load that an invalidate overtook is neither joined by later callers nor cached,
   * so a GET after a push's answer never sees the manifest from before it.
   */
  getOrLoad(repository: string, reference: string, load: () => Promise<CachedManifest | undefined>): Promise<CachedManifest | undefined>;
  /** Forgets every entry of a repository (a tag moved, a manifest was deleted). */
  invalidate(repository: string): void;
}

export interface ManifestCacheOptions {
  ttlMs?: number;
  maxBytes?: number;
  /**
   * The repository's change counter as the store holds it now, read synchronously: an entry loaded at another count
   * is stale. Only for a counter that is cheap to read (one on this machine); a shared database keeps to the TTL.
   */
  changeCount?: (repository: string) => number;
  /** The clock, in milliseconds (tests step it). */
  now?: () => number;
}

/** Past this many repositories the counters read in the current millisecond are forgotten at once. */
const countersKept = 10_000;

export function createManifestCache(options: ManifestCacheOptions = {}): ManifestCache {
  const ttlMs = options.ttlMs ?? 1000;
  const maxBytes = options.maxBytes ?? 64 * 1024 * 1024;
  const { changeCount, now = Date.now } = options;
  /**
   * The counters read in the current millisecond, reused within it: a read costs about 4 µs of a manifest GET's 25
   * (a SQLite statement), so a server under load reads each repository's at most once a millisecond, and a change
   * another process committed is seen by every request that starts a millisecond later.
   */
  let countedAt = Number.NaN;
  const counted = new Map<string, number>();
  /** The counter now; undefined when there is none, NaN when it could not be read (then nothing cached is trusted). */
  const changesNow = (repository: string): number | undefined => {
    if (!changeCount) return undefined;
    const at = now();
    if (at !== countedAt || counted.size >= countersKept) {
      counted.clear();
      countedAt = at;
    }
    const known = counted.get(repository);
    if (known !== undefined) return known;
    let count: number;
    try {
      count = changeCount(repository);
    } catch {
      return Number.NaN;
    }
    counted.set(repository, count);
    return count;
  };
  const entries = new Map<string, { manifest: CachedManifest; expiresAt: number; changes: number | undefined }>();
  const byRepository = new Map<string, Set<string>>();
  let totalBytes = 0;
  /** Loads under way, with the counter they began at. */
  const loads = new Map<string, { loading: Promise<CachedManifest | undefined>; changes: number | undefined }>();
  // A counter of invalidations, and the value it had at each repository's last one: a load that started before
  // its repository's last invalidation is stale.
  let invalidations = 0;
  const invalidatedAt = new Map<string, number>();

  function drop(key: string): void {
    const entry = entries.get(key);
    if (!entry) return;
    entries.delete(key);
    totalBytes -= entry.manifest.bytes.length;
  }

  /** Caches `manifest`, read when the repository's counter was `changes`. */
  function put(repository: string, reference: string, manifest: CachedManifest, changes: number | undefined): void {
    const key = `${repository}@${reference}`;
    drop(key);
    entries.set(key, { manifest, expiresAt: now() + ttlMs, changes });
    totalBytes += manifest.bytes.length;
    let keys = byRepository.get(repository);
    if (!keys) byRepository.set(repository, (keys = new Set()));
    keys.add(key);
    for (const oldest of entries.keys()) {
      if (totalBytes <= maxBytes) break;
      drop(oldest);
    }
  }

  const cache: ManifestCache = {
    getOrLoad(repository, reference, load) {
      const key = `${repository}@${reference}`;
      const changes = changesNow(repository);
      const entry = entries.get(key);
      if (entry && entry.expiresAt >= now() && entry.changes === changes) return Promise.resolve(entry.manifest);
      // A load that began before another process's change is not joined either.
      const running = loads.get(key);
      if (running && running.changes === changes) return running.loading;
      const startedAt = invalidations;
      const loading = load().then(
        (manifest) => {
          if (loads.get(key)?.loading === loading) loads.delete(key);
          if (manifest && (invalidatedAt.get(repository) ?? -1) <= startedAt) put(repository, reference, manifest, changes);
          return manifest;
        },
        (error: unknown) => {
          if (loads.get(key)?.loading === loading) loads.delete(key);
          throw error;
        },
      );
      loads.set(key, { loading, changes });
      return loading;
    },

    get(repository, reference) {
      const key = `${repository}@${reference}`;
      const entry = entries.get(key);
      if (!entry) return undefined;
      if (entry.expiresAt < now() || entry.changes !== changesNow(repository)) {
        drop(key);
        return undefined;
      }
      return entry.manifest;
    },

    set(repository, reference, manifest) {
      put(repository, reference, manifest, changesNow(repository));
    },

    invalidate(repository) {
      counted.delete(repository); // this process's own write moved the counter
      for (const key of byRepository.get(repository) ?? []) drop(key);
      byRepository.delete(repository);
      invalidations += 1;
      invalidatedAt.set(repository, invalidations);
      // Repository names hold no '@': the prefix is exactly this repository's loads.
      for (const key of loads.keys()) if (key.startsWith(`${repository}@`)) loads.delete(key);
    },
  };
  return cache;
}
