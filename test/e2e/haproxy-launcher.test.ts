import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { Agent, createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { haproxySkipReason, requireHaproxy, startHaproxy } from '../support/services/haproxy.js';
import { freePort } from '../support/net.js';

/**
 * The test launcher of haproxy itself, over plain node:http servers that say which of them answered: round-robin per
 * request even on one keep-alive connection, 401 on /v2/ counts as up and 500 as down, a backend that goes away leaves
 * the rotation (and a request racing its death is sent elsewhere), the stats count what each served, and stop()
 * leaves no process or directory behind.
 */

/** Answers of requests to /hold, in the order they came. */
const held: (() => void)[] = [];

interface Backend {
  readonly name: string;
  readonly server: Server;
  readonly address: string;
  /** Requests other than health checks (those are HTTP/1.0 without Host). */
  served: number;
}

async function startBackend(name: string, healthStatus: number): Promise<Backend> {
  const server = createServer((req, res) => {
    if (req.url === '/v2/' && req.headers.host === undefined) {
      res.writeHead(healthStatus).end();
      return;
    }
    backend.served += 1;
    if (req.url === '/hold') {
      // Answered only when the test lets go: a request in flight.
      held.push(() => res.writeHead(200, { 'content-type': 'text/plain' }).end(name));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain' }).end(name);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const backend: Backend = { name, server, address: `127.0.0.1:${(server.address() as AddressInfo).port}`, served: 0 };
  return backend;
}

function closeBackend(backend: Backend): Promise<void> {
  backend.server.closeAllConnections();
  return new Promise((resolve) => backend.server.close(() => resolve()));
}

/** GET `url` on `agent`; resolves with the body and whether the request went over an already used connection. */
function get(agent: Agent, url: string): Promise<{ status: number; body: string; reused: boolean }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, reused: req.reusedSocket }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('haproxy launcher: round-robin per request on one keep-alive connection, 401 is up, a dead backend leaves the rotation, stats count each', { skip: haproxySkipReason(), timeout: 60_000 }, async (t) => {
  requireHaproxy();
  const open = await startBackend('open', 200);
  const token = await startBackend('token', 401);
  const broken = await startBackend('broken', 500);
  t.after(() => Promise.all([open, token, broken].map(closeBackend)));
  const nothing = `127.0.0.1:${await freePort()}`;
  const proxy = await startHaproxy({ backends: [open.address, token.address, broken.address, nothing], waitForBackends: false });
  t.after(() => proxy.stop());
  t.diagnostic(`haproxy started in ${proxy.startupMs.toFixed(0)} ms`);
  assert.match(proxy.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  await proxy.waitForStatus('node0', 'UP');
  await proxy.waitForStatus('node1', 'UP');
  await proxy.waitForStatus('node2', 'DOWN');
  await proxy.waitForStatus('node3', 'DOWN');

  // One client connection, kept alive: each request is balanced on its own.
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  const answers: string[] = [];
  let reused = 0;
  for (let index = 0; index < 10; index += 1) {
    const answer = await get(agent, `${proxy.url}/work`);
    assert.equal(answer.status, 200);
    answers.push(answer.body);
    if (answer.reused) reused += 1;
  }
  assert.equal(reused, 9, 'the ten requests shared one client connection');
  assert.deepEqual(answers, ['open', 'token', 'open', 'token', 'open', 'token', 'open', 'token', 'open', 'token']);
  const stats = await proxy.stats();
  assert.deepEqual(
    stats.map((server) => [server.name, server.address, server.requests, server.current]),
    [['node0', open.address, 5, 0], ['node1', token.address, 5, 0], ['node2', broken.address, 0, 0], ['node3', nothing, 0, 0]],
    'health checks are not counted as requests',
  );
  assert.deepEqual([open.served, token.served], [5, 5]);

  // A request in flight shows as the current session of the server that has it (the next in the rotation: node0).
  const holding = get(new Agent(), `${proxy.url}/hold`);
  for (let waited = 0; held.length === 0; waited += 1) {
    assert.ok(waited < 200, 'the held request never arrived');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.deepEqual((await proxy.stats()).map((server) => server.current), [1, 0, 0, 0]);
  held.shift()?.();
  assert.equal((await holding).body, 'open');
  // haproxy lets go of the server connection just after the client has the answer.
  let current = (await proxy.stats()).map((server) => server.current);
  for (let waited = 0; current.some((count) => count > 0) && waited < 100; waited += 1) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    current = (await proxy.stats()).map((server) => server.current);
  }
  assert.deepEqual(current, [0, 0, 0, 0]);

  // The open backend goes away. A request sent before haproxy notices is redispatched, not failed...
  await closeBackend(open);
  for (let index = 0; index < 4; index += 1) assert.deepEqual((await get(agent, `${proxy.url}/work`)).body, 'token');
  // ...and the health checks take it out of the rotation.
  await proxy.waitForStatus('node0', 'DOWN', 5000);
  assert.equal(token.served, 9);
  assert.equal(open.served, 6);

  const pids = await haproxyPids(proxy.config);
  assert.ok(pids.length > 0, 'haproxy runs');
  await proxy.stop();
  assert.deepEqual(await haproxyPids(proxy.config), [], 'haproxy is gone after stop()');
  const socketDir = /stats socket (\S+)\/stats\.sock/.exec(proxy.config)?.[1] ?? '';
  assert.ok(socketDir !== '' && !existsSync(socketDir), `${socketDir} is removed`);
});

test('haproxy launcher: a backend that is not HOST:PORT is refused before anything starts', { skip: haproxySkipReason() }, async () => {
  requireHaproxy();
  await assert.rejects(startHaproxy({ backends: ['127.0.0.1:1 \n  server evil 10.0.0.1:80'] }), /not a HOST:PORT backend/);
  await assert.rejects(startHaproxy({ backends: [] }), /at least one backend/);
});

/** PIDs of processes whose command line names this config's file. */
async function haproxyPids(config: string): Promise<number[]> {
  const { readdir, readFile } = await import('node:fs/promises');
  const dir = /stats socket (\S+)\/stats\.sock/.exec(config)?.[1] ?? '/nonexistent';
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(`${dir}/haproxy.cfg`)) pids.push(Number(entry));
  }
  return pids;
}
