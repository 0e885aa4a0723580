import assert from 'node:assert/strict';
import { connect, createServer, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { ApplyListenersResponse, AuditResponse, SettingsResponse, UpdateSettingsResponse } from '../../registry/admin/contract.js';
import { startBerth, type Berth } from '../../registry/berth-server.js';
import { silentLogger } from '../../registry/log.js';
import { freePort, probe } from '../support/net.js';
import { createTempDir, removeDir } from '../support/temp-dir.js';
import { assertAdminError, signIn, startAdminServer } from './admin-fixture.js';

/**
 * `POST /api/settings/apply` on a real Berth (default token auth): a saved HTTP address is taken in place, the old
 * listener closes, an address in use is refused with the old listener still serving, and a Berth whose listeners run
 * elsewhere says it cannot.
 */

let dataDir: string;
let berth: Berth;
let cookie: string;

async function call<T>(base: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { cookie, 'x-berth-admin': '1', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : undefined) as T };
}

/** A raw keep-alive connection to `base`: ask() sends one GET on it and resolves with the status line. */
async function keepAliveConnection(base: string): Promise<{ socket: Socket; ask(path: string): Promise<string> }> {
  const { hostname, port } = new URL(base);
  const socket = connect({ host: hostname, port: Number(port) });
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  socket.on('error', () => undefined);
  return {
    socket,
    ask: (path) =>
      new Promise((resolve, reject) => {
        let text = '';
        const onData = (chunk: Buffer): void => {
          text += chunk.toString('latin1');
          const headerEnd = text.indexOf('\r\n\r\n');
          const length = /content-length: (\d+)/i.exec(text);
          if (headerEnd >= 0 && length && text.length >= headerEnd + 4 + Number(length[1])) {
            socket.off('data', onData).off('close', onClose);
            resolve(text.slice(0, text.indexOf('\r\n')));
          }
        };
        const onClose = (): void => reject(new Error(`the connection closed before answering ${path}`));
        socket.on('data', onData).once('close', onClose);
        socket.write(`GET ${path} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nConnection: keep-alive\r\n\r\n`);
      }),
  };
}

before(async () => {
  dataDir = await createTempDir('berth-settings-apply-');
  berth = await startBerth({ dataDir, logger: silentLogger(), auth: 'token', listen: '127.0.0.1:0', tlsListen: '127.0.0.1:0' });
  cookie = await signIn(berth.urls.http ?? assert.fail('no HTTP listener'), dataDir);
});

after(async () => {
  await berth?.close();
  if (dataDir) await removeDir(dataDir);
});

describe('apply and restart', () => {
  it('moves the HTTP listener to its saved address without stopping Berth, and audits it', async () => {
    const old = berth.urls.http as string;
    const httpsBefore = berth.urls.https;
    const port = await freePort();
    const saved = await call<UpdateSettingsResponse>(old, 'PATCH', '/api/settings', { listen: `127.0.0.1:${port}` });
    assert.deepEqual([saved.body.restartRequired, saved.body.pending], [true, ['listen']]);
    const applied = await call<ApplyListenersResponse>(old, 'POST', '/api/settings/apply');
    assert.equal(applied.status, 200, JSON.stringify(applied.body));
    const next = `http://127.0.0.1:${port}`;
    assert.deepEqual(applied.body.moved, [{ listener: 'http', from: old, to: next }]);
    assert.equal(applied.body.running.https, httpsBefore, 'the HTTPS listener, whose address was not saved, stays');
    const settings = await call<SettingsResponse>(next, 'GET', '/api/settings');
    assert.equal(settings.body.running.http, next);
    // A client of the new listener keeps its idle keep-alive connection while the old listener shuts down (closing
    // the old one once swept every listener's idle connections, and a client reusing one got "fetch failed").
    const client = await keepAliveConnection(next);
    assert.equal(await client.ask('/v2/'), 'HTTP/1.1 401 Unauthorized');
    await assert.rejects(async () => {
      for (const deadline = Date.now() + 15_000; Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 50))) await probe(old);
    }, /ECONNREFUSED/, 'the old listener closes');
    await new Promise((resolve) => setTimeout(resolve, 100)); // a few rounds of the old listener's idle sweep
    assert.equal(client.socket.destroyed, false, 'the new listener\'s idle connection stays open');
    assert.equal(await client.ask('/v2/'), 'HTTP/1.1 401 Unauthorized', 'and carries the next request');
    client.socket.destroy();
    const audit = await call<AuditResponse>(next, 'GET', '/api/audit?action=settings.apply');
    assert.deepEqual(audit.body.events.map((event) => event.detail), [{ moved: [{ listener: 'http', from: old, to: next }] }]);
    // Nothing left to move.
    assert.deepEqual((await call<ApplyListenersResponse>(next, 'POST', '/api/settings/apply')).body.moved, []);
  });

  it('refuses an address in use with 409 BERTH_LISTENER_APPLY_FAILED, and keeps serving where it is', async () => {
    const current = berth.urls.http as string;
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as { port: number }).port;
    try {
      await call(current, 'PATCH', '/api/settings', { listen: `127.0.0.1:${port}` });
      const refused = assertAdminError(await call(current, 'POST', '/api/settings/apply'), 409, 'BERTH_LISTENER_APPLY_FAILED');
      assert.equal(refused.error.message, `127.0.0.1:${port} is in use by another program: Berth keeps listening on ${current}`);
      assert.equal((await call<SettingsResponse>(current, 'GET', '/api/settings')).body.running.http, current);
    } finally {
      taken.close();
    }
  });

  it('answers 503 BERTH_RESTART_UNAVAILABLE where the listeners are not this process\'s own', async () => {
    const admin = await startAdminServer();
    try {
      assertAdminError(await admin.api('POST', '/api/settings/apply'), 503, 'BERTH_RESTART_UNAVAILABLE');
    } finally {
      await admin.close();
    }
  });
});

describe('maintenance settings', () => {
  it('validates, saves and applies garbage collection, audit retention and the default tag TTL without a restart', async () => {
    const base = berth.urls.http as string;
    for (const [field, value] of [['gcEveryHours', 721], ['gcGraceMinutes', 0], ['defaultTagTtlSeconds', -1], ['gcGraceMinutes', 1.5], ['auditRetentionDays', 'long']] as const) {
      const refused = assertAdminError(await call(base, 'PATCH', '/api/settings', { [field]: value }), 400, 'BERTH_VALIDATION');
      assert.match(refused.error.message, new RegExp(`"${field}" must be a whole number`));
    }
    const defaults = (await call<SettingsResponse>(base, 'GET', '/api/settings')).body;
    assert.deepEqual([defaults.gcEveryHours, defaults.gcGraceMinutes, defaults.auditRetentionDays, defaults.defaultTagTtlSeconds], [24, 60, 365, 300]);

    const saved = await call<UpdateSettingsResponse>(base, 'PATCH', '/api/settings', { gcEveryHours: 0, gcGraceMinutes: 5, auditRetentionDays: 30, defaultTagTtlSeconds: 60 });
    assert.equal(saved.status, 200);
    assert.equal(saved.body.restartRequired, false, 'none of them waits for a restart');
    assert.deepEqual(
      [saved.body.settings.gcEveryHours, saved.body.settings.gcGraceMinutes, saved.body.settings.auditRetentionDays, saved.body.settings.defaultTagTtlSeconds],
      [0, 5, 30, 60],
    );
    // Applied at once: the collection waits 5 minutes, a new upstream gets the 60 s TTL.
    const gc = await call<{ graceMs: number }>(base, 'POST', '/api/storage/gc', { dryRun: true });
    assert.equal(gc.body.graceMs, 5 * 60_000);
    const upstream = await call<{ tagTtlSeconds: number }>(base, 'POST', '/api/upstreams', { name: 'later', url: 'https://registry.example.com' });
    assert.equal(upstream.status, 201);
    assert.equal(upstream.body.tagTtlSeconds, 60);
    const own = await call<{ tagTtlSeconds: number }>(base, 'POST', '/api/upstreams', { name: 'own', url: 'https://other.example.com', tagTtlSeconds: 900 });
    assert.equal(own.body.tagTtlSeconds, 900, 'an upstream given its own TTL keeps it');
    // Persisted: in the state file, as the next start reads it.
    const file = berth.state.read().settings;
    assert.deepEqual([file.gcEveryHours, file.gcGraceMinutes, file.auditRetentionDays, file.defaultTagTtlSeconds], [0, 5, 30, 60]);
  });
});

