import type { IncomingMessage, ServerResponse } from 'node:http';
import { RegistryError } from '../core/errors.js';
import { assertRepositoryName } from '../core/names.js';
import type { AccessGate, AccessNeed } from './access.js';
import { createBlobHandlers } from './distribution/blobs.js';
import { sendJson, type DistributionDeps, type RequestContext } from './distribution/context.js';
import { createListingHandlers } from './distribution/listings.js';
import { createManifestHandlers } from './distribution/manifests.js';
import { createUploadHandlers } from './distribution/uploads.js';
import { sendError } from './error-response.js';
import { matchV2Route, type V2Route } from './routes.js';

/** The lifecycle rule behind a DENIED from the content policy (its detail names it), or undefined for any other error. */
function lifecycleRuleOf(error: unknown): string | undefined {
  if (!(error instanceof RegistryError) || error.code !== 'DENIED') return undefined;
  const detail = error.detail as { quota?: unknown; reason?: unknown } | null;
  const rule = detail?.quota ?? detail?.reason;
  return typeof rule === 'string' ? rule : undefined;
}

type RouteOf<K extends V2Route['kind']> = Extract<V2Route, { kind: K }>;

interface Endpoint<R extends V2Route> {
  needs: (route: R, query: URLSearchParams) => AccessNeed[];
  handle: (ctx: RequestContext, route: R) => Promise<void> | void;
}

/** Client writes; DELETE stays allowed on mirrors, as cache eviction. */
const writeMethods = new Set(['POST', 'PUT', 'PATCH']);

type EndpointTable = { [K in V2Route['kind']]: Partial<Record<string, Endpoint<RouteOf<K>>>> };

/**
 * The OCI Distribution API (`/v2/...`) on plain node:http: routing, authorization and dispatch.
 * It is the hot path of every pull, so it avoids a framework and any per-request allocation it
 * does not need (distribution 2.8 spends most of its CPU rebuilding its router per request).
 */
export function createDistributionApi(deps: DistributionDeps & { gate: AccessGate }) {
  const blobs = createBlobHandlers(deps);
  const uploads = createUploadHandlers(deps);
  const manifests = createManifestHandlers(deps);
  const listings = createListingHandlers(deps);

  const pull = (route: { name: string }): AccessNeed[] => [{ repository: route.name, actions: ['pull'] }];
  const push = (route: { name: string }): AccessNeed[] => [{ repository: route.name, actions: ['pull', 'push'] }];
  const remove = (route: { name: string }): AccessNeed[] => [{ repository: route.name, actions: ['delete'] }];
  const none = (): AccessNeed[] => [];

  // Per route kind, per method.
  const table: EndpointTable = {
    base: { GET: { needs: none, handle: ({ res }) => sendJson(res, 200, {}) } },
    catalog: { GET: { needs: none, handle: (ctx) => listings.catalog(ctx) } },
    tags: { GET: { needs: pull, handle: (ctx, r) => listings.tags(ctx, r.name) } },
    referrers: { GET: { needs: pull, handle: (ctx, r) => listings.referrers(ctx, r.name, r.digest) } },
    manifest: {
      GET: { needs: pull, handle: (ctx, r) => manifests.get(ctx, r.name, r.reference) },
      PUT: { needs: push, handle: (ctx, r) => manifests.put(ctx, r.name, r.reference) },
      DELETE: { needs: remove, handle: (ctx, r) => manifests.remove(ctx, r.name, r.reference) },
    },
    blob: {
      GET: { needs: pull, handle: (ctx, r) => blobs.get(ctx, r.name, r.digest) },
      DELETE: { needs: remove, handle: (ctx, r) => blobs.remove(ctx, r.name, r.digest) },
    },
    uploads: {
      POST: {
        needs: push,
        handle: (ctx, r) => uploads.start(ctx, r.name),
      },
    },
    upload: {
      GET: { needs: push, handle: (ctx, r) => uploads.status(ctx, r.name, r.id) },
      PATCH: { needs: push, handle: (ctx, r) => uploads.patch(ctx, r.name, r.id) },
      PUT: { needs: push, handle: (ctx, r) => uploads.put(ctx, r.name, r.id) },
      DELETE: { needs: push, handle: (ctx, r) => uploads.cancel(ctx, r.name, r.id) },
    },
  };

  /**
   * Refusals that a change another process just made to the configuration can turn into a yes (UNAVAILABLE: an
   * upstream whose URL `berth upstream set` changed a moment ago, still unreachable at the old one).
   */
  const refusalsWorthARecheck = new Set(['UNAUTHORIZED', 'DENIED', 'NAME_UNKNOWN', 'MANIFEST_UNKNOWN', 'BLOB_UNKNOWN', 'UNAVAILABLE']);

  /**
   * Whether to decide the request once more: a refusal, nothing sent yet, and the configuration changed. A refusal
   * from the gate comes before the body is read, so any method can be retried then; a "not found" from a handler
   * only for reads, whose request has no body to consume twice.
   */
  function worthRetrying(error: unknown, req: IncomingMessage, res: ServerResponse, authorized: boolean): boolean {
    if (!(error instanceof RegistryError) || !refusalsWorthARecheck.has(error.code) || res.headersSent) return false;
    if (authorized && req.method !== 'GET' && req.method !== 'HEAD') return false;
    return deps.configurationChanged?.() === true;
  }

  async function decide(req: IncomingMessage, res: ServerResponse, pathname: string, search: string, retryOnChange: boolean): Promise<void> {
    let authorized = false;
    try {
      let route = matchV2Route(pathname);
      if (!route) throw new RegistryError('NAME_UNKNOWN', `no such endpoint: ${pathname.slice(0, 200)}`, { status: 404 });
      const method = req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET');
      const endpoint = (table[route.kind] as Partial<Record<string, Endpoint<V2Route>>>)[method];
      if (!endpoint) {
        const allowed = Object.keys(table[route.kind]);
        throw new RegistryError('UNSUPPORTED', `${req.method} is not supported here`, {
          headers: { Allow: [...allowed, ...(allowed.includes('GET') ? ['HEAD'] : [])].join(', ') },
        });
      }
      const query = new URLSearchParams(search);
      if ('name' in route) {
        assertRepositoryName(route.name);
        if (deps.mirror) route = { ...route, name: await deps.mirror.localName(route.name, { method: req.method ?? 'GET', kind: route.kind, query }) };
        if (deps.mirror?.isMirrored(route.name) && writeMethods.has(method)) {
          throw new RegistryError('DENIED', `${route.name} is a pull-through mirror of an upstream registry: push to another namespace`);
        }
      }
      const caller = await deps.gate.authorize(req, endpoint.needs(route, query));
      authorized = true;
      const client = req.socket.remoteAddress ?? 'unknown';
      try {
        await endpoint.handle({ req, res, query, caller, client }, route);
      } catch (error) {
        const rule = lifecycleRuleOf(error);
        if (rule && 'name' in route) {
          deps.events.emit('content.refused', { repository: route.name, method: req.method ?? 'GET', rule, reason: (error as Error).message, actor: caller.name, client });
        }
        throw error;
      }
    } catch (error) {
      if (retryOnChange && worthRetrying(error, req, res, authorized)) return decide(req, res, pathname, search, false);
      sendError(res, error, deps.log);
    }
  }

  return function handle(req: IncomingMessage, res: ServerResponse, pathname: string, search: string): Promise<void> {
    return decide(req, res, pathname, search, true);
  };
}
