import type { RouteKind } from './berth-metrics.js';

/**
 * The route kind of a request path, for the `route` label. Cheaper than the /v2 router's regexes: it looks at
 * the last path segments only, since repository names (which hold slashes) come before them. Callers that already
 * matched the route (the /v2 handler has `V2Route.kind`) should pass that kind instead.
 */
export function routeKindOf(pathname: string): RouteKind {
  if (pathname === '/v2' || pathname === '/v2/') return 'base';
  if (pathname.startsWith('/v2/')) {
    if (pathname === '/v2/_catalog') return 'catalog';
    if (pathname.endsWith('/tags/list')) return 'tags';
    const lastSlash = pathname.lastIndexOf('/');
    const parent = pathname.slice(pathname.lastIndexOf('/', lastSlash - 1) + 1, lastSlash);
    if (pathname.endsWith('/blobs/uploads') || pathname.endsWith('/blobs/uploads/')) return 'uploads';
    if (pathname.slice(0, lastSlash).endsWith('/blobs/uploads')) return 'upload';
    if (parent === 'manifests') return 'manifest';
    if (parent === 'blobs') return 'blob';
    if (parent === 'referrers') return 'referrers';
    return 'other';
  }
  if (pathname === '/token' || pathname.startsWith('/token/')) return 'token';
  if (pathname === '/metrics') return 'metrics';
  if (pathname === '/api' || pathname.startsWith('/api/')) return 'api';
  if (pathname === '/' || pathname.startsWith('/ui') || pathname.startsWith('/assets/') || pathname === '/favicon.ico') return 'ui';
  return 'other';
}
