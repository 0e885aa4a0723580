import type { Socket } from 'node:net';
import { hostname } from 'node:os';
import { parseSubjectName, serverSubjectNames } from '../tls/subject-names.js';

/**
 * The names a Berth listener answers for: the one source of the Host allowlist (http/request-guard.ts) and of the
 * challenges' realm (auth/token-realm.ts). They are the names of its certificate (the loopback names, the
 * machine's host name and the configured TLS names, settings.tlsNames) and the address the connection reached.
 *
 * A DNS-rebinding page (`evil.example` resolving to 127.0.0.1) reaches the socket with `Host: evil.example`: that
 * is no name of Berth's, so it is never answered. A name clients really use (the public name of a load balancer in
 * front of Berth, a LAN name) goes in the TLS names, where the certificate needs it anyway; there is no other list.
 */
export interface ListenerNames {
  /** Whether `host` (canonical, see hostOf) is a name of the listener this socket is connected to. */
  isOwn(host: string, socket: Socket): boolean;
  /** The configured TLS names, canonical, in their configured order (wildcards as `*.example.lan`). */
  configured(): readonly string[];
}

export interface ListenerNamesOptions {
  /** The configured TLS names (settings.tlsNames), read per request so a change in the GUI applies at once. */
  tlsNames: () => readonly string[];
  /**
   * Looks for a change another process made (the CLI's `berth ca rotate --tls-name`) and says whether there was
   * one: asked only before a Host is refused, so the hot path never pays for it.
   */
  refresh?: () => boolean;
  /** The machine's host name (default os.hostname()): it is in the certificate too. */
  hostname?: string;
}

/**
 * Remembers a pure function of a string for the last few hundred arguments. The request guard asks hostOf and
 * canonicalAddress on every request, with the same few Host values and socket addresses, and each answer costs a URL
 * parse or a name parse (3 % of a manifest GET's CPU). Bounded: a client sending a new Host each time only empties it.
 */
function remembered<T>(compute: (key: string) => T, max = 256): (key: string) => T {
  const known = new Map<string, T>();
  return (key) => {
    if (known.has(key)) return known.get(key) as T;
    const value = compute(key);
    if (known.size >= max) known.clear();
    known.set(key, value);
    return value;
  };
}

/** `::ffff:127.0.0.1` (a dual-stack socket's IPv4 peer) as `127.0.0.1`; IPv6 compressed as URLs write it. */
export const canonicalAddress: (address: string) => string = remembered((address) => {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped?.[1]) return mapped[1];
  try {
    return parseSubjectName(address).value;
  } catch {
    return address.toLowerCase();
  }
});

export function isLoopbackAddress(address: string): boolean {
  const canonical = canonicalAddress(address);
  return canonical === '::1' || /^127\./.test(canonical);
}

/** The address a connection reached, canonical (127.0.0.1 when the socket no longer knows). */
export function localAddressOf(socket: Socket): string {
  return canonicalAddress(socket.localAddress ?? '127.0.0.1');
}

/**
 * The host name of a Host header value or URL authority (`[::1]:5000` → `::1`, `LOCALHOST.` → `localhost`), or
 * undefined when there is none or it is not one. The WHATWG URL parser is the one browsers use to write Host, so
 * both sides read the name alike (decimal IPv4 spellings, IDNs, case).
 */
export function hostOf(authority: string | undefined): string | undefined {
  return authority ? hostOfAuthority(authority) : undefined;
}

const hostOfAuthority = remembered((authority): string | undefined => {
  try {
    const host = new URL(`http://${authority}`).hostname.replace(/^\[|\]$/g, '');
    return host === '' ? undefined : canonicalAddress(host.replace(/\.$/, ''));
  } catch {
    return undefined;
  }
});

/** `*.example.lan` covers exactly one more label, as it does in a certificate (RFC 6125 §6.4.3). */
function matchesName(pattern: string, host: string): boolean {
  if (!pattern.startsWith('*.')) return pattern === host;
  const dot = host.indexOf('.');
  return dot > 0 && host.slice(dot) === pattern.slice(1);
}

export function createListenerNames(options: ListenerNamesOptions): ListenerNames {
  const fixed = new Set(serverSubjectNames(options.hostname ?? hostname(), []).map((name) => name.value));
  // The setting is a frozen snapshot that changes identity on every change: parse each version once, not per request.
  let parsedFrom: readonly string[] | undefined;
  let parsed: readonly string[] = [];
  const configured = (): readonly string[] => {
    const names = options.tlsNames();
    if (names !== parsedFrom) {
      parsedFrom = names;
      parsed = names.flatMap((name) => {
        try {
          return [parseSubjectName(name).value];
        } catch {
          return []; // A name the certificate refuses is no name of Berth's either.
        }
      });
    }
    return parsed;
  };
  const known = (host: string, socket: Socket): boolean =>
    fixed.has(host) || host === localAddressOf(socket) || configured().some((name) => matchesName(name, host));
  return {
    isOwn: (host, socket) => known(host, socket) || (options.refresh?.() === true && known(host, socket)),
    configured,
  };
}
