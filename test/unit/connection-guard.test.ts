import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { test } from 'node:test';
import { createConnectionGuard } from '../../registry/http/connection-guard.js';
import { connectionPolicyOf } from '../../registry/http/connection-policy.js';
import { silentLogger } from '../../registry/log.js';

/**
 * One guard watches every listener of a Berth. Retiring one listener ("apply and restart" moving the HTTP address)
 * closes that listener's idle connections only: a client of the other listener keeps its keep-alive connection
 * (closing them all once made a client's next request on it fail with "fetch failed").
 */

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as { port: number }).port;
}

/** A keep-alive connection that has had one request answered, so the guard counts it idle. */
async function idleConnection(port: number): Promise<Socket> {
  const socket = connect({ port, host: '127.0.0.1' });
  socket.on('error', () => undefined);
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  const answered = new Promise<void>((resolve) => socket.once('data', () => resolve()));
  socket.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n');
  await answered;
  return socket;
}

const closed = (socket: Socket): Promise<void> => (socket.destroyed ? Promise.resolve() : new Promise((resolve) => socket.once('close', () => resolve())));

test("closeIdle(server) closes that server's idle connections and leaves the other listener's open", async () => {
  const guard = createConnectionGuard({ policy: connectionPolicyOf(), log: silentLogger() });
  const [retiring, staying] = [0, 1].map(() => createServer((_req, res) => res.end('ok')));
  for (const server of [retiring!, staying!]) guard.attach(server);
  const ports = await Promise.all([listen(retiring!), listen(staying!)]);
  try {
    const [old, kept] = await Promise.all(ports.map(idleConnection));
    assert.equal(guard.open(), 2);
    guard.closeIdle(retiring!);
    await closed(old!);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(kept!.destroyed, false, "the other listener's idle connection stays open");
    assert.equal(guard.open(), 1);
    const again = new Promise<string>((resolve) => kept!.once('data', (chunk: Buffer) => resolve(chunk.toString('latin1'))));
    kept!.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.match(await again, /^HTTP\/1\.1 200 OK/, 'and it carries the next request');
    kept!.destroy();
  } finally {
    for (const server of [retiring!, staying!]) {
      server.closeAllConnections();
      server.close();
    }
  }
});
