import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { defaultConnectionPolicy } from '../../registry/http/connection-policy.js';
import { call } from '../support/registry-auth.js';
import { startEdgeBerth, type EdgeBerth } from './edge-fixture.js';

/**
 * Issue 8, row 7: a push that is still sending data must never be cut for taking long (Node's default 300 s
 * `requestTimeout` did that with a 408), while one that stops sending is cut after an idle timeout. The uploads are
 * real: a chunked `PATCH` whose body trickles over a real socket, as docker sends a layer over a slow link.
 * The idle timeout is shortened to 1 s so the test takes seconds; a sibling test checks the real defaults.
 */

const idleTimeoutMs = 1000;

interface PatchOutcome {
  status: number;
  body: string;
  location?: string;
  elapsedMs: number;
}

/** Starts an upload session (POST) and returns its absolute URL. */
async function startSession(edge: EdgeBerth, repository: string): Promise<string> {
  const started = await call('POST', `${edge.url}/v2/${repository}/blobs/uploads/`, { headers: { authorization: edge.pushAuthorization } });
  assert.equal(started.status, 202, started.text);
  return new URL(String(started.headers.location), edge.url).href;
}

/**
 * A chunked PATCH that writes `bytes` in `pieces` pieces, `intervalMs` apart; with `stallAfter`, it writes only that
 * many pieces and then nothing more (the connection stays open), as a client whose link died would.
 */
function trickledPatch(session: string, authorization: string, bytes: Buffer, options: { pieces: number; intervalMs: number; stallAfter?: number }): Promise<PatchOutcome> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const target = new URL(session);
    const req = http.request({ method: 'PATCH', host: target.hostname, port: target.port, path: `${target.pathname}${target.search}`, agent: false, headers: { authorization, 'content-type': 'application/octet-stream' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), location: res.headers.location, elapsedMs: Date.now() - started }));
      res.on('error', reject);
    });
    req.on('error', reject);
    const size = Math.ceil(bytes.length / options.pieces);
    let sent = 0;
    const timer = setInterval(() => {
      if (options.stallAfter !== undefined && sent === options.stallAfter) {
        clearInterval(timer);
        return;
      }
      const piece = bytes.subarray(sent * size, (sent + 1) * size);
      sent += 1;
      if (sent >= options.pieces) {
        clearInterval(timer);
        req.end(piece);
      } else req.write(piece);
    }, options.intervalMs);
    req.on('close', () => clearInterval(timer));
  });
}

test('an upload that keeps flowing is never cut, however much longer than the idle timeout it takes', { timeout: 60_000 }, async (t) => {
  const edge = await startEdgeBerth(t, { connections: { idleTimeoutMs } });
  const layer = randomBytes(64 * 1024);
  const digest = `sha256:${createHash('sha256').update(layer).digest('hex')}`;
  const session = await startSession(edge, 'team/slow');

  // 64 pieces of 1 KiB, 100 ms apart: about 6.4 s of sending, six times the idle timeout. A total-time cap of that
  // size (what Node's requestTimeout is, at 300 s) would have cut it.
  const patched = await trickledPatch(session, edge.pushAuthorization, layer, { pieces: 64, intervalMs: 100 });
  assert.equal(patched.status, 202, patched.body);
  assert.ok(patched.elapsedMs > 5 * idleTimeoutMs, `the upload took ${patched.elapsedMs} ms, not long enough to prove anything`);

  const finished = await call('PUT', `${new URL(String(patched.location), edge.url).href}${String(patched.location).includes('?') ? '&' : '?'}digest=${digest}`, { headers: { authorization: edge.pushAuthorization } });
  assert.equal(finished.status, 201, finished.text);
  const pulled = await call('GET', `${edge.url}/v2/team/slow/blobs/${digest}`, { headers: { authorization: edge.pushAuthorization } });
  assert.equal(pulled.status, 200);
  assert.deepEqual(pulled.body, layer);
});

test('an upload that stops flowing is answered 408 and closed after the idle timeout, and nothing is stored', { timeout: 60_000 }, async (t) => {
  const edge = await startEdgeBerth(t, { connections: { idleTimeoutMs } });
  const layer = randomBytes(64 * 1024);
  const digest = `sha256:${createHash('sha256').update(layer).digest('hex')}`;
  const session = await startSession(edge, 'team/stalled');

  // Half the layer, then silence: Node's defaults would have held this connection (and the upload) for 300 s.
  const stalled = await trickledPatch(session, edge.pushAuthorization, layer, { pieces: 8, intervalMs: 50, stallAfter: 4 });
  assert.equal(stalled.status, 408, stalled.body);
  assert.match(stalled.body, /no data arrived for 1 s/);
  // Generous: the cut comes 1 s after the last byte; a loaded machine may be slow to notice.
  assert.ok(stalled.elapsedMs < 20_000, `cut after ${stalled.elapsedMs} ms`);

  const blob = await call('HEAD', `${edge.url}/v2/team/stalled/blobs/${digest}`, { headers: { authorization: edge.pushAuthorization } });
  assert.equal(blob.status, 404);
  const metrics = await call('GET', `${edge.url}/metrics`);
  assert.match(metrics.text, /^berth_connections_closed_total\{reason="idle_timeout"\} 1$/m);
  // The server is as good as before: the same push, sent at a normal pace, goes through.
  const again = await startSession(edge, 'team/stalled');
  const finished = await call('PUT', `${again}${again.includes('?') ? '&' : '?'}digest=${digest}`, { headers: { authorization: edge.pushAuthorization }, body: layer });
  assert.equal(finished.status, 201, finished.text);
});

test('a connection that never sends a request is closed: after the idle timeout on HTTP, the handshake timeout on HTTPS', { timeout: 60_000 }, async (t) => {
  // The TLS handshake gets the headers timeout (Node's own default was 120 s).
  const edge = await startEdgeBerth(t, { connections: { idleTimeoutMs, headersTimeoutMs: idleTimeoutMs } });
  const { connect } = await import('node:net');
  for (const base of [edge.url, edge.tlsUrl]) {
    const port = Number(new URL(String(base)).port);
    const started = Date.now();
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((resolve) => {
      socket.on('close', () => resolve());
      socket.on('error', () => undefined);
      socket.on('end', () => socket.end());
    });
    assert.ok(Date.now() - started < 20_000, `${base}: a silent connection stayed open ${Date.now() - started} ms`);
  }
});

test('defaults: no total cap on a request, a 2-minute idle timeout and the 60 s headers timeout, on every listener, as the README says', async (t) => {
  const edge = await startEdgeBerth(t);
  const servers = edge.berth.registry.servers();
  assert.equal(servers.length, 2, 'the HTTP and the HTTPS listener');
  for (const server of servers) {
    assert.equal(server.requestTimeout, 0, 'no total-time cap');
    assert.equal(server.timeout, 120_000, 'idle timeout');
    assert.equal(server.headersTimeout, 60_000, 'headers timeout');
  }
  assert.equal(defaultConnectionPolicy.idleTimeoutMs, 120_000);
  const readme = await readFile(fileURLToPath(new URL('../../../README.md', import.meta.url)), 'utf8');
  assert.match(readme, /no bytes in either direction for 2 minutes/);
  assert.match(readme, /headers must arrive within 60 s/);
});
