import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import type {
  AuditResponse,
  JobView,
  JobsResponse,
  MirrorControl,
  MirrorEvent,
  Namespace,
  NamespacesResponse,
  SettingsResponse,
  SyncRuleView,
  TrustResponse,
  UpdateSettingsResponse,
  UpstreamView,
  UpstreamsResponse,
} from '../../registry/admin/contract.js';
import { assertAdminError, startAdminServer, type AdminServer } from './admin-fixture.js';

let admin: AdminServer;
before(async () => {
  admin = await startAdminServer();
});
after(() => admin.close());

describe('namespaces API', () => {
  it('creates, lists, changes and deletes a namespace, auditing each change', async () => {
    const created = await admin.api<Namespace>('POST', '/api/namespaces', { name: 'team', anonymousPull: true });
    assert.equal(created.status, 201);
    assert.equal(created.body.name, 'team');
    assert.equal(created.body.anonymousPull, true);
    assert.equal(created.body.repositories, 0);
    assertAdminError(await admin.api('POST', '/api/namespaces', { name: 'team' }), 409, 'BERTH_NAMESPACE_EXISTS');
    assertAdminError(await admin.api('POST', '/api/namespaces', { name: 'a/b' }), 400, 'BERTH_VALIDATION');
    assertAdminError(await admin.api('POST', '/api/namespaces', { name: 'Upper' }), 400, 'BERTH_VALIDATION');
    assertAdminError(await admin.api('POST', '/api/namespaces', { name: 'ok', anonymousPull: 'yes' }), 400, 'BERTH_VALIDATION');

    const changed = await admin.api<Namespace>('PATCH', '/api/namespaces/team', { anonymousPull: false });
    assert.equal(changed.status, 200);
    assert.equal(changed.body.anonymousPull, false);
    assert.equal(admin.state.read().namespaces.find((ns) => ns.name === 'team')?.anonymousPull, false);
    const listed = await admin.api<NamespacesResponse>('GET', '/api/namespaces');
    assert.deepEqual(listed.body.namespaces.map((ns) => [ns.name, ns.anonymousPull]), [['team', false]]);

    assert.equal((await admin.api('DELETE', '/api/namespaces/team')).status, 204);
    assertAdminError(await admin.api('DELETE', '/api/namespaces/team'), 404, 'BERTH_NAMESPACE_NOT_FOUND');
    assertAdminError(await admin.api('PATCH', '/api/namespaces/team', { anonymousPull: true }), 404, 'BERTH_NAMESPACE_NOT_FOUND');

    const audit = await admin.api<AuditResponse>('GET', '/api/audit?action=namespace.*&namespace=team');
    assert.deepEqual(audit.body.events.map((e) => e.action), ['namespace.create', 'namespace.update', 'namespace.delete']);
    assert.equal(audit.body.total, 3);
    const page = await admin.api<AuditResponse>('GET', '/api/audit?action=namespace.*&namespace=team&limit=1&offset=1');
    assert.deepEqual(page.body.events.map((e) => e.action), ['namespace.update']);
    assertAdminError(await admin.api('GET', '/api/audit?since=yesterday-ish'), 400, 'BERTH_VALIDATION');
    assertAdminError(await admin.api('GET', '/api/audit?limit=0'), 400, 'BERTH_VALIDATION');
  });
});

describe('audit export', () => {
  it('streams every matching event as an NDJSON attachment', async () => {
    for (const name of ['exp-a', 'exp-b', 'exp-c']) await admin.api('POST', '/api/namespaces', { name });
    const response = await fetch(`${admin.url}/api/audit/export?action=namespace.create&since=1h`, { headers: { cookie: admin.cookie } });
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^application\/x-ndjson/);
    assert.match(response.headers.get('content-disposition') ?? '', /^attachment; filename="berth-audit-\d{4}-\d{2}-\d{2}\.jsonl"$/);
    const lines = (await response.text()).trimEnd().split('\n');
    const events = lines.map((line) => JSON.parse(line) as { action: string; namespace: string });
    assert.ok(events.every((e) => e.action === 'namespace.create'));
    assert.deepEqual(events.map((e) => e.namespace).filter((ns) => ns.startsWith('exp-')), ['exp-a', 'exp-b', 'exp-c']);
    const none = await fetch(`${admin.url}/api/audit/export?actor=nobody`, { headers: { cookie: admin.cookie } });
    assert.equal(await none.text(), '');
  });
});

describe('settings API', () => {
  it('shows defaults and the read-only data directory', async () => {
    const settings = await admin.api<SettingsResponse>('GET', '/api/settings');
    assert.deepEqual(settings.body, {
      listen: '127.0.0.1:5000',
      tlsListen: '127.0.0.1:5443',
      tlsNames: [],
      exposeOnNetwork: false,
      auditRetentionDays: 365,
      gcEveryHours: 24,
      gcGraceMinutes: 60,
      defaultTagTtlSeconds: 300,
      dataDir: admin.dataDir,
      storageBackend: `filesystem ${admin.dataDir}`,
      running: { http: admin.url },
    });
  });

  it('refuses invalid and unsafe values in the contract error format, saving nothing', async () => {
    const before = JSON.stringify(admin.state.read().settings);
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ listen: 'localhost' }, /HOST:PORT/],
      [{ listen: '127.0.0.1:99999' }, /HOST:PORT/],
      [{ listen: '0.0.0.0:5000' }, /loopback/],
      [{ listen: '0.0.0.0:5000', exposeOnNetwork: true }, /loopback/],
      [{ tlsListen: '0.0.0.0:5443' }, /other machines/],
      [{ tlsNames: ['bad name!'] }, /tlsNames/],
      [{ tlsNames: 'berth.lan' }, /array/],
      [{ dataDir: '/tmp/elsewhere' }, /not a setting/],
      [{ storageBackend: 's3://elsewhere' }, /not a setting/],
    ];
    for (const [body, message] of cases) {
      const result = assertAdminError(await admin.api('PATCH', '/api/settings', body), 400, 'BERTH_VALIDATION');
      assert.match(result.error.message, message, JSON.stringify(body));
    }
    assert.equal(JSON.stringify(admin.state.read().settings), before);
  });

  it('saves valid changes and says which ones wait for a restart', async () => {
    const names = await admin.api<UpdateSettingsResponse>('PATCH', '/api/settings', { tlsNames: ['Berth.LAN', '10.0.0.7'] });
    assert.equal(names.status, 200);
    assert.deepEqual(names.body.settings.tlsNames, ['berth.lan', '10.0.0.7']);
    assert.equal(names.body.restartRequired, false);
    const moved = await admin.api<UpdateSettingsResponse>('PATCH', '/api/settings', { tlsListen: '0.0.0.0:6443', exposeOnNetwork: true, listen: '127.0.0.1:6000' });
    assert.equal(moved.status, 200);
    assert.equal(moved.body.restartRequired, true);
    assert.deepEqual(moved.body.pending, ['listen', 'tlsListen']);
    const saved = JSON.parse(await readFile(admin.state.path, 'utf8')) as { settings: Record<string, unknown> };
    assert.equal(saved.settings.tlsListen, '0.0.0.0:6443');
    assert.equal(saved.settings.listen, '127.0.0.1:6000');
    assert.equal(saved.settings.exposeOnNetwork, true);
    // Turning exposure off while HTTPS is on a network address would leave a contradiction: refused.
    assertAdminError(await admin.api('PATCH', '/api/settings', { exposeOnNetwork: false }), 400, 'BERTH_VALIDATION');
    const back = await admin.api<UpdateSettingsResponse>('PATCH', '/api/settings', { exposeOnNetwork: false, tlsListen: '127.0.0.1:5443' });
    assert.equal(back.status, 200);
    assert.equal(back.body.settings.exposeOnNetwork, false);
  });
});

describe('upstreams and sync rules API', () => {
  it('never returns or stores an upstream password in clear', async () => {
    const secret = 'hunter2-very-secret';
    const created = await admin.api<UpstreamView>('POST', '/api/upstreams', {
      name: 'hub',
      url: 'https://registry-1.docker.io/',
      aliases: ['docker.io'],
      isDefault: true,
      username: 'me',
      password: secret,
    });
    assert.equal(created.status, 201);
    assert.equal(created.body.url, 'https://registry-1.docker.io');
    assert.equal(created.body.hasPassword, true);
    assert.equal(created.body.username, 'me');
    assert.equal(created.body.tagTtlSeconds, 300);
    const listed = await admin.api<UpstreamsResponse>('GET', '/api/upstreams');
    for (const text of [JSON.stringify(created.body), JSON.stringify(listed.body), await readFile(admin.state.path, 'utf8')]) {
      assert.ok(!text.includes(secret), 'the password never appears in clear');
    }
    assert.ok(!JSON.stringify(listed.body).includes('passwordSealed'));
    const stored = admin.state.read().upstreams.find((u) => u.name === 'hub');
    assert.match(stored?.passwordSealed ?? '', /^v1:/, 'stored through sealSecret');

    const second = await admin.api<UpstreamView>('POST', '/api/upstreams', { name: 'ghcr', url: 'https://ghcr.io', isDefault: true });
    assert.equal(second.body.isDefault, true);
    assert.equal(admin.state.read().upstreams.find((u) => u.name === 'hub')?.isDefault, false, 'only one default upstream');

    const cleared = await admin.api<UpstreamView>('PATCH', '/api/upstreams/hub', { username: null, password: null });
    assert.equal(cleared.status, 200);
    assert.equal(cleared.body.hasPassword, false);
    assert.equal(cleared.body.username, undefined);
  });

  it('validates upstreams with the mirror rules', async () => {
    assertAdminError(await admin.api('POST', '/api/upstreams', { name: 'hub', url: 'https://x.example' }), 409, 'BERTH_UPSTREAM_EXISTS');
    assertAdminError(await admin.api('POST', '/api/upstreams', { name: 'evil', url: 'https://x.example', insecure: true }), 400, 'BERTH_UPSTREAM_CONFIG_INVALID');
    assertAdminError(await admin.api('POST', '/api/upstreams', { name: 'plain', url: 'http://x.example', username: 'u', password: 'p' }), 400, 'BERTH_UPSTREAM_CONFIG_INVALID');
    assertAdminError(await admin.api('POST', '/api/upstreams', { name: 'half', url: 'https://x.example', username: 'u' }), 400, 'BERTH_UPSTREAM_CONFIG_INVALID');
    assertAdminError(await admin.api('POST', '/api/upstreams', { name: 'notaurl', url: 'ftp://x' }), 400, 'BERTH_UPSTREAM_CONFIG_INVALID');
    assertAdminError(await admin.api('POST', '/api/upstreams', { name: 'Bad/Name', url: 'https://x.example' }), 400, 'BERTH_VALIDATION');
    assertAdminError(await admin.api('PATCH', '/api/upstreams/nope', { url: 'https://x.example' }), 404, 'BERTH_UPSTREAM_NOT_FOUND');
    assert.equal(admin.state.read().upstreams.some((u) => ['evil', 'plain', 'half'].includes(u.name)), false);
  });

  it('manages sync rules and refuses to delete an upstream a rule uses', async () => {
    assertAdminError(await admin.api('POST', '/api/sync-rules', { name: 'r', upstream: 'nope', repositories: ['library/redis'] }), 404, 'BERTH_UPSTREAM_NOT_FOUND');
    assertAdminError(await admin.api('POST', '/api/sync-rules', { name: 'r', upstream: 'hub', repositories: [] }), 400, 'BERTH_VALIDATION');
    assertAdminError(await admin.api('POST', '/api/sync-rules', { name: 'r', upstream: 'hub', repositories: ['x'], tags: { include: '(' } }), 400, 'BERTH_VALIDATION');
    assertAdminError(await admin.api('POST', '/api/sync-rules', { name: 'r', upstream: 'hub', repositories: ['x'], everySeconds: 5 }), 400, 'BERTH_VALIDATION');
    assertAdminError(await admin.api('POST', '/api/sync-rules', { name: 'r', upstream: 'hub', repositories: ['x'], platforms: ['amd64'] }), 400, 'BERTH_VALIDATION');
    const created = await admin.api<SyncRuleView>('POST', '/api/sync-rules', {
      name: 'redis',
      upstream: 'hub',
      repositories: ['library/redis', 'bitnami/*'],
      tags: { include: '^7\\.', newest: 3 },
      platforms: ['linux/amd64', 'linux/arm64/v8'],
      everySeconds: 3600,
    });
    assert.equal(created.status, 201);
    assert.equal(created.body.into, 'hub');
    assert.deepEqual(created.body.tags, { include: '^7\\.', newest: 3 });
    const paused = await admin.api<SyncRuleView>('PATCH', '/api/sync-rules/redis', { paused: true, everySeconds: null });
    assert.equal(paused.body.paused, true);
    assert.equal(paused.body.everySeconds, null);
    assertAdminError(await admin.api('DELETE', '/api/upstreams/hub'), 409, 'BERTH_UPSTREAM_IN_USE');
    assertAdminError(await admin.api('POST', '/api/sync-rules/redis/run'), 503, 'BERTH_MIRROR_UNAVAILABLE');
    assertAdminError(await admin.api('POST', '/api/upstreams/hub/test'), 503, 'BERTH_MIRROR_UNAVAILABLE');
    assert.equal((await admin.api('DELETE', '/api/sync-rules/redis')).status, 204);
    assert.equal((await admin.api('DELETE', '/api/upstreams/hub')).status, 204);
    assertAdminError(await admin.api('DELETE', '/api/sync-rules/redis'), 404, 'BERTH_SYNC_RULE_NOT_FOUND');
  });
});

describe('TLS helpers', () => {
  it('answers 404 BERTH_CA_NOT_FOUND before a CA exists, and trust instructions for the HTTPS address', async () => {
    assertAdminError(await admin.api('GET', '/api/ca.crt'), 404, 'BERTH_CA_NOT_FOUND');
    const trust = await admin.api<TrustResponse>('GET', '/api/trust');
    assert.equal(trust.status, 200);
    assert.equal(trust.body.hostPort, '127.0.0.1:5443');
    assert.ok(trust.body.sections.some((s) => s.target === 'docker' && s.commands.some((c) => c.includes('127.0.0.1:5443'))));
  });
});

describe('with a mirror service', () => {
  it('tests upstreams, runs rules, shows health and streams job progress', async (t) => {
    const listeners = new Set<(event: MirrorEvent) => void>();
    const job: JobView = {
      id: 'job-1', rule: 'nightly', status: 'running', queuedAt: new Date().toISOString(), startedAt: null, finishedAt: null,
      images: { done: 0, total: 1 }, blobs: { done: 0, total: 2 }, bytes: { done: 0, total: 10 }, errors: [], retryOf: null,
    };
    const mirror: MirrorControl = {
      async testUpstream(name) {
        return { ok: name === 'up', message: name === 'up' ? 'reachable' : 'connection refused', latencyMs: 3 };
      },
      async runSyncRule() {
        setTimeout(() => {
          for (const listener of listeners) listener({ type: 'job.progress', job });
          for (const listener of listeners) listener({ type: 'job.finished', job: { ...job, status: 'succeeded' } });
        }, 50);
        return { jobId: job.id };
      },
      upstreamHealth: () => ({ up: { online: false, lastError: 'timeout' } }),
      subscribe(listener) {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
    };
    const withMirror = await startAdminServer({ mirror });
    t.after(() => withMirror.close());
    await withMirror.api('POST', '/api/upstreams', { name: 'up', url: 'http://127.0.0.1:1' });
    await withMirror.api('POST', '/api/sync-rules', { name: 'nightly', upstream: 'up', repositories: ['library/alpine'] });
    const tested = await withMirror.api<{ ok: boolean; message: string; latencyMs: number }>('POST', '/api/upstreams/up/test');
    assert.deepEqual(tested.body, { ok: true, message: 'reachable', latencyMs: 3 });
    const listed = await withMirror.api<UpstreamsResponse>('GET', '/api/upstreams');
    assert.deepEqual(listed.body.upstreams[0]?.health, { online: false, lastError: 'timeout' });
    const overview = await withMirror.api<{ upstreams: { total: number; online: number; offline: number } }>('GET', '/api/overview');
    assert.deepEqual(overview.body.upstreams, { total: 1, online: 0, offline: 1 });

    const controller = new AbortController();
    t.after(() => controller.abort());
    const stream = await fetch(`${withMirror.url}/api/events`, { headers: { cookie: withMirror.cookie }, signal: controller.signal });
    const reader = (stream.body as ReadableStream<Uint8Array>).getReader();
    assert.equal(listeners.size, 1, 'subscribed to the mirror while a client listens');
    const run = await withMirror.api<{ jobId: string }>('POST', '/api/sync-rules/nightly/run');
    assert.equal(run.status, 202);
    assert.deepEqual(run.body, { jobId: 'job-1' });
    let text = '';
    const deadline = Date.now() + 5_000;
    while (!text.includes('"job.finished"') && Date.now() < deadline) {
      const chunk = await reader.read();
      if (chunk.done) break;
      text += new TextDecoder().decode(chunk.value);
    }
    assert.match(text, /"type":"job.progress"/);
    assert.match(text, /"type":"job.finished".*"status":"succeeded"/);
    controller.abort();
    const until = Date.now() + 2_000;
    while (listeners.size > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    assert.equal(listeners.size, 0, 'unsubscribed from the mirror when the last client left');

    const jobs = await withMirror.api<JobsResponse>('GET', '/api/jobs?limit=5');
    assert.equal(jobs.status, 200);
    assert.deepEqual(jobs.body.jobs, []);
  });
});
