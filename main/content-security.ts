import type { Session } from 'electron';
import { withContentSecurityPolicy } from './logic/content-security-policy.js';
import { originOf } from './logic/navigation.js';

/**
 * Session-level protection for Berth's window: the CSP header on every response from Berth's origin (set again
 * here so the window is protected whatever served the page), and no permission prompts (camera,
 * notifications, geolocation ...) except clipboard writes for Berth's own pages.
 */
export function setupContentSecurity(session: Session, origin: () => string): void {
  session.webRequest.onHeadersReceived((details, callback) => {
    const responseHeaders = withContentSecurityPolicy(details.responseHeaders, details.url, origin());
    callback(responseHeaders ? { responseHeaders } : {});
  });
  session.setPermissionRequestHandler((_contents, permission, callback, details) => {
    callback(permission === 'clipboard-sanitized-write' && originOf(details.requestingUrl) === origin());
  });
  session.setPermissionCheckHandler((_contents, permission, requestingOrigin) =>
    permission === 'clipboard-sanitized-write' && originOf(requestingOrigin) === origin(),
  );
}
