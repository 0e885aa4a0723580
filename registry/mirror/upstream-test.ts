import type { UpstreamRecord } from '../state/index.js';
import { isUpstreamUnavailableError } from './errors.js';
import type { UpstreamClient } from './upstream-client.js';

/**
 * "Can Berth use this upstream?", asked the way a pull would (GET /v2/ with the upstream's credentials and token
 * flow), answered in words a person can act on: `reachable, credentials accepted`, or `connection refused: is it
 * running at http://127.0.0.1:5001?` rather than the socket's `ECONNREFUSED`. The one test behind
 * `berth upstream test` and the GUI's Test button.
 */
export interface UpstreamTestResult {
  ok: boolean;
  /** One sentence, without the upstream's name (each edge says which upstream it asked). */
  message: string;
  latencyMs: number;
}

export async function testUpstream(
  record: Pick<UpstreamRecord, 'name' | 'url' | 'username' | 'passwordSealed'>,
  client: Pick<UpstreamClient, 'ping'>,
): Promise<UpstreamTestResult> {
  const started = Date.now();
  try {
    await client.ping();
    const hasCredentials = record.username !== undefined || record.passwordSealed !== undefined;
    return { ok: true, message: hasCredentials ? 'reachable, credentials accepted' : 'reachable, anonymous access works', latencyMs: Date.now() - started };
  } catch (error) {
    return { ok: false, message: failureVerdict(record, error), latencyMs: Date.now() - started };
  }
}

/** The socket error under the client's error, when there is one (`ECONNREFUSED`, `ENOTFOUND`, a TLS code). */
function systemCode(error: unknown): string | undefined {
  for (let at: unknown = error, depth = 0; at && depth < 5; at = (at as { cause?: unknown }).cause, depth++) {
    const code = (at as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && !code.startsWith('BERTH_')) return code;
  }
  return undefined;
}

const certificateCodes = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
]);

/** What went wrong, and what to check or change. */
export function failureVerdict(record: Pick<UpstreamRecord, 'name' | 'url' | 'username' | 'passwordSealed'>, error: unknown): string {
  const { url, name } = record;
  const host = new URL(url).host;
  const code = systemCode(error);
  if (!isUpstreamUnavailableError(error)) return error instanceof Error ? error.message : String(error);
  const setCredentials = `printf %s "$PASSWORD" | berth upstream set ${name} --username USER --password-stdin`;
  switch (error.reason) {
    case 'network':
      if (code === 'ECONNREFUSED') return `connection refused: is it running at ${url}?`;
      if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `host ${new URL(url).hostname} not found: check the URL (${url}) and your DNS`;
      if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return `no route to ${host}: is this machine's network up?`;
      if (code === 'ECONNRESET' || code === 'EPIPE') return `${host} closed the connection: is ${url} a registry, with the right scheme (http or https)?`;
      return `cannot connect to ${url}${code ? ` (${code})` : ''}: is it running, and is the URL right?`;
    case 'timeout':
      return `no answer from ${url} in time: is it up, or is a firewall in the way?`;
    case 'tls':
      if (code && certificateCodes.has(code)) return `its TLS certificate is not trusted (${code}): give Berth its CA with berth upstream set ${name} --ca-file CA.pem`;
      if (code === 'CERT_HAS_EXPIRED') return `its TLS certificate has expired: the upstream's owner must renew it`;
      if (code === 'EPROTO' || code?.startsWith('ERR_SSL')) return `TLS failed (${code}): if it speaks plain HTTP, use an http:// URL (berth upstream set ${name} --url ...)`;
      return `TLS failed${code ? ` (${code})` : ''}: check the URL's scheme and the upstream's certificate`;
    case 'unauthorized':
      return record.username !== undefined || record.passwordSealed !== undefined
        ? `reachable, but the credentials were refused (401): set them again with ${setCredentials}`
        : `reachable, but it wants credentials (401): add them with ${setCredentials}`;
    case 'denied':
      return 'reachable, but access is denied (403) to these credentials';
    case 'rate-limited':
      return `reachable, but rate limited (429)${error.retryAfterMs !== undefined ? `: try again in ${Math.ceil(error.retryAfterMs / 1000)} s` : ''}`;
    case 'server-error':
      return `reachable, but failing: it answered HTTP ${error.status ?? '5xx'}`;
    case 'protocol':
      if (error.status === 404) return `${url} answers, but not as a registry (no /v2/): check the URL`;
      return error.message.replace(/^upstream [^:]+: /, '');
    case 'rejected':
      return `reachable, but it answered HTTP ${error.status ?? '?'} to /v2/`;
    default:
      return error.message.replace(/^upstream [^:]+: /, '');
  }
}
