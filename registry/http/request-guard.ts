import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { hostOf, localAddressOf, type ListenerNames } from './listener-names.js';

/**
 * Who may address a request to Berth, checked once at the top of every listener (request-router.ts), before any
 * mount sees the request: the registry, the token service, metrics, the admin API and the GUI alike.
 *
 * - **Host**: only the listener's own names (listener-names.ts). DNS rebinding gives a web page at `evil.example`
 *   a socket to 127.0.0.1, but its requests say `Host: evil.example`; answering them would hand the page the
 *   catalog, public namespaces and, under `--auth none`, delete. Answered **421 Misdirected Request** (RFC 9110
 *   §15.5.20: this server is not authoritative for that host), which is what happened, and which a client cannot
 *   mistake for a credential problem (a 403 would send users to check their tokens).
 * - **Origin**: browsers add it to every cross-origin request and to same-origin writes; docker, containerd,
 *   podman, skopeo and the other registry clients never send one. A request that carries one is served only when
 *   it is the listener's own origin (its scheme with the authority the request was addressed to), so a page on
 *   another site cannot start uploads or store blobs with a `text/plain` form or fetch that needs no CORS
 *   preflight, nor make admin changes. Answered **403 Forbidden**: the request is understood and refused for who
 *   sent it. The admin API keeps its own CSRF header check besides (admin/session-guard.ts).
 *
 * Clients that must keep working: any port in Host (a proxy's public port is not the listener's), `[::1]:5000`,
 * `localhost`, a configured TLS name over HTTPS, an absolute-form target (the router has already made its
 * authority the Host, RFC 9112 §3.2.2), and HTTP/1.0 without Host (health checkers such as haproxy's httpchk):
 * no browser sends a request without Host, so one is taken as addressed to the connection's own address.
 */
export interface Refusal {
  readonly status: 421 | 403;
  readonly reason: 'host' | 'origin';
  /** What happened and what to do about it, for the protocol's error body. */
  readonly message: string;
}

export type RequestGuard = (req: IncomingMessage) => Refusal | undefined;

/** Echoed in messages, never more than this many characters of what a client sent. */
const shownLength = 100;

function shown(text: string): string {
  return JSON.stringify(text.length > shownLength ? `${text.slice(0, shownLength)}…` : text);
}

export function createRequestGuard(names: ListenerNames): RequestGuard {
  return (req) => {
    const socket = req.socket as TLSSocket;
    const authority = req.headers.host || undefined;
    if (authority !== undefined) {
      const host = hostOf(authority);
      if (host === undefined || !names.isOwn(host, socket)) {
        return {
          status: 421,
          reason: 'host',
          message: `Berth does not answer for the host ${shown(host ?? authority)}: clients that reach it by that name need it among Berth's TLS names (the GUI's Settings, or berth ca rotate --tls-name NAME)`,
        };
      }
    }
    const origin = req.headers.origin;
    if (origin === undefined) return undefined;
    const scheme = socket.encrypted === true ? 'https' : 'http';
    const own = ownOrigin(scheme, authority ?? `${bracketed(localAddressOf(socket))}:${String(socket.localPort)}`);
    if (own !== undefined && serializedOrigin(origin) === own) return undefined;
    return {
      status: 403,
      reason: 'origin',
      message: `requests from the web page ${shown(origin)} are refused: only Berth's own pages (${own ?? 'its own origin'}) may send requests with an Origin`,
    };
  };
}

function bracketed(address: string): string {
  return address.includes(':') ? `[${address}]` : address;
}

/** `http://localhost:5000` for a request addressed to `LOCALHOST:5000` over plain HTTP. */
function ownOrigin(scheme: string, authority: string): string | undefined {
  try {
    return new URL(`${scheme}://${authority}`).origin;
  } catch {
    return undefined;
  }
}

/** The origin as browsers serialise it (lower case, default port left out); undefined for `null` and garbage. */
function serializedOrigin(origin: string): string | undefined {
  try {
    const parsed = new URL(origin);
    return parsed.protocol === 'http:' || parsed.protocol === 'https:' ? parsed.origin : undefined;
  } catch {
    return undefined;
  }
}
