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
  /** Forgets every entry of a repository (a tag moved, a manifest was deleted). */
  invalidate(repository: string): void;
}

export function createManifestCache(options: { ttlMs?: number; maxBytes?: number } = {}): ManifestCache {
  const ttlMs = options.ttlMs ?? 1000;
  const maxBytes = options.maxBytes ?? 64 * 1024 * 1024;
  const entries = new Map<string, { manifest: CachedManifest; expiresAt: number }>();
  const byRepository = new Map<string, Set<string>>();
  let totalBytes = 0;

  function drop(key: string): void {
    const entry = entries.get(key);
    if (!entry) return;
    entries.delete(key);
    totalBytes -= entry.manifest.bytes.length;
  }

  return {
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
    },
  };
}
