import type { Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { clientKey } from '../auth/rate-limiter.js';
import { RegistryError } from '../core/errors.js';
import { createEventSummarizer, type EventSummary } from '../event-summary.js';
import type { Logger } from '../log.js';
import { sendError } from './error-response.js';
import type { ConnectionPolicy } from './connection-policy.js';

/**
 * What Berth's listeners do at the connection level (see connection-policy.ts for the numbers):
 *
 * - Timeouts: no cap on a request's total time (Node's 300 s `requestTimeout` is off), an idle timeout instead
 *   (no bytes either way for `idleTimeoutMs`: a request in progress gets 408, then the connection closes), and
 *   Node's headers timeout stays.
 * - Caps: at most `maxConnectionsPerAddress` connections from one client address and `maxConnections` in all,
 *   counted on the TCP socket (before any TLS handshake). Every local client is 127.0.0.1, so a full table does
 *   not simply refuse: a newcomer first takes the place of an idle connection (one that never sent a request
 *   before one that did, the longest idle first), and is closed at once only when every connection is busy with
 *   a request. Refusals are logged once per minute in aggregate and counted (`berth_connections_closed_total`).
 */
export type ConnectionCloseReason = 'address_limit' | 'total_limit' | 'evicted' | 'idle_timeout';

export interface ConnectionGuardOptions {
  policy: ConnectionPolicy;
  log: Logger;
  /** Each connection Berth closes on its own initiative (metrics). */
  onClose?(reason: ConnectionCloseReason): void;
  /** The number of open connections after each change (metrics). */
  onOpenChange?(open: number): void;
  /** Window of the refusal log summary. Default one minute. */
  summaryWindowMs?: number;
}

export interface ConnectionGuard {
  /** Applies the timeouts to `server` and counts its connections against the shared caps. */
  attach(server: Server): void;
  /** Connections open now, over every attached server. */
  open(): number;
  /**
   * Closes every connection of `server` with no request in progress, including those that never sent one (which
   * Node's own `closeIdleConnections` leaves open): a shutdown waits for requests, not for silent sockets. Only that
   * server's: when "apply and restart" retires one listener, the keep-alive connections of the others stay usable.
   */
  closeIdle(server: Server): void;
  /** Logs what is pending in the refusal summary. */
  close(): void;
}

interface Connection {
  readonly socket: Socket;
  /** The listener that accepted it. */
  readonly server: Server;
  /** connectionKey(socket), taken while the socket is open (a closed socket no longer knows its addresses). */
  readonly key: string;
  readonly address: string;
  /** Requests whose response has not closed yet. */
  inFlight: number;
  /** Requests answered on this connection. */
  served: number;
  /** When the connection last became idle (or opened). */
  idleSince: number;
  /** The response being written, for the 408 of an idle cut. */
  response?: ServerResponse;
}

/** Names a connection the same way from its TCP socket and from the TLS socket wrapped around it. */
function connectionKey(socket: Socket): string {
  return `${socket.localPort ?? ''}|${socket.remoteAddress ?? ''}|${socket.remotePort ?? ''}`;
}

/** Idle connections only; among them one that never carried a request, then the one idle longest. */
function evictionCandidate(connections: Iterable<Connection>): Connection | undefined {
  let best: Connection | undefined;
  for (const connection of connections) {
    if (connection.inFlight > 0) continue;
    if (!best) {
      best = connection;
      continue;
    }
    const usedBefore = connection.served > 0;
    const bestUsedBefore = best.served > 0;
    if (usedBefore !== bestUsedBefore ? !usedBefore : connection.idleSince < best.idleSince) best = connection;
  }
  return best;
}

export function createConnectionGuard(options: ConnectionGuardOptions): ConnectionGuard {
  const { policy, log } = options;
  const byKey = new Map<string, Connection>();
  const byAddress = new Map<string, Set<Connection>>();
  const idleSeconds = Math.round(policy.idleTimeoutMs / 1000);

  const refusals = createEventSummarizer({
    windowMs: options.summaryWindowMs ?? 60_000,
    report(summary: EventSummary) {
      const clients = summary.byKey.map(({ key, count }) => {
        const [reason, address] = key.split(' ', 2) as [string, string];
        return { address, limit: reason, refused: count };
      });
      const limits = { perAddress: policy.maxConnectionsPerAddress, total: policy.maxConnections };
      const fields = { refused: summary.count, clients, otherClients: summary.otherKeys, limits, open: byKey.size };
      if (summary.leading) log.warn(fields, 'refused a connection: the connection limit is reached and every connection is busy');
      else log.warn({ ...fields, seconds: Math.round((summary.until.getTime() - summary.since.getTime()) / 1000) }, 'refused %d more connection(s): the connection limit is reached and every connection is busy', summary.count);
    },
  });

  function forget(connection: Connection): boolean {
    if (byKey.get(connection.key) !== connection) return false;
    byKey.delete(connection.key);
    const same = byAddress.get(connection.address);
    same?.delete(connection);
    if (same?.size === 0) byAddress.delete(connection.address);
    options.onOpenChange?.(byKey.size);
    return true;
  }

  /** Closes an idle connection to make room; false when every candidate is busy. */
  function makeRoom(candidates: Iterable<Connection>): boolean {
    const victim = evictionCandidate(candidates);
    if (!victim) return false;
    forget(victim);
    victim.socket.destroy();
    options.onClose?.('evicted');
    log.debug({ client: victim.address, served: victim.served }, 'closed an idle connection to make room for a new one');
    return true;
  }

  function admit(server: Server, socket: Socket): void {
    const remote = socket.remoteAddress;
    if (remote === undefined) {
      socket.destroy(); // gone before we saw it
      return;
    }
    const address = clientKey(remote);
    const same = byAddress.get(address);
    let refused: ConnectionCloseReason | undefined;
    if (same && same.size >= policy.maxConnectionsPerAddress && !makeRoom(same)) refused = 'address_limit';
    else if (byKey.size >= policy.maxConnections && !makeRoom(byKey.values())) refused = 'total_limit';
    if (refused) {
      socket.destroy();
      options.onClose?.(refused);
      refusals.add(`${refused} ${address}`);
      return;
    }
    const connection: Connection = { socket, server, key: connectionKey(socket), address, inFlight: 0, served: 0, idleSince: Date.now() };
    byKey.set(connection.key, connection);
    if (same) same.add(connection);
    else byAddress.set(address, new Set([connection]));
    options.onOpenChange?.(byKey.size);
    socket.once('close', () => forget(connection));
  }

  function track(socket: Socket, res: ServerResponse): void {
    const connection = byKey.get(connectionKey(socket));
    if (!connection) return;
    connection.inFlight += 1;
    connection.response = res;
    res.once('close', () => {
      connection.inFlight -= 1;
      connection.served += 1;
      connection.idleSince = Date.now();
      if (connection.response === res) connection.response = undefined;
    });
  }

  /** Node calls this after `idleTimeoutMs` without bytes, and when a keep-alive connection's wait runs out. */
  function onIdle(socket: Socket): void {
    const connection = byKey.get(connectionKey(socket));
    const response = connection?.inFlight ? connection.response : undefined;
    if (connection && (connection.inFlight > 0 || connection.served === 0)) {
      options.onClose?.('idle_timeout');
      log.debug({ client: connection.address, inRequest: connection.inFlight > 0 }, 'closed a connection with no bytes for %d s', idleSeconds);
    }
    if (!response || response.headersSent || response.destroyed) {
      socket.destroy();
      return;
    }
    // The client may still read: tell it why, in the registry's error shape, then close whatever it does.
    const force = setTimeout(() => socket.destroy(), 1000);
    force.unref();
    response.once('close', () => clearTimeout(force));
    response.once('finish', () => socket.destroy());
    const message = `no data arrived for ${idleSeconds} s: the request was closed; send it again`;
    sendError(response, new RegistryError('UNKNOWN', message, { status: 408, headers: { Connection: 'close' } }), log);
  }

  return {
    attach(server) {
      // No total cap on a request: an upload that keeps flowing may take hours. The idle timeout bounds silence.
      server.requestTimeout = 0;
      server.headersTimeout = policy.headersTimeoutMs;
      server.keepAliveTimeout = policy.keepAliveTimeoutMs;
      server.setTimeout(policy.idleTimeoutMs, onIdle);
      server.on('connection', (socket: Socket) => admit(server, socket));
      server.on('request', (req, res) => track(req.socket, res));
    },
    open: () => byKey.size,
    closeIdle(server) {
      for (const connection of [...byKey.values()]) {
        if (connection.inFlight > 0 || connection.server !== server) continue;
        forget(connection);
        connection.socket.destroy();
      }
    },
    close() {
      refusals.close();
    },
  };
}
