import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { parseSubjectName, serverSubjectNames } from '../tls/subject-names.js';

/**
 * The `realm` of Berth's Bearer challenges: the URL of its token service on the listener a request came in on,
 * built from configuration and never copied from the request. The host is one of the names Berth's listeners are
 * theirs to answer for: the loopback names, the machine's host name and the configured TLS names (the names of
 * its certificate), and the address the connection reached. The Host header only picks among them, so a client
 * that dialled `localhost` or a configured `berth.example.lan` is sent back there; any other Host (a DNS-rebinding
 * page's `evil.example`) gets the listener's own address, which such a page cannot read from. The port is always
 * the listener's own.
 */
export type TokenRealm = (req: IncomingMessage) => string;

export interface TokenRealmOptions {
  /** The configured TLS names (settings.tlsNames), read per request so a change in the GUI applies at once. */
  tlsNames: () => readonly string[];
  /** The machine's host name (default os.hostname()): it is in the certificate too. */
  hostname?: string;
}

/** `::ffff:127.0.0.1` (a dual-stack socket's IPv4 peer) as `127.0.0.1`; IPv6 compressed as URLs write it. */
function canonicalAddress(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped?.[1]) return mapped[1];
  try {
    return parseSubjectName(address).value;
  } catch {
    return address.toLowerCase();
  }
}

function isLoopbackAddress(address: string): boolean {
  return address === '::1' || /^127\./.test(address);
}

/** The host name of a Host header value (`[::1]:5000` → `::1`), or undefined when it is not one. */
function hostOf(header: string | undefined): string | undefined {
  if (!header) return undefined;
  try {
    const host = new URL(`http://${header}`).hostname.replace(/^\[|\]$/g, '');
    return host === '' ? undefined : canonicalAddress(host.replace(/\.$/, ''));
  } catch {
    return undefined;
  }
}

function configuredNames(tlsNames: readonly string[]): string[] {
  const names: string[] = [];
  for (const name of tlsNames) {
    try {
      names.push(parseSubjectName(name).value);
    } catch {
      // A name the certificate refuses is no name of Berth's either.
    }
  }
  return names;
}

export function createTokenRealm(options: TokenRealmOptions): TokenRealm {
  const machine = options.hostname ?? hostname();
  return (req) => {
    const socket = req.socket as IncomingMessage['socket'] & { encrypted?: boolean };
    const scheme = socket.encrypted === true ? 'https' : 'http';
    const local = canonicalAddress(socket.localAddress ?? '127.0.0.1');
    const configured = configuredNames(options.tlsNames());
    const own = new Set([local, ...serverSubjectNames(machine, []).map((name) => name.value), ...configured]);
    const asked = hostOf(req.headers.host);
    const host = asked !== undefined && own.has(asked) ? asked : isLoopbackAddress(local) ? local : (configured[0] ?? local);
    const printed = isIP(host) === 6 ? `[${host}]` : host;
    return `${scheme}://${printed}:${socket.localPort ?? (scheme === 'https' ? 443 : 80)}/token`;
  };
}
