import type { StoredManifest } from '../storage/repository-store.js';
import type { RequestContext } from './distribution/context.js';
import type { V2Route } from './routes.js';

/** What name routing needs to know of a registry request besides its name. */
export interface RouteRequest {
  /** The request's own method: a HEAD stays a HEAD (a pusher's blob HEAD must not go upstream). */
  method: string;
  kind: V2Route['kind'];
  query: URLSearchParams;
}

/**
 * What the distribution API asks of the mirror (injected only when upstreams exist, after zot's
 * on-demand sync): name routing for the three mirror styles, and reads that fall through to an
 * upstream when the local cache does not have the answer.
 */
export interface MirrorHook {
  /**
   * The local repository a request's name refers to: `hub/library/redis` for `hub/library/redis`
   * (path prefix), for `library/redis?ns=docker.io` (containerd) and, on pulls, for `library/redis`
   * when no local namespace `library` exists (Docker's registry-mirrors). Local names pass unchanged.
   * Asynchronous because "local" is decided from what is stored now (see mirror/name-routing.ts).
   */
  localName(name: string, request: RouteRequest): Promise<string>;
  /** Whether a local repository is a pull-through cache (clients may read it, not push to it). */
  isMirrored(local: string): boolean;
  /** A manifest from the cache, refreshed from upstream per the tag TTL; stale when the upstream is down. */
  manifest(local: string, reference: string): Promise<StoredManifest | undefined>;
  /**
   * A blob that is not cached yet, fetched once: `served` when it was streamed to the client,
   * `cached` when it is now in the store for the normal path to serve (HEAD, ranges), `unknown`
   * when the upstream does not have it either.
   */
  serveBlob(ctx: RequestContext, local: string, digest: string): Promise<'served' | 'cached' | 'unknown'>;
  /** Tags as the upstream lists them, or the cached ones while it is down. */
  tags(local: string): Promise<string[] | undefined>;
  /**
   * Resolves once what was fetched for responses that ended (or whose clients left) is stored and linked: the
   * registry waits for it after its listeners drained, before it closes its stores.
   */
  settle(): Promise<void>;
}
