import { uiContentSecurityPolicy } from '../../registry/admin/ui-static.js';
import { originOf } from './navigation.js';

/**
 * The policy Berth's UI server sends with the GUI (one definition, in the server). The desktop window sets it
 * again on every response from Berth's origin, so the window is protected whatever answered the request.
 */
export const berthContentSecurityPolicy = uiContentSecurityPolicy;

export type ResponseHeaders = Record<string, string[]>;

/**
 * The response headers with Berth's CSP for responses from `appOrigin`; other origins' headers are returned
 * unchanged (the window never shows them, but downloads and external fetches must not be altered).
 */
export function withContentSecurityPolicy(
  headers: ResponseHeaders | undefined,
  url: string,
  appOrigin: string,
): ResponseHeaders | undefined {
  if (originOf(url) !== appOrigin) return headers;
  const result: ResponseHeaders = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    // Header names arrive in whatever case the server used; a second CSP header would be combined (stricter).
    if (name.toLowerCase() !== 'content-security-policy') result[name] = value;
  }
  result['Content-Security-Policy'] = [berthContentSecurityPolicy];
  return result;
}
