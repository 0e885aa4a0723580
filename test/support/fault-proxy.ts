import { createConnection, createServer, type AddressInfo, type Socket } from 'node:net';
import type { AfterHook } from './temp-dir.js';

/**
 * A TCP proxy that injects faults at the socket level between a client (Berth) and a real server (docker-registry,
 * another Berth). It forwards bytes untouched, reads just enough of HTTP/1.1 to know which request a response
 * answers (request lines going one way, the end of the response headers coming back), and for the requests a
 * rule picks it cuts, stalls, trickles or corrupts the response body at a given byte: what a dying link, a hung
 * server or a bad cache in the middle looks like to Berth. Nothing in Berth is mocked.
 */
export type Fault =
  /** Forward the first `afterBodyBytes` body bytes, then send a TCP RST (ECONNRESET at the other end). */
  | { readonly kind: 'reset'; readonly afterBodyBytes: number }
  /** Forward the first `afterBodyBytes` body bytes, then nothing more while keeping the connection open. */
  | { readonly kind: 'stall'; readonly afterBodyBytes: number }
  /** Forward the first `afterBodyBytes` body bytes, then `bytes` (default 1) every `intervalMs`. */
  | { readonly kind: 'trickle'; readonly afterBodyBytes: number; readonly intervalMs: number; readonly bytes?: number }
  /** Flip every bit of the body byte at `atBodyByte`; the length stays right. */
  | { readonly kind: 'corrupt'; readonly atBodyByte: number };

export interface ProxiedRequestLine {
  readonly method: string;
  /** Path and query. */
  readonly path: string;
  /** The fault applied to its response, if any. */
  readonly fault?: Fault['kind'];
}

/** Picks the fault for a request (undefined: forward as is). Changed at any time with setRule. */
export type FaultRule = (request: { method: string; path: string }) => Fault | undefined;

export interface FaultProxy {
  /** `http://127.0.0.1:PORT`. */
  readonly url: string;
  /** `127.0.0.1:PORT`. */
  readonly host: string;
  readonly port: number;
  /** Every request line seen, in order. */
  readonly requests: ProxiedRequestLine[];
  setRule(rule: FaultRule | undefined): void;
  /** Connections accepted so far. */
  connections(): number;
  /** Destroys every connection and stops listening. Idempotent. */
  close(): Promise<void>;
}

const requestLine = /(?:^|\r\n)(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS) (\S+) HTTP\/1\.[01]\r\n/g;
const headerEnd = Buffer.from('\r\n\r\n');

/** Only blob GETs: the usual target of a fault. */
export function blobGets(fault: Fault, digest?: string): FaultRule {
  return ({ method, path }) => (method === 'GET' && /\/blobs\/sha256:/.test(path) && (digest === undefined || path.includes(digest)) ? fault : undefined);
}

export async function startFaultProxy(t: AfterHook, target: string, rule?: FaultRule): Promise<FaultProxy> {
  const upstream = new URL(target);
  const requests: ProxiedRequestLine[] = [];
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let current = rule;
  let accepted = 0;

  const server = createServer((client) => {
    accepted += 1;
    const server = createConnection({ host: upstream.hostname, port: Number(upstream.port) });
    sockets.add(client);
    sockets.add(server);
    const drop = () => {
      client.destroy();
      server.destroy();
      sockets.delete(client);
      sockets.delete(server);
    };
    client.on('error', drop).on('close', drop);
    server.on('error', drop).on('close', drop);

    /** The fault for the response now coming back, and where in it we are. */
    let fault: Fault | undefined;
    let inBody = false;
    let tail = Buffer.alloc(0);
    let bodyBytes = 0;
    let stalled = false;

    client.on('data', (chunk: Buffer) => {
      for (const match of chunk.toString('latin1').matchAll(requestLine)) {
        const seen = { method: match[1] as string, path: match[2] as string };
        const picked = current?.(seen);
        requests.push(picked ? { ...seen, fault: picked.kind } : seen);
        // HTTP/1.1 clients send the next request on a connection only after the last response: it is the next.
        fault = picked;
        inBody = false;
        tail = Buffer.alloc(0);
        bodyBytes = 0;
      }
      server.write(chunk);
    });

    const trickle = (rest: Buffer, intervalMs: number, bytes: number) => {
      let queue = rest;
      // Reads from the server only as fast as the trickle drains, so nothing piles up in the proxy.
      const pace = () => (queue.length > 4 * bytes ? server.pause() : server.resume());
      server.removeAllListeners('data');
      server.on('data', (more: Buffer) => {
        queue = Buffer.concat([queue, more]);
        pace();
      });
      pace();
      const timer = setInterval(() => {
        if (client.destroyed) {
          clearInterval(timer);
          timers.delete(timer);
          return;
        }
        if (queue.length === 0) return;
        client.write(queue.subarray(0, bytes));
        queue = queue.subarray(bytes);
        pace();
      }, intervalMs);
      timers.add(timer);
    };

    server.on('data', (chunk: Buffer) => {
      if (stalled) return;
      if (!fault) {
        client.write(chunk);
        return;
      }
      let body = chunk;
      if (!inBody) {
        const joined = Buffer.concat([tail, chunk]);
        const end = joined.indexOf(headerEnd);
        if (end === -1) {
          tail = joined.subarray(Math.max(0, joined.length - 3));
          client.write(chunk);
          return;
        }
        inBody = true;
        const headerBytesInChunk = end + headerEnd.length - tail.length;
        client.write(chunk.subarray(0, headerBytesInChunk));
        body = chunk.subarray(headerBytesInChunk);
      }
      const offset = bodyBytes;
      bodyBytes += body.length;
      if (fault.kind === 'corrupt') {
        if (fault.atBodyByte >= offset && fault.atBodyByte < bodyBytes) {
          body = Buffer.from(body);
          body[fault.atBodyByte - offset] = (body[fault.atBodyByte - offset] as number) ^ 0xff;
        }
        client.write(body);
        return;
      }
      const keep = Math.max(0, fault.afterBodyBytes - offset);
      if (keep >= body.length) {
        client.write(body);
        return;
      }
      const head = body.subarray(0, keep);
      const rest = body.subarray(keep);
      if (fault.kind === 'reset') {
        stalled = true;
        // Let the bytes before the cut leave first, then reset: the peer sees ECONNRESET mid-body.
        client.write(head, () => {
          client.resetAndDestroy();
          server.destroy();
        });
        return;
      }
      client.write(head);
      if (fault.kind === 'stall') {
        stalled = true;
        server.pause();
        return;
      }
      stalled = true;
      trickle(rest, fault.intervalMs, fault.bytes ?? 1);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    for (const timer of timers) clearInterval(timer);
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  t.after(close);
  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    port,
    requests,
    setRule: (next) => {
      current = next;
    },
    connections: () => accepted,
    close,
  };
}
