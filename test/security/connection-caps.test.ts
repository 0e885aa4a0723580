import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import { connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { defaultConnectionPolicy } from '../../registry/http/connection-policy.js';
import { eventually } from '../e2e/mirror-fixture.js';
import { call } from '../support/registry-auth.js';
import { startEdgeBerth, type EdgeBerth } from './edge-fixture.js';

/**
 * Issue 8, row 9: connections per client address are capped, and every local client is 127.0.0.1, so a flood of
 * idle sockets must not starve the real clients: a newcomer takes the place of an idle connection, and is refused
 * (closed at once, counted, logged once per window) only when every connection is busy with a request. The caps
 * are small here so the test is quick; the last tests check the real defaults.
 */

interface Silent {
  readonly socket: Socket;
  readonly closed: Promise<void>;
  isClosed(): boolean;
}

/** A connection that says nothing, from `localAddress` (anything in 127/8 is local on Linux). */
function openSilent(port: number, localAddress = '127.0.0.1'): Promise<Silent> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', localAddress });
    let closed = false;
    const whenClosed = new Promise<void>((done) => socket.once('close', () => ((closed = true), done())));
    socket.on('error', () => undefined);
    socket.on('end', () => socket.end());
    socket.once('connect', () => resolve({ socket, closed: whenClosed, isClosed: () => closed }));
    socket.once('error', reject);
  });
}

/** Starts an upload session (its POST from an address the test does not count against) and returns its URL. */
async function createSession(edge: EdgeBerth): Promise<URL> {
  const started = await call('POST', `${edge.url}/v2/team/busy/blobs/uploads/`, { headers: { authorization: edge.pushAuthorization, connection: 'close' }, localAddress: '127.0.0.251' });
  assert.equal(started.status, 202, started.text);
  return new URL(String(started.headers.location), edge.url);
}

/**
 * A PATCH whose body is under way and not finished: a busy connection until finish(). It resolves once Berth has
 * the request (its `100 Continue` says so), so the connection is counted busy from then on.
 */
async function beginUpload(edge: EdgeBerth, localAddress: string): Promise<{ finish(): Promise<number> }> {
  const session = await createSession(edge);
  const req = http.request({
    method: 'PATCH',
    host: '127.0.0.1',
    port: session.port,
    path: `${session.pathname}${session.search}`,
    localAddress,
    agent: false,
    headers: { authorization: edge.pushAuthorization, 'content-type': 'application/octet-stream', expect: '100-continue' },
  });
  const answered = new Promise<number>((resolve, reject) => {
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
  });
  answered.catch(() => undefined);
  await new Promise<void>((resolve, reject) => {
    req.once('continue', () => resolve());
    req.once('error', reject);
    req.flushHeaders();
  });
  req.write(Buffer.alloc(1024, 1));
  return {
    finish() {
      req.end(Buffer.alloc(1024, 2));
      return answered;
    },
  };
}

/**
 * A GET /v2/ on a fresh connection, closed after the answer: 401 means Berth answered (token auth is on). Rejects
 * when the connection is closed unanswered.
 */
function ping(edge: EdgeBerth, localAddress = '127.0.0.1'): Promise<number> {
  return call('GET', `${edge.url}/v2/`, { localAddress, headers: { connection: 'close' }, timeoutMs: 10_000 }).then((result) => result.status);
}

function closedCount(metricsText: string, reason: string): number {
  const match = new RegExp(`^berth_connections_closed_total\\{reason="${reason}"\\} (\\d+)$`, 'm').exec(metricsText);
  return Number(match?.[1] ?? Number.NaN);
}

/** The metrics as /metrics shows them, read in process: a scrape over HTTP would itself take a connection. */
function metrics(edge: EdgeBerth): string {
  return edge.berth.metrics.render();
}

/** Waits until Berth counts exactly `count` open connections (what the client closed, the server has seen closed). */
async function openConnections(edge: EdgeBerth, count: number): Promise<void> {
  await eventually(`${count} open connection(s)`, () => new RegExp(`^berth_connections_open ${count}$`, 'm').test(metrics(edge)));
}

test('past the per-address cap, an idle connection makes room; when all are busy the newcomer is closed at once, counted and logged once', { timeout: 60_000 }, async (t) => {
  const edge = await startEdgeBerth(t, { connections: { maxConnectionsPerAddress: 3, maxConnections: 100 } });
  const port = Number(new URL(edge.url).port);
  const silent = [await openSilent(port), await openSilent(port), await openSilent(port)];

  // A fourth client from the same address is served: the oldest silent connection gave it its place.
  assert.equal(await ping(edge), 401);
  await silent[0]!.closed;
  assert.equal(silent[1]!.isClosed() || silent[2]!.isClosed(), false, 'only one connection was closed to make room');
  assert.equal(closedCount(metrics(edge), 'evicted'), 1);

  // Three uploads in progress take every place (the silent ones are evicted for them); the next one is refused.
  const uploads = [await beginUpload(edge, '127.0.0.1'), await beginUpload(edge, '127.0.0.1'), await beginUpload(edge, '127.0.0.1')];
  await Promise.all(silent.map((connection) => connection.closed));
  await openConnections(edge, 3);
  await assert.rejects(ping(edge), /socket hang up|ECONNRESET/, 'a fourth connection is closed unanswered');
  // Another address is not affected.
  assert.equal(await ping(edge, '127.0.0.2'), 401);

  // A flood of refusals: each closed at once, each counted, but the log gets one line now and one summary later.
  const floodSize = 20;
  const outcomes = await Promise.allSettled(Array.from({ length: floodSize }, () => ping(edge)));
  assert.ok(outcomes.every((outcome) => outcome.status === 'rejected'), 'every connection past the cap was refused');
  const refused = closedCount(metrics(edge), 'address_limit');
  assert.ok(refused >= floodSize + 1, `berth_connections_closed_total{reason="address_limit"} is ${refused}`);

  // The uploads finish normally, and the address is served again.
  assert.deepEqual(await Promise.all(uploads.map((upload) => upload.finish())), [202, 202, 202]);
  await eventually('a new connection from 127.0.0.1 being served again', async () => (await ping(edge).catch(() => 0)) === 401);

  await edge.close();
  const warnings = edge.logs().filter((line) => typeof line.msg === 'string' && line.msg.startsWith('refused'));
  assert.equal(warnings.length, 2, `one line at the first refusal, one summary: ${JSON.stringify(warnings)}`);
  const [first, summary] = warnings as [Record<string, unknown>, Record<string, unknown>];
  assert.equal(first.refused, 1);
  assert.equal(summary.refused, refused - 1);
  assert.deepEqual(summary.clients, [{ address: '127.0.0.1', limit: 'address_limit', refused: refused - 1 }]);
  assert.deepEqual(summary.limits, { perAddress: 3, total: 100 });
});

test('the total cap holds across addresses and listeners, idle connections making room first', { timeout: 60_000 }, async (t) => {
  const edge = await startEdgeBerth(t, { connections: { maxConnectionsPerAddress: 100, maxConnections: 4 } });
  const port = Number(new URL(edge.url).port);
  const tlsPort = Number(new URL(String(edge.tlsUrl)).port);
  // Idle connections on both listeners, from two addresses (the TLS one counts before any handshake).
  const idle = [await openSilent(port, '127.0.3.1'), await openSilent(tlsPort, '127.0.3.2')];
  const uploads = [await beginUpload(edge, '127.0.4.1'), await beginUpload(edge, '127.0.4.2')];
  // Two more uploads take the places of the two idle connections; then every place is busy.
  uploads.push(await beginUpload(edge, '127.0.4.3'), await beginUpload(edge, '127.0.4.4'));
  await Promise.all(idle.map((connection) => connection.closed));
  await openConnections(edge, 4);
  await assert.rejects(ping(edge, '127.0.4.5'), 'a fifth connection, from a new address, is refused');
  const refusedTls = await openSilent(tlsPort, '127.0.4.6');
  await refusedTls.closed;

  assert.deepEqual(await Promise.all(uploads.map((upload) => upload.finish())), [202, 202, 202, 202]);
  await openConnections(edge, 0);
  assert.equal(await ping(edge, '127.0.4.7'), 401);
  const text = metrics(edge);
  assert.ok(closedCount(text, 'total_limit') >= 2, text);
  assert.ok(closedCount(text, 'evicted') >= 2, text);
});

test('defaults: 512 connections per address and 2048 in all; a flood of idle sockets from 127.0.0.1 does not shut out a real client', { timeout: 120_000 }, async (t) => {
  assert.equal(defaultConnectionPolicy.maxConnectionsPerAddress, 512);
  assert.equal(defaultConnectionPolicy.maxConnections, 2048);
  const readme = await readFile(fileURLToPath(new URL('../../../README.md', import.meta.url)), 'utf8');
  assert.match(readme, /512 connections from one address and 2048 in all/);

  const edge = await startEdgeBerth(t);
  const port = Number(new URL(edge.url).port);
  const flood: Silent[] = [];
  t.after(() => flood.forEach((connection) => connection.socket.destroy()));
  for (let i = 0; i < 512; i += 1) flood.push(await openSilent(port));
  // The 513th connection from 127.0.0.1 is a real client: served, and the oldest idle socket made room.
  assert.equal(await ping(edge), 401);
  await flood[0]!.closed;
  assert.equal(flood.filter((connection) => connection.isClosed()).length, 1);

  // Up to the total (511 are open): silent sockets from more addresses (512 each); the next real client is still served.
  for (let i = 0; i < 2048 - 511; i += 1) flood.push(await openSilent(port, `127.0.5.${1 + Math.floor(i / 512)}`));
  await openConnections(edge, 2048);
  assert.equal(await ping(edge, '127.0.6.1'), 401);
  const text = metrics(edge);
  assert.equal(closedCount(text, 'evicted'), 2, 'one idle socket made room for each real client');
  assert.equal(closedCount(text, 'address_limit'), 0);
  assert.equal(closedCount(text, 'total_limit'), 0);
});
