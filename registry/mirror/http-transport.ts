import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { rootCertificates } from 'node:tls';
import { createAddressPolicy } from './address-policy.js';
import { isLoopbackHost } from './upstream.js';

/**
 * A small HTTP client over node:http/https for talking to registries: keep-alive agents with the upstream's
 * TLS settings, an inactivity timeout, redirects that drop credentials when they leave the origin, and a
 * response body handed back as the raw stream (blobs are never buffered here).
 */
export interface TransportOptions {
  /** Extra CA certificate(s) in PEM, trusted on top of the system roots (for every host: storage and token hosts too). */
  readonly caPem?: string;
  /** Skip certificate checks, but only ever for loopback hosts (validateUpstream refuses the rest). */
  readonly insecure?: boolean;
  /** Socket inactivity limit (connecting, any pause in the headers or the body), and the limit for the whole header. */
  readonly timeoutMs: number;
  /** Redirects followed per request. Default 5. */
  readonly maxRedirects?: number;
  /**
   * The upstream's own host name. Other hosts (redirect targets, token realms) may resolve only to public
   * addresses or to addresses of the same class as the upstream's own (see address-policy.ts). Without it,
   * every address is allowed.
   */
  readonly ownHost?: string;
}

export interface TransportRequest {
  readonly url: URL;
  readonly method: 'GET' | 'HEAD';
  readonly headers: Readonly<Record<string, string>>;
  readonly signal?: AbortSignal;
}

export interface TransportResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** The body stream. The caller must consume it or call `discard()`. */
  readonly body: IncomingMessage;
  /** The URL that answered (after redirects). */
  readonly url: URL;
  /** Drops the body and frees the socket. */
  discard(): void;
}

export interface Transport {
  send(request: TransportRequest): Promise<TransportResponse>;
  close(): void;
}

/** Thrown (as the request's error) when the socket stays silent for timeoutMs. */
export class TransportTimeoutError extends Error {
  readonly code = 'BERTH_UPSTREAM_TIMEOUT';

  constructor(timeoutMs: number, what = 'data') {
    super(`no ${what} from the upstream for ${timeoutMs} ms`);
    this.name = 'TransportTimeoutError';
  }
}

const redirectStatuses = new Set([301, 302, 303, 307, 308]);
/** Response headers of an upstream answer, all together (Node's default, said out loud). */
const maxHeaderBytes = 16 * 1024;
// Headers that carry credentials: they stay with the origin they were meant for.
const credentialHeaders = ['authorization', 'cookie'];

export function createTransport(options: TransportOptions): Transport {
  const maxRedirects = options.maxRedirects ?? 5;
  const httpAgent = new HttpAgent({ keepAlive: true, maxSockets: 32 });
  // A custom CA is added to the system roots, not put in their place: storage redirects and token realms often
  // live on public hosts even when the registry uses a private CA.
  const httpsAgent = new HttpsAgent({
    keepAlive: true,
    maxSockets: 32,
    ...(options.caPem !== undefined ? { ca: [...rootCertificates, options.caPem] } : {}),
  });
  const insecureAgent = options.insecure === true
    ? new HttpsAgent({ keepAlive: true, maxSockets: 32, rejectUnauthorized: false })
    : undefined;

  const agentFor = (url: URL): HttpAgent => {
    if (url.protocol === 'http:') return httpAgent;
    return insecureAgent !== undefined && isLoopbackHost(url.hostname) ? insecureAgent : httpsAgent;
  };

  const policy = options.ownHost !== undefined ? createAddressPolicy(options.ownHost) : undefined;

  const once = (request: TransportRequest, url: URL, headers: Record<string, string>): Promise<IncomingMessage> =>
    new Promise((resolve, reject) => {
      try {
        policy?.checkLiteral(url.hostname);
      } catch (error) {
        reject(error);
        return;
      }
      const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
      const agent = agentFor(url);
      const req = send(url, {
        method: request.method,
        headers,
        agent,
        timeout: options.timeoutMs,
        signal: request.signal,
        maxHeaderSize: maxHeaderBytes,
        ...(policy ? { lookup: policy.lookup as never } : {}),
      });
      req.on('timeout', () => req.destroy(new TransportTimeoutError(options.timeoutMs)));
      // The socket timeout restarts with every byte: headers sent a byte at a time would never trip it.
      const firstByte = setTimeout(() => req.destroy(new TransportTimeoutError(options.timeoutMs, 'complete header')), options.timeoutMs);
      firstByte.unref();
      req.once('response', () => clearTimeout(firstByte));
      req.once('close', () => clearTimeout(firstByte));
      req.on('error', (error: NodeJS.ErrnoException) => {
        // A keep-alive socket the server closed while idle fails on first use: that is not the upstream failing.
        if (req.reusedSocket && (error.code === 'ECONNRESET' || error.code === 'EPIPE') && !request.signal?.aborted) {
          once(request, url, headers).then(resolve, reject);
          return;
        }
        reject(error);
      });
      req.on('response', resolve);
      req.end();
    });

  const send = async (request: TransportRequest): Promise<TransportResponse> => {
    let url = request.url;
    let headers: Record<string, string> = { ...request.headers };
    for (let redirects = 0; ; redirects++) {
      const body = await once(request, url, headers);
      const status = body.statusCode ?? 0;
      const location = body.headers.location;
      if (!redirectStatuses.has(status) || location === undefined || redirects >= maxRedirects) {
        return { status, headers: body.headers, body, url, discard: () => discard(body) };
      }
      discard(body);
      const next = new URL(location, url);
      if (next.protocol !== 'http:' && next.protocol !== 'https:') {
        throw new Error(`redirect to an unsupported URL scheme: ${next.protocol}`);
      }
      // Storage redirects (S3, CDNs) carry their own signature in the URL; the registry's credentials must not
      // follow them to another host.
      if (next.origin !== url.origin) {
        headers = Object.fromEntries(Object.entries(headers).filter(([key]) => !credentialHeaders.includes(key.toLowerCase())));
      }
      url = next;
    }
  };

  return {
    send,
    close: () => {
      httpAgent.destroy();
      httpsAgent.destroy();
      insecureAgent?.destroy();
    },
  };
}

function discard(body: IncomingMessage): void {
  // Small error bodies are drained so the socket can be reused; anything else is cut.
  const length = Number(body.headers['content-length'] ?? Number.NaN);
  if (Number.isFinite(length) && length <= 64 * 1024) body.resume();
  else body.destroy();
}

/**
 * The longest a small body may take as a whole. The socket timeout restarts with every byte, so a manifest sent a
 * byte at a time would otherwise hold every client sharing its fetch for as long as the upstream likes.
 */
const smallBodyDeadlineMs = 60_000;

/** Reads a small body (manifests, error documents, token answers, tag lists) with a size limit and a deadline. */
export async function readBody(body: IncomingMessage, limitBytes: number, deadlineMs = smallBodyDeadlineMs): Promise<Buffer> {
  const declared = Number(body.headers['content-length'] ?? Number.NaN);
  if (Number.isFinite(declared) && declared > limitBytes) {
    body.destroy();
    throw new Error(`response of ${declared} bytes exceeds the ${limitBytes}-byte limit`);
  }
  const deadline = setTimeout(() => body.destroy(new TransportTimeoutError(deadlineMs, 'complete body')), deadlineMs);
  deadline.unref();
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      total += chunk.length;
      if (total > limitBytes) {
        body.destroy();
        throw new Error(`response exceeds the ${limitBytes}-byte limit`);
      }
      chunks.push(chunk);
    }
  } finally {
    clearTimeout(deadline);
  }
  if (Number.isFinite(declared) && total !== declared) throw new Error(`response ended after ${total} of ${declared} bytes`);
  return Buffer.concat(chunks);
}
