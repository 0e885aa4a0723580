/**
 * Keeps manifest reads off the disk on the hot path (`GET /v2/<name>/manifests/<tag>` is what every
 * `docker pull` starts with). Entries are keyed by `repository@reference`, dropped at once by this
 * process's own writes and, so that a second Berth on shared storage is seen, after `ttlMs` anyway.
 * Bounded by total bytes; the oldest entries go first.
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

export function createManifestCache(options: { ttlMs?: number; maxBytes?: number } = {}): ManifestCache {
  const ttlMs = options.ttlMs ?? 1000;
  const maxBytes = options.maxBytes ?? 64 * 1024 * 1024;
  const entries = new Map<string, { manifest: CachedManifest; expiresAt: number }>();
  const byRepository = new Map<string, Set<string>>();
  let totalBytes = 0;
  const loads = new Map<string, Promise<CachedManifest | undefined>>();
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

  const cache: ManifestCache = {
    getOrLoad(repository, reference, load) {
      const hit = cache.get(repository, reference);
      if (hit) return Promise.resolve(hit);
      const key = `${repository}@${reference}`;
      const running = loads.get(key);
      if (running) return running;
      const startedAt = invalidations;
      const loading = load().then(
        (manifest) => {
          if (loads.get(key) === loading) loads.delete(key);
          if (manifest && (invalidatedAt.get(repository) ?? -1) <= startedAt) cache.set(repository, reference, manifest);
          return manifest;
        },
        (error: unknown) => {
          if (loads.get(key) === loading) loads.delete(key);
          throw error;
        },
      );
      loads.set(key, loading);
      return loading;
    },

    get(repository, reference) {
      const key = `${repository}@${reference}`;
      const entry = entries.get(key);
      if (!entry) return undefined;
      if (entry.expiresAt < Date.now()) {
        drop(key);
        return undefined;
      }
      return entry.manifest;
    },

    set(repository, reference, manifest) {
      const key = `${repository}@${reference}`;
      drop(key);
      entries.set(key, { manifest, expiresAt: Date.now() + ttlMs });
      totalBytes += manifest.bytes.length;
      let keys = byRepository.get(repository);
      if (!keys) byRepository.set(repository, (keys = new Set()));
      keys.add(key);
      for (const oldest of entries.keys()) {
        if (totalBytes <= maxBytes) break;
        drop(oldest);
      }
    },

    invalidate(repository) {
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
