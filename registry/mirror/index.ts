/**
 * The upstream side of Berth's mirror: an HTTP client for upstream OCI registries (token and Basic auth,
 * streaming blobs, tag pagination) and per-upstream health. Pull-through caching and sync build on this.
 */
export { createUpstreamClient, defaultManifestAccept } from './upstream-client.js';
export type {
  BlobDownload,
  FetchedManifest,
  GetBlobOptions,
  ListTagsOptions,
  ManifestHead,
  UpstreamClient,
  UpstreamClientOptions,
} from './upstream-client.js';
export { createUpstreamHealth } from './upstream-health.js';
export type { UpstreamHealth, UpstreamHealthChange, UpstreamHealthOptions, UpstreamHealthState } from './upstream-health.js';
export { isDockerHub, isLoopbackHost, upstreamRepository, validateUpstream, type Upstream } from './upstream.js';
export {
  UpstreamConfigError,
  UpstreamNotFoundError,
  UpstreamUnavailableError,
  isUpstreamNotFoundError,
  isUpstreamUnavailableError,
  upstreamErrorCodes,
  type UnavailableReason,
  type UpstreamErrorCode,
} from './errors.js';
export { parseChallenges, type Challenge } from './www-authenticate.js';
