import { connect } from 'node:net';

/**
 * HTTP/1.x over a bare socket, for requests no client library would send as written: absolute-form targets,
 * `OPTIONS *`, NUL bytes, contradictory framing headers, bodies cut short. The bytes go out exactly as given and
 * the socket stays open, as a client's does (node's server aborts pending requests when the client half-closes),
 * unless `halfClose` asks to signal the end at once, for a body cut short.
 */

export type RawOutcome =
  /** A final status line and all headers arrived (the body is not waited for: an event stream never ends). */
  | { kind: 'answered'; status: number; statusLine: string; head: string; ms: number }
  /**
   * The server closed or reset the connection without a status line. `whileSending`: before it took all of the
   * request's bytes (a server that answers early and hangs up makes the client's kernel drop the answer on the reset).
   */
  | { kind: 'closed'; detail: string; whileSending: boolean; ms: number }
  /** Neither within the deadline: the request hangs. */
  | { kind: 'timeout'; ms: number };

export interface RawExchangeOptions {
  /** Per-request deadline for the status line (default 10 s: generous on a loaded 2-core machine). */
  timeoutMs?: number;
  /** Half-close right after the bytes, so a server waiting for the rest of a declared body sees its end at once. */
  halfClose?: boolean;
}

export function rawHttpExchange(host: string, port: number, request: Buffer | string, options: RawExchangeOptions = {}): Promise<RawOutcome> {
  const started = Date.now();
  const elapsed = () => Date.now() - started;
  return new Promise((resolve) => {
    const socket = connect({ host, port, allowHalfOpen: true });
    let received = Buffer.alloc(0);
    let settled = false;
    let sent = false;
    const finish = (outcome: RawOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => finish({ kind: 'timeout', ms: elapsed() }), options.timeoutMs ?? 10_000);
    const answeredSoFar = (): boolean => {
      const end = received.indexOf('\r\n\r\n');
      if (end === -1) return false;
      const head = received.subarray(0, end).toString('latin1');
      const statusLine = head.slice(0, head.indexOf('\r\n') === -1 ? head.length : head.indexOf('\r\n'));
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
      if (status && status[1]?.startsWith('1')) {
        // An interim answer (100 Continue): the final one follows.
        received = received.subarray(end + 4);
        return answeredSoFar();
      }
      finish(status ? { kind: 'answered', status: Number(status[1]), statusLine, head, ms: elapsed() } : { kind: 'closed', detail: `not HTTP: ${statusLine.slice(0, 100)}`, whileSending: !sent, ms: elapsed() });
      return true;
    };
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      answeredSoFar();
    });
    socket.on('end', () => {
      if (!answeredSoFar()) finish({ kind: 'closed', detail: `closed after ${received.length} byte(s)`, whileSending: !sent, ms: elapsed() });
    });
    // A reset while our body is still going out is an answer too ("no"), unless a status line came first.
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (!answeredSoFar()) finish({ kind: 'closed', detail: error.code ?? error.message, whileSending: !sent, ms: elapsed() });
    });
    socket.on('close', () => {
      if (!answeredSoFar()) finish({ kind: 'closed', detail: 'closed', whileSending: !sent, ms: elapsed() });
    });
    socket.write(request, (error) => {
      if (error) return;
      sent = true;
      if (options.halfClose) socket.end();
    });
  });
}
