/**
 * Which URLs Berth's window may show. Only Berth's own origin loads inside the app (it is the only content the
 * preload's bridge was written for); http(s) links elsewhere go to the user's browser; everything else
 * (file:, javascript:, custom schemes that launch other programs) is refused.
 */

export type NavigationDecision = 'allow' | 'open-external' | 'deny';

/** The origin (`http://127.0.0.1:5000`) of a URL, or undefined when it has none (`data:`, `about:blank`, garbage). */
export function originOf(url: string | undefined): string | undefined {
  if (!url) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  // Opaque origins serialise as the string 'null': never equal to a real one, but say so explicitly.
  return parsed.origin === 'null' ? undefined : parsed.origin;
}

/** True for absolute http: and https: URLs: the only ones handed to the OS browser. */
export function isWebUrl(url: string): boolean {
  try {
    const { protocol } = new URL(url);
    return protocol === 'http:' || protocol === 'https:';
  } catch {
    return false;
  }
}

export function navigationDecision(url: string, appOrigin: string): NavigationDecision {
  if (originOf(url) === appOrigin) return 'allow';
  return isWebUrl(url) ? 'open-external' : 'deny';
}
