import { createPendingWork } from '../core/concurrent.js';
import { isDigest, parseDigest, type ParsedDigest } from '../core/digest.js';
import { RegistryError } from '../core/errors.js';
import { apiVersionHeader } from '../http/distribution/context.js';
import type { MirrorHook } from '../http/mirror-hook.js';
import type { Logger } from '../log.js';
import type { StoredManifest, RepositoryStore } from '../storage/repository-store.js';
import type { BlobFetch, BlobFetcher } from './blob-fetches.js';
import { parseManifest } from '../core/manifest.js';
import { isUpstreamNotFoundError, isUpstreamUnavailableError, type UpstreamUnavailableError } from './errors.js';
import { createPromiseFlight } from './single-flight.js';
import type { NameRouting } from './name-routing.js';
import type { PooledUpstream, UpstreamPool } from './upstream-pool.js';
import { upstreamRepository } from './upstream.js';

export interface PullThroughOptions {
  pool: UpstreamPool;
  repositories: RepositoryStore;
  fetcher: BlobFetcher;
  log: Logger;
  /** Which local repository a request's name refers to (so `team/app` is not sent to the default upstream). */
  routing: NameRouting;
  /** Counts a cached answer given because the upstream was unreachable. */
  onStale?: (upstream: string) => void;
}

interface Target {
  upstream: PooledUpstream;
  /** The repository name upstream (`library/redis`). */
  remote: string;
}

/**
 * Pull-through caching as a decorator over the local stores (after distribution's proxy package).
 * Tags are resolved upstream with HEAD at most once per TTL; digests never again. When the
 * upstream is down, the cached manifest for a tag is served stale; anything other than "not found"
 * from the upstream is reported as unavailability, never as MANIFEST_UNKNOWN.
 */
export function createPullThrough(options: PullThroughOptions): MirrorHook {
  const { pool, repositories, fetcher, log } = options;
  /** `local@tag` → when the tag was last confirmed upstream. */
  const tagCheckedAt = new Map<string, number>();
  /** Tag checks, manifest fetches and tag lists under way, shared per (upstream, repository, reference). */
  const manifestFlights = createPromiseFlight<StoredManifest | undefined>();
  const tagListFlights = createPromiseFlight<string[]>();
  /** Per local repository: the manifests seen from its upstream, and the blobs they list. */
  const listedBy = new Map<string, { manifests: Set<string>; blobs: Set<string> }>();

  function target(local: string): Target | undefined {
    const slash = local.indexOf('/');
    if (slash === -1) return undefined;
    const upstream = pool.get(local.slice(0, slash));
    return upstream ? { upstream, remote: upstreamRepository(upstream.record, local.slice(slash + 1)) } : undefined;
  }

  /** Upstream trouble in the protocol's terms: never MANIFEST_UNKNOWN, which would tell clients the image is gone. */
  function unavailable(error: UpstreamUnavailableError): RegistryError {
    const detail = { upstream: error.upstream, reason: error.reason };
    if (error.reason === 'rate-limited') {
      const retry = error.retryAfterMs ? { 'Retry-After': String(Math.ceil(error.retryAfterMs / 1000)) } : undefined;
      return new RegistryError('TOOMANYREQUESTS', error.message, { detail, headers: retry });
    }
    if (error.reason === 'unauthorized' || error.reason === 'denied') {
      // Docker Hub also answers 401 for repositories that do not exist.
      return new RegistryError('DENIED', `${error.message} (the upstream refused: check the name, or the upstream's credentials)`, { detail });
    }
    return new RegistryError('UNAVAILABLE', error.message, { detail });
  }

  async function store(local: string, reference: string, bytes: Buffer, mediaType: string): Promise<StoredManifest | undefined> {
    await repositories.putManifest(local, reference, bytes, mediaType, { requireReferences: false });
    return repositories.getManifest(local, reference);
  }

  /** What the upstream's own manifests of each local repository list: the blobs it may share or link there. */
  function noteListed(local: string, manifest: StoredManifest | undefined): StoredManifest | undefined {
    if (!manifest) return manifest;
    const noted = listedBy.get(local);
    if (noted?.manifests.has(manifest.digest)) return manifest;
    let parsed;
    try {
      parsed = parseManifest(manifest.bytes, manifest.mediaType);
    } catch {
      return manifest;
    }
    if (listedBy.size > 10_000) listedBy.clear();
    const entry = noted ?? { manifests: new Set<string>(), blobs: new Set<string>() };
    entry.manifests.add(manifest.digest);
    for (const blob of parsed.blobs) entry.blobs.add(blob.digest);
    listedBy.set(local, entry);
    return manifest;
  }

  /** Stores and links still running for responses that ended: settle() waits for them. */
  const afterResponses = createPendingWork();

  /** Links the fetched blob into `local` (it may have shared another repository's fetch) once it is stored. */
  async function linkOnceStored(local: string, digest: ParsedDigest, fetch: BlobFetch): Promise<void> {
    try {
      await fetch.done;
    } catch {
      return; // nothing was cached: the fetcher logged why, and the next pull fetches again
    }
    try {
      await repositories.linkBlob(local, digest);
    } catch (error) {
      log.warn({ err: error, repository: local, digest: digest.digest }, 'linking a fetched blob failed: the next pull links it');
    }
  }

  /** At most this many stored manifests are read to find out whether one lists a blob (see isListed). */
  const storedManifestsRead = 64;

  /**
   * Whether a manifest of `local` lists the blob: one this process served, else one stored in `local`. A mirrored
   * repository takes no pushes, so what it stores came from its upstream too; in a cluster the manifest a client
   * pulled was often served (and stored) by another node than the one its blob requests reach.
   */
  async function isListed(local: string, digest: string): Promise<boolean> {
    if (listedBy.get(local)?.blobs.has(digest)) return true;
    const stored = (await repositories.listManifests(local)) ?? [];
    const unseen = stored.filter((manifest) => !listedBy.get(local)?.manifests.has(manifest)).slice(0, storedManifestsRead);
    for (const manifest of unseen) noteListed(local, await repositories.getManifest(local, manifest));
    return listedBy.get(local)?.blobs.has(digest) === true;
  }

  /** A local mirrored repository names its upstream (its namespace) and the repository there. */
  const flightKey = (kind: string, local: string, reference: string) => `${kind}\n${local}\n${reference}`;

  async function manifestByTag(local: string, tag: string, where: Target): Promise<StoredManifest | undefined> {
    const key = `${local}@${tag}`;
    const ttlMs = where.upstream.record.tagTtlSeconds * 1000;
    if (Date.now() - (tagCheckedAt.get(key) ?? 0) < ttlMs) {
      const cached = await repositories.getManifest(local, tag);
      if (cached) return cached;
    }
    // One tag check per (upstream, repository, tag) however many clients ask at once.
    return manifestFlights.run(flightKey('tag', local, tag), () => checkTag(local, tag, where));
  }

  async function checkTag(local: string, tag: string, where: Target): Promise<StoredManifest | undefined> {
    const { upstream, remote } = where;
    let head;
    try {
      head = await upstream.client.headManifest(remote, tag);
    } catch (error) {
      if (!isUpstreamUnavailableError(error)) throw error;
      const cached = await repositories.getManifest(local, tag);
      if (!cached) throw unavailable(error);
      log.warn({ repository: local, tag, upstream: upstream.record.name, reason: error.reason }, 'upstream unavailable: serving the cached manifest');
      options.onStale?.(upstream.record.name);
      return cached;
    }
    if (!head) return undefined;
    let manifest = await manifestByDigest(local, head.digest, where);
    if (!manifest) return undefined;
    // Known content under a moved or new tag: just point the tag at it.
    const tagged = await repositories.getManifest(local, tag);
    if (tagged?.digest !== manifest.digest) manifest = await store(local, tag, manifest.bytes, manifest.mediaType);
    if (tagCheckedAt.size > 50_000) tagCheckedAt.clear();
    tagCheckedAt.set(`${local}@${tag}`, Date.now());
    return manifest;
  }

  async function manifestByDigest(local: string, digest: string, where: Target): Promise<StoredManifest | undefined> {
    const cached = await repositories.getManifest(local, digest);
    if (cached) return cached;
    return manifestFlights.run(flightKey('digest', local, digest), async () => {
      try {
        const fetched = await where.upstream.client.getManifest(where.remote, digest);
        return await store(local, digest, fetched.bytes, fetched.mediaType);
      } catch (error) {
        if (isUpstreamNotFoundError(error)) return undefined;
        if (isUpstreamUnavailableError(error)) throw unavailable(error);
        throw error;
      }
    });
  }

  return {
    localName: (name, request) => options.routing.localName(name, request),

    isMirrored: (local) => target(local) !== undefined,

    async manifest(local, reference) {
      const where = target(local);
      if (!where) return repositories.getManifest(local, reference);
      try {
        return noteListed(local, isDigest(reference) ? await manifestByDigest(local, reference, where) : await manifestByTag(local, reference, where));
      } catch (error) {
        if (isUpstreamNotFoundError(error)) return undefined;
        if (isUpstreamUnavailableError(error)) throw unavailable(error);
        throw error;
      }
    },

    async serveBlob(ctx, local, rawDigest) {
      const where = target(local);
      if (!where) return 'unknown';
      const digest = parseDigest(rawDigest);
      const upstream = where.upstream.record.name;
      const listed = await isListed(local, digest.digest);
      const wantsRange = ctx.req.headers.range !== undefined;
      try {
        // Already served by this upstream for another of its repositories, and listed by this one's manifest.
        if (listed && (await fetcher.linkIfKnown(local, digest, upstream))) return 'cached';
        const fetch = fetcher.fetch(local, digest, { upstream, client: where.upstream.client, remote: where.remote, listed });
        const { size } = await fetch.started;
        if (ctx.req.method === 'HEAD' || wantsRange) {
          // Ranges and HEADs are answered from the cache once the blob is in: the normal path serves them.
          await fetch.done;
          await repositories.linkBlob(local, digest);
          return 'cached';
        }
        ctx.res.writeHead(200, {
          ...apiVersionHeader,
          'Content-Type': 'application/octet-stream',
          'Docker-Content-Digest': digest.digest,
          ETag: `"${digest.digest}"`,
          ...(size !== undefined ? { 'Content-Length': size } : {}),
        });
        await fetch.sendTo(ctx.res);
        // The client has the whole verified blob: its response ends now, and its connection is free for the next
        // request while the blob is stored. A shutdown waits for that in settle(), since no open connection holds it.
        ctx.res.end();
        await afterResponses.track(linkOnceStored(local, digest, fetch));
        return 'served';
      } catch (error) {
        if (isUpstreamNotFoundError(error)) return 'unknown';
        if (isUpstreamUnavailableError(error)) throw unavailable(error);
        throw error;
      }
    },

    async settle() {
      await Promise.all([fetcher.whenStored(), afterResponses.settled()]);
    },

    async tags(local) {
      const where = target(local);
      if (!where) return repositories.listTags(local);
      try {
        const listing = () => where.upstream.client.listTags(where.remote).then((tags) => tags.sort());
        return await tagListFlights.run(flightKey('tags', local, ''), listing);
      } catch (error) {
        if (isUpstreamNotFoundError(error)) return undefined;
        if (!isUpstreamUnavailableError(error)) throw error;
        const cached = await repositories.listTags(local);
        if (!cached) throw unavailable(error);
        options.onStale?.(where.upstream.record.name);
        return cached;
      }
    },
  };
}
