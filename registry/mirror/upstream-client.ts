import type { Readable } from 'node:stream';
import { digestOf, isDigest, parseDigest } from '../core/digest.js';
import { assertRepositoryName, assertTag } from '../core/names.js';
import type { Logger } from '../log.js';
import { BlobVerifier } from './blob-verifier.js';
import { UpstreamNotFoundError, UpstreamUnavailableError } from './errors.js';
import { networkFailure, statusFailure } from './failure-mapping.js';
import { createTransport, readBody, type TransportResponse } from './http-transport.js';
import { createUpstreamAuth } from './upstream-auth.js';
import { createUpstreamHealth, type UpstreamHealth } from './upstream-health.js';
import { failureVerdict } from './upstream-test.js';
import { upstreamRepository, validateUpstream, type Upstream } from './upstream.js';
import { parseChallenges } from './www-authenticate.js';

/**
 * The client side of the OCI Distribution API towards one upstream registry: what the pull-through cache and
 * namespace sync need, and nothing more. Every call goes through the upstream's health gate and ends in a
 * value, an UpstreamNotFoundError (or undefined for headManifest), or an UpstreamUnavailableError.
 */
export interface UpstreamClientOptions {
  readonly logger: Logger;
  /** Socket inactivity limit per request (connect, headers, pauses in a body). Default 30 s. */
  readonly fetchTimeoutMs?: number;
  /**
   * Shared health object; by default the client makes its own (offline after one failed contact, retried after 1 s, then up to 10 s). The client does
   * not log health changes itself: whoever owns it listens to `health.on('change')` (logs, metrics, GUI).
   */
  readonly health?: UpstreamHealth;
  /** Clock for token expiry; default Date.now. */
  readonly now?: () => number;
}

export interface ManifestHead {
  readonly digest: string;
  readonly mediaType: string;
  readonly size: number;
}

export interface FetchedManifest {
  readonly bytes: Buffer;
  readonly digest: string;
  readonly mediaType: string;
}

export interface BlobDownload {
  /**
   * The blob's bytes as they arrive. Errors (instead of ending) when the upstream cuts the transfer, sends a
   * wrong length, or — unless `verify: false` — content that does not match the digest.
   */
  readonly stream: Readable;
  /** Content-Length, when the upstream sent one. */
  readonly size: number | undefined;
}

export interface GetBlobOptions {
  readonly signal?: AbortSignal;
  /** Hash the stream and fail it at the end on a digest mismatch. Default true. */
  readonly verify?: boolean;
  /** Sees every chunk as it passes (progress, handing bytes to waiting clients), without a stream stage of its own. */
  readonly onChunk?: (chunk: Buffer) => void;
}

export interface ListTagsOptions {
  /** At most this many tags in all (also sent as the page size). */
  readonly n?: number;
  /** Start after this tag. */
  readonly last?: string;
}

export interface UpstreamClient {
  readonly name: string;
  readonly health: UpstreamHealth;
  /** Resolves a tag or digest: undefined when the upstream does not have it. */
  headManifest(repository: string, reference: string, accept?: readonly string[]): Promise<ManifestHead | undefined>;
  /** Fetches a manifest's exact bytes; verifies them against a digest reference and Docker-Content-Digest. */
  getManifest(repository: string, reference: string, accept?: readonly string[]): Promise<FetchedManifest>;
  /** Streams a blob (never buffered); follows storage redirects without sending credentials to other hosts. */
  getBlob(repository: string, digest: string, options?: GetBlobOptions): Promise<BlobDownload>;
  /** All tags (following Link pagination), or at most `n`. */
  listTags(repository: string, options?: ListTagsOptions): Promise<string[]>;
  /** Every repository in the upstream's catalog (many public registries refuse `_catalog`). */
  listRepositories(): Promise<string[]>;
  /**
   * GET /v2/ (authenticating if asked): resolves when the upstream answers as a registry. Always asks, even while
   * the upstream is marked offline (a test or a probe is how it is found back), and records the verdict.
   */
  ping(): Promise<void>;
  /** While the upstream is offline, pings it every intervalMs to bring it back early. Timer unref'd; close() stops it. */
  startProbing(intervalMs: number): void;
  close(): void;
}

/** What Berth accepts when it does not say otherwise: every current image and index format. */
export const defaultManifestAccept: readonly string[] = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
];

/** distribution refuses manifests over 4 MiB; an upstream answer beyond that is not a manifest we want. */
const manifestLimitBytes = 4 * 1024 * 1024;
const errorBodyLimitBytes = 64 * 1024;
const tagPageLimitBytes = 16 * 1024 * 1024;
const maxTagPages = 10_000;
/** Entries in one tag list or catalog, over all its pages: past this the upstream is not answering a listing. */
const maxListItems = 250_000;
const userAgent = 'berth (registry mirror)';
const genericContentTypes = new Set(['', 'application/json', 'text/plain', 'application/octet-stream']);

interface ExchangeRequest {
  readonly method: 'GET' | 'HEAD';
  readonly url: URL;
  readonly accept: string;
  /** Docker token scope the request needs (`repository:name:pull`); undefined for /v2/. */
  readonly scope: string | undefined;
  readonly what: string;
  readonly signal?: AbortSignal;
}

function header(response: TransportResponse, name: string): string | undefined {
  const value = response.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function mediaTypeOf(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

function nextLink(linkHeader: string | undefined): string | undefined {
  if (linkHeader === undefined) return undefined;
  for (const part of linkHeader.split(',')) {
    const match = /<([^>]*)>\s*;(.*)$/.exec(part.trim());
    if (match && /rel="?next"?/.test(match[2] as string)) return match[1];
  }
  return undefined;
}

export function createUpstreamClient(upstream: Upstream, options: UpstreamClientOptions): UpstreamClient {
  const base = validateUpstream(upstream);
  const name = upstream.name;
  const logger = options.logger.child({ upstream: name });
  const timeoutMs = options.fetchTimeoutMs ?? 30_000;
  // Its last error in the words of `berth upstream test`, not the socket's ("connection refused: is it running at ...?").
  const describe = (error: unknown) => failureVerdict({ name, url: upstream.url, username: upstream.username }, error);
  const health = options.health ?? createUpstreamHealth({ name, describe });
  const transport = createTransport({ caPem: upstream.caPem, insecure: upstream.insecure, timeoutMs, ownHost: base.hostname });
  const auth = createUpstreamAuth({
    upstream: name,
    username: upstream.username,
    password: upstream.password,
    transport,
    ownHost: base.hostname,
    logger,
    now: options.now,
  });
  let probeTimer: NodeJS.Timeout | undefined;
  let closed = false;


  const urlFor = (path: string, query?: URLSearchParams): URL => {
    const url = new URL(base.href);
    // new URL() always keeps at least '/' as the path: join without doubling the slash.
    url.pathname = `${base.pathname.replace(/\/+$/, '')}${path}`;
    if (query !== undefined && [...query.keys()].length > 0) url.search = query.toString();
    return url;
  };

  async function send(request: ExchangeRequest, authorization: string | undefined): Promise<TransportResponse> {
    const headers: Record<string, string> = { 'user-agent': userAgent, accept: request.accept };
    if (authorization !== undefined) headers.authorization = authorization;
    try {
      return await transport.send({ url: request.url, method: request.method, headers, signal: request.signal });
    } catch (error) {
      if (request.signal?.aborted) throw error;
      throw networkFailure(name, error, request.what);
    }
  }

  /** One request with auth handling; resolves only with a 2xx response, else throws an upstream error. */
  async function exchange(request: ExchangeRequest): Promise<TransportResponse> {
    const started = performance.now();
    let response = await send(request, auth.authorizationFor(request.scope));
    if (response.status === 401) {
      const challenges = parseChallenges(response.headers['www-authenticate']);
      response.discard();
      response = await send(request, await auth.respond(challenges, request.scope));
    }
    const ms = Math.round(performance.now() - started);
    logger.debug({ method: request.method, path: request.url.pathname, status: response.status, ms }, 'upstream request');
    if (response.status >= 200 && response.status < 300) return response;
    let body: Buffer | undefined;
    if (request.method !== 'HEAD') body = await readBody(response.body, errorBodyLimitBytes).catch(() => undefined);
    else response.discard();
    throw statusFailure(name, response.status, response.headers, body, request.what);
  }

  /** Runs a call through the health gate and records its verdict. */
  async function guarded<T>(call: () => Promise<T>, signal?: AbortSignal, gate = true): Promise<T> {
    if (closed) throw new UpstreamUnavailableError(name, 'offline', 'the upstream client is closed');
    if (gate) health.admit();
    try {
      const result = await call();
      health.succeeded();
      return result;
    } catch (error) {
      if (error instanceof UpstreamNotFoundError) health.succeeded();
      else if (error instanceof UpstreamUnavailableError) health.failed(error);
      else health.abandoned();
      if (error instanceof UpstreamUnavailableError && !signal?.aborted) {
        logger.debug({ reason: error.reason, status: error.status, err: error.message }, 'upstream request failed');
      }
      throw error;
    }
  }

  const repositoryFor = (repository: string): string => upstreamRepository(upstream, assertRepositoryName(repository));
  const checkReference = (reference: string): string => (isDigest(reference) ? reference : assertTag(reference));
  const scopeFor = (repository: string): string => `repository:${repository}:pull`;

  async function fetchManifest(repository: string, reference: string, accept: readonly string[]): Promise<FetchedManifest> {
    const repo = repositoryFor(repository);
    const ref = checkReference(reference);
    const what = `manifest ${repo}:${ref}`;
    const response = await exchange({
      method: 'GET',
      url: urlFor(`/v2/${repo}/manifests/${ref}`),
      accept: (accept.length > 0 ? accept : defaultManifestAccept).join(', '),
      scope: scopeFor(repo),
      what,
    });
    let bytes: Buffer;
    try {
      bytes = await readBody(response.body, manifestLimitBytes);
    } catch (error) {
      throw networkFailure(name, error, what);
    }
    const mismatch = (message: string): UpstreamUnavailableError =>
      new UpstreamUnavailableError(name, 'digest-mismatch', `${what}: ${message}`);
    if (isDigest(ref) && digestOf(bytes, parseDigest(ref).algorithm) !== ref) {
      throw mismatch('the content does not match the requested digest');
    }
    const announced = header(response, 'docker-content-digest');
    if (announced !== undefined && isDigest(announced) && digestOf(bytes, parseDigest(announced).algorithm) !== announced) {
      throw mismatch(`the content does not match Docker-Content-Digest ${announced}`);
    }
    const digest = isDigest(ref) ? ref : announced !== undefined && isDigest(announced) ? announced : digestOf(bytes);
    let mediaType = mediaTypeOf(header(response, 'content-type'));
    if (genericContentTypes.has(mediaType)) {
      // Some registries and static mirrors serve manifests as plain JSON: the document says what it is.
      try {
        const inner = (JSON.parse(bytes.toString('utf8')) as { mediaType?: unknown }).mediaType;
        if (typeof inner === 'string' && inner !== '') mediaType = inner;
      } catch {
        throw new UpstreamUnavailableError(name, 'protocol', `${what}: the upstream's answer is not JSON`);
      }
    }
    return { bytes, digest, mediaType };
  }

  /** A paginated list (`tags` or `repositories`), following Link headers on the same origin only. */
  function listPaged(first: URL, field: 'tags' | 'repositories', scope: string, what: string, limit: number | undefined): Promise<string[]> {
    let url = first;
    return guarded(async () => {
      const items: string[] = [];
      const seen = new Set<string>();
      for (let page = 0; page < maxTagPages; page++) {
        seen.add(url.href);
        const response = await exchange({ method: 'GET', url, accept: 'application/json', scope, what });
        let parsed: Record<string, unknown>;
        try {
          parsed = JSON.parse((await readBody(response.body, tagPageLimitBytes)).toString('utf8')) as Record<string, unknown>;
        } catch (error) {
          if (error instanceof SyntaxError) throw new UpstreamUnavailableError(name, 'protocol', `${what}: the answer is not JSON`);
          throw networkFailure(name, error, what);
        }
        // distribution answers `"tags": null` for a repository without tags.
        const list = parsed[field];
        const pageItems = Array.isArray(list) ? list.filter((item): item is string => typeof item === 'string') : [];
        // One at a time: spreading a 150 000-tag page into push() overflows the call stack.
        for (const item of pageItems) items.push(item);
        if (limit !== undefined && items.length >= limit) return items.slice(0, limit);
        if (items.length > maxListItems) {
          throw new UpstreamUnavailableError(name, 'protocol', `${what}: more than ${maxListItems} entries, more than Berth lists`);
        }
        const next = nextLink(header(response, 'link'));
        if (next === undefined || pageItems.length === 0) return items;
        const nextUrl = new URL(next, url);
        // The next page must come from the same registry: credentials are not sent to wherever a header points.
        if (nextUrl.origin !== base.origin || seen.has(nextUrl.href)) {
          throw new UpstreamUnavailableError(name, 'protocol', `${what}: invalid pagination link`);
        }
        url = nextUrl;
      }
      throw new UpstreamUnavailableError(name, 'protocol', `${what}: more than ${maxTagPages} pages`);
    });
  }

  const client: UpstreamClient = {
    name,
    health,

    async headManifest(repository, reference, accept = defaultManifestAccept) {
      const repo = repositoryFor(repository);
      const ref = checkReference(reference);
      try {
        const head = await guarded(async () => {
          const response = await exchange({
            method: 'HEAD',
            url: urlFor(`/v2/${repo}/manifests/${ref}`),
            accept: (accept.length > 0 ? accept : defaultManifestAccept).join(', '),
            scope: scopeFor(repo),
            what: `manifest ${repo}:${ref}`,
          });
          response.discard();
          const announced = header(response, 'docker-content-digest');
          const digest = announced !== undefined && isDigest(announced) ? announced : isDigest(ref) ? ref : undefined;
          const size = Number(header(response, 'content-length') ?? Number.NaN);
          const mediaType = mediaTypeOf(header(response, 'content-type'));
          const complete = digest !== undefined && Number.isFinite(size) && !genericContentTypes.has(mediaType);
          return complete ? { digest, mediaType, size } : undefined;
        });
        if (head !== undefined) return head;
        // The HEAD answer was incomplete (no digest, length or media type): the manifest itself tells all.
        const fetched = await guarded(() => fetchManifest(repository, reference, accept));
        return { digest: fetched.digest, mediaType: fetched.mediaType, size: fetched.bytes.length };
      } catch (error) {
        if (error instanceof UpstreamNotFoundError) return undefined;
        throw error;
      }
    },

    getManifest(repository, reference, accept = defaultManifestAccept) {
      return guarded(() => fetchManifest(repository, reference, accept));
    },

    getBlob(repository, digest, blobOptions = {}) {
      const repo = repositoryFor(repository);
      parseDigest(digest);
      const signal = blobOptions.signal;
      const what = `blob ${repo}@${digest}`;
      return guarded(async () => {
        const url = urlFor(`/v2/${repo}/blobs/${digest}`);
        const response = await exchange({ method: 'GET', url, accept: '*/*', scope: scopeFor(repo), what, signal });
        const length = Number(header(response, 'content-length') ?? Number.NaN);
        const size = Number.isFinite(length) ? length : undefined;
        const verifier = new BlobVerifier(digest, size, (message, reason) => {
          const failure = new UpstreamUnavailableError(name, reason, message);
          health.failed(failure);
          return failure;
        }, blobOptions.verify !== false, blobOptions.onChunk);
        const body = response.body;
        body.on('error', (error) => {
          if (verifier.destroyed) return;
          // The caller's own abort is not the upstream's fault.
          if (signal?.aborted) {
            verifier.destroy(error);
            return;
          }
          const failure = networkFailure(name, error, `${what}: download interrupted after ${verifier.bytesReceived} bytes`);
          health.failed(failure);
          verifier.destroy(failure);
        });
        // A consumer that stops reading (destroys the stream) must not leave the upstream socket open.
        verifier.on('close', () => {
          if (!body.complete) body.destroy();
        });
        body.pipe(verifier);
        return { stream: verifier, size };
      }, signal);
    },

    listTags(repository, listOptions = {}) {
      const repo = repositoryFor(repository);
      const query = new URLSearchParams();
      if (listOptions.n !== undefined) query.set('n', String(listOptions.n));
      if (listOptions.last !== undefined) query.set('last', listOptions.last);
      return listPaged(urlFor(`/v2/${repo}/tags/list`, query), 'tags', scopeFor(repo), `tags of ${repo}`, listOptions.n);
    },

    listRepositories() {
      return listPaged(urlFor('/v2/_catalog', new URLSearchParams()), 'repositories', 'registry:catalog:*', 'the catalog', undefined);
    },

    ping() {
      return guarded(() => pingOnce(), undefined, false);
    },

    startProbing(intervalMs) {
      if (probeTimer !== undefined || closed) return;
      let running = false;
      probeTimer = setInterval(() => {
        if (running || health.state().online) return;
        running = true;
        // The probe bypasses the offline gate: finding the upstream back is its whole purpose.
        guarded(() => pingOnce(), undefined, false)
          .then(() => logger.debug('background probe reached the upstream'))
          .catch(() => undefined)
          .finally(() => {
            running = false;
          });
      }, intervalMs);
      probeTimer.unref();
    },

    close() {
      closed = true;
      if (probeTimer !== undefined) clearInterval(probeTimer);
      probeTimer = undefined;
      transport.close();
    },
  };

  async function pingOnce(): Promise<void> {
    try {
      const url = urlFor('/v2/');
      const response = await exchange({ method: 'GET', url, accept: 'application/json', scope: undefined, what: 'ping' });
      response.discard();
    } catch (error) {
      // /v2/ always exists on a registry: a 404 there means the URL points at something else.
      if (error instanceof UpstreamNotFoundError) {
        throw new UpstreamUnavailableError(name, 'protocol', `ping: ${base.href} does not answer /v2/ (not a registry?)`, { status: 404 });
      }
      throw error;
    }
  }

  return client;
}
