/**
 * How Berth's listeners (plain HTTP and HTTPS alike) treat connections: how long one may sit silent, and how many
 * may be open. The README states these defaults; test/security checks that it does.
 */
export interface ConnectionPolicy {
  /**
   * A connection with no bytes moving either way for this long is closed; a request whose answer has not started
   * gets 408 first. There is no cap on a request's total time: a big layer on a slow link takes as long as it
   * takes while its bytes keep arriving.
   */
  idleTimeoutMs: number;
  /** The request line and headers must be in within this long (slow-header clients), and a TLS handshake too. */
  headersTimeoutMs: number;
  /** An idle keep-alive connection between two requests is closed after this long. */
  keepAliveTimeoutMs: number;
  /** Connections open at once from one client address (an IPv6 /64 counts as one address). */
  maxConnectionsPerAddress: number;
  /** Connections open at once in all, over every listener of the registry. */
  maxConnections: number;
}

/**
 * Why these numbers:
 * - idle 2 min: the longest silence a healthy exchange has is Berth itself waiting for an upstream (a mirror answer
 *   has up to 60 s), or a client's TCP retransmitting over a bad link; twice that is still short for a dead client.
 * - headers 60 s: Node's own default, kept: a real client sends its headers in one packet.
 * - keep-alive 65 s: longer than the 60 s idle pools of common clients (Go, undici), so the client closes first.
 * - 512 per address: every local client (dockerd, containerd, buildkit, the GUI) shares 127.0.0.1. dockerd opens 3
 *   connections per pull and 5 per push, containerd 3 per pull, a browser 6; a busy CI host with 30 parallel jobs
 *   stays under ~200 busy connections. Idle ones never count against a newcomer (see connection-guard.ts).
 * - 2048 in all: each connection is a file descriptor, and a blob transfer adds one or two more; 2048 leaves room
 *   below the 4096 descriptors older Linux systems allow a process.
 */
export const defaultConnectionPolicy: Readonly<ConnectionPolicy> = Object.freeze({
  idleTimeoutMs: 120_000,
  headersTimeoutMs: 60_000,
  keepAliveTimeoutMs: 65_000,
  maxConnectionsPerAddress: 512,
  maxConnections: 2048,
});

export function connectionPolicyOf(overrides: Partial<ConnectionPolicy> = {}): ConnectionPolicy {
  const policy = { ...defaultConnectionPolicy, ...overrides };
  for (const [name, value] of Object.entries(policy)) {
    if (!Number.isInteger(value) || value <= 0) throw new Error(`connection policy: ${name} must be a positive whole number, not ${String(value)}`);
  }
  return policy;
}
