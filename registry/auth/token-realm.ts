import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { hostOf, isLoopbackAddress, localAddressOf, type ListenerNames } from '../http/listener-names.js';

/**
 * The `realm` of Berth's Bearer challenges: the URL of its token service on the listener a request came in on,
 * built from configuration and never copied from the request. The host is one of the listener's own names
 * (http/listener-names.ts: the loopback names, the machine's host name, the configured TLS names, the address the
 * connection reached). The Host header only picks among them, so a client that dialled `localhost` or a configured
 * `berth.example.lan` is sent back there. Any other Host is refused before it gets here (http/request-guard.ts);
 * a request without one (HTTP/1.0) gets the listener's own address. The port is always the listener's own.
 */
export type TokenRealm = (req: IncomingMessage) => string;

export interface TokenRealmOptions {
  /** The listener's own names, shared with the Host allowlist. */
  names: ListenerNames;
  /**
   * The configured public URL (config/public-url.ts: an origin): when set, every challenge names `<publicUrl>/token`,
   * the address clients reach through the load balancer, instead of the node's own.
   */
  publicUrl?: string;
}

export function createTokenRealm(options: TokenRealmOptions): TokenRealm {
  const { names, publicUrl } = options;
  if (publicUrl !== undefined) {
    const realm = `${publicUrl}/token`;
    return () => realm;
  }
  return (req) => {
    const socket = req.socket as IncomingMessage['socket'] & { encrypted?: boolean };
    const scheme = socket.encrypted === true ? 'https' : 'http';
    const local = localAddressOf(socket);
    const asked = hostOf(req.headers.host);
    // A wildcard TLS name is no host to send a client to: a listener reached by no name of its own names its address.
    const fallback = isLoopbackAddress(local) ? local : (names.configured().find((name) => !name.startsWith('*.')) ?? local);
    const host = asked !== undefined && names.isOwn(asked, socket) ? asked : fallback;
    const printed = isIP(host) === 6 ? `[${host}]` : host;
    return `${scheme}://${printed}:${socket.localPort ?? (scheme === 'https' ? 443 : 80)}/token`;
  };
}
