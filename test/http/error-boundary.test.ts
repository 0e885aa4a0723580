import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { RegistryError } from '../../registry/core/errors.js';
import { createLogger, createRegistry } from '../../registry/index.js';
import type { Mount } from '../../registry/http/request-router.js';
import { rawHttpExchange, type RawOutcome } from '../support/raw-http.js';
import { makeTempDir } from '../support/temp-dir.js';

interface LogEntry {
  level: number;
  msg: string;
  err?: { message?: string; stack?: string };
}

const errorLevel = 50;

/** Mounts that fail in each way a handler can: the router must answer (or cut) every one and stay up. */
const failingMounts: Mount[] = [
  {
    prefix: '/sync-throw',
    handle: () => {
      throw new Error('boom: thrown synchronously');
    },
  },
  {
    prefix: '/async-reject',
    handle: async () => {
      await Promise.resolve();
      throw new Error('boom: rejected');
    },
  },
  {
    prefix: '/client-mistake',
    handle: () => {
      throw new RegistryError('NAME_UNKNOWN', 'no such thing', { status: 404 });
    },
  },
  {
    prefix: '/after-headers',
    handle: (_req, res) => {
      res.writeHead(200, { 'Content-Length': 100 });
      res.write('only ten b');
      throw new Error('boom: failed mid-body');
    },
  },
  {
    prefix: '/write-after-end',
    handle: (_req, res: ServerResponse) => {
      res.writeHead(204);
      res.end();
      // A handler bug: without a listener this emits an 'error' nobody hears, which would end the process.
      res.write('late');
    },
  },
];

async function startWithFailingMounts(t: Parameters<typeof makeTempDir>[0]) {
  const entries: LogEntry[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) entries.push(JSON.parse(line) as LogEntry);
      callback();
    },
  });
  const registry = await createRegistry({ dataDir: await makeTempDir(t, 'berth-boundary-'), logger: createLogger({ level: 'info', destination }), mounts: failingMounts });
  t.after(() => registry.close(200));
  const { port } = await registry.listen({ host: '127.0.0.1', port: 0 });
  const send = (head: string): Promise<RawOutcome> => rawHttpExchange('127.0.0.1', port, `${head}\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`);
  return { entries, send };
}

function statusOf(outcome: RawOutcome): number | string {
  return outcome.kind === 'answered' ? outcome.status : outcome.kind;
}

test('a handler that throws, rejects or fails mid-body gets an answer, never ends the process', async (t) => {
  const { entries, send } = await startWithFailingMounts(t);

  assert.equal(statusOf(await send('GET /sync-throw HTTP/1.1')), 500);
  assert.equal(statusOf(await send('GET /async-reject HTTP/1.1')), 500);
  assert.equal(statusOf(await send('GET /client-mistake HTTP/1.1')), 404);
  // Headers went out: the only honest thing left is to cut the connection (a short body would look complete).
  const cut = await send('GET /after-headers HTTP/1.1');
  assert.equal(statusOf(cut), 200);
  assert.equal(statusOf(await send('GET /write-after-end HTTP/1.1')), 204);

  // Still serving, after all of it.
  assert.equal(statusOf(await send('GET /v2/ HTTP/1.1')), 200);

  // Internal faults are logged at error level with their stack; the client's mistake is not an error.
  const errors = entries.filter((entry) => entry.level >= errorLevel);
  for (const message of ['boom: thrown synchronously', 'boom: rejected', 'boom: failed mid-body']) {
    const entry = errors.find((e) => e.err?.message === message);
    assert.ok(entry, `an error-level line for "${message}"; got ${JSON.stringify(errors.map((e) => e.msg))}`);
    assert.match(entry.err?.stack ?? '', /error-boundary\.test\.js/, 'with the stack that says where');
  }
  assert.equal(errors.filter((e) => /no such thing/.test(JSON.stringify(e))).length, 0, 'a 404 is not logged as an error');
});

test('request targets that are not a path: absolute-form is served, OPTIONS * is answered, others are 400', async (t) => {
  const { send } = await startWithFailingMounts(t);
  // RFC 9112 §3.2.2: a server must accept the absolute form, and its authority replaces Host.
  const absolute = await send('GET http://127.0.0.1:1/v2/ HTTP/1.1');
  assert.equal(statusOf(absolute), 200);
  assert.match(absolute.kind === 'answered' ? absolute.head : '', /docker-distribution-api-version: registry\/2\.0/i);
  assert.equal(statusOf(await send('GET HTTP://127.0.0.1:1/sync-throw?x=1 HTTP/1.1')), 500, 'routed by its path, like any request');

  const ping = await send('OPTIONS * HTTP/1.1');
  assert.equal(statusOf(ping), 204);
  assert.match(ping.kind === 'answered' ? ping.head : '', /allow: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS/i);

  assert.equal(statusOf(await send('GET * HTTP/1.1')), 400);
  assert.equal(statusOf(await send('GET ftp://127.0.0.1/v2/ HTTP/1.1')), 400);
  assert.equal(statusOf(await send('GET /v2/ HTTP/1.1')), 200, 'and the server is still up');
});
