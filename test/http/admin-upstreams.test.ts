import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { AuditResponse, NamespacesResponse, UpstreamsResponse, UpstreamView } from '../../registry/admin/contract.js';
import { makeImage } from '../support/oci-client.js';
import { assertAdminError, startAdminServer, type AdminServer } from './admin-fixture.js';

/**
 * `POST/PATCH /api/upstreams` follow the same rules as `berth upstream add` (one shared implementation): a new
 * upstream's namespace allows anonymous pulls only as chosen or by the default (no credentials, loopback only), an
 * existing namespace keeps its setting, hosts route to one upstream only, and a namespace that holds pushed images is
 * not silently turned into a read-only mirror.
 */

let admin: AdminServer;
before(async () => {
  admin = await startAdminServer();
});
after(() => admin.close());

describe('upstreams API, with the CLI rules', () => {
  it('creates the namespace of a new upstream as the anonymous-pull rule says, shows it, and audits both changes', async () => {
    const created = await admin.api<UpstreamView>('POST', '/api/upstreams', { name: 'hub', url: 'https://registry-1.docker.io', aliases: ['docker.io'] });
    assert.equal(created.status, 201);

    const namespaces = await admin.api<NamespacesResponse>('GET', '/api/namespaces');
    assert.deepEqual(
      namespaces.body.namespaces.map((ns) => [ns.name, ns.anonymousPull]),
      [['hub', true]],
      'no credentials on a loopback-only Berth: open, which is what dockerd (no usable credentials for mirrors) needs',
    );
    assert.equal(created.body.anonymousPull, true, 'the answer says so');
    const listed = await admin.api<UpstreamsResponse>('GET', '/api/upstreams');
    assert.equal(listed.body.loopbackOnly, true);
    assert.deepEqual(listed.body.upstreams.map((u) => [u.name, u.anonymousPull]), [['hub', true]]);
    const audit = await admin.api<AuditResponse>('GET', '/api/audit?namespace=hub');
    assert.deepEqual(audit.body.events.map((e) => e.action).sort(), ['namespace.create', 'upstream.create']);

    // With credentials the namespace is private unless the request says otherwise.
    const work = await admin.api<UpstreamView>('POST', '/api/upstreams', { name: 'work', url: 'https://work.example', username: 'me', password: 'pw' });
    assert.equal(work.body.anonymousPull, false);
    const chosen = await admin.api<UpstreamView>('POST', '/api/upstreams', { name: 'shared', url: 'https://s.example', username: 'me', password: 'pw', anonymousPull: true });
    assert.equal(chosen.body.anonymousPull, true);
    assertAdminError(await admin.api('POST', '/api/upstreams', { name: 'x', url: 'https://x.example', anonymousPull: 'yes' }), 400, 'BERTH_VALIDATION');

    // A namespace that exists privately (and is empty) keeps its setting and is not duplicated.
    assert.equal((await admin.api('POST', '/api/namespaces', { name: 'quay', anonymousPull: false })).status, 201);
    const quayUpstream = await admin.api<UpstreamView>('POST', '/api/upstreams', { name: 'quay', url: 'https://quay.io' });
    assert.equal(quayUpstream.status, 201);
    assert.equal(quayUpstream.body.anonymousPull, false);
    const quay = admin.state.read().namespaces.filter((ns) => ns.name === 'quay');
    assert.deepEqual(quay.map((ns) => ns.anonymousPull), [false]);

    // Only an explicit change opens it; new credentials do not touch it.
    const patched = await admin.api<UpstreamView>('PATCH', '/api/upstreams/quay', { username: 'bot', password: 'pw' });
    assert.equal(patched.body.anonymousPull, false);
    const opened = await admin.api<UpstreamView>('PATCH', '/api/upstreams/quay', { anonymousPull: true });
    assert.equal(opened.body.anonymousPull, true);
    assert.equal(admin.state.read().namespaces.find((ns) => ns.name === 'quay')?.anonymousPull, true);
  });

  it('refuses, with 409, a host that already routes to another upstream', async () => {
    const byAlias = assertAdminError(
      await admin.api('POST', '/api/upstreams', { name: 'other', url: 'https://mirror.gcr.io', aliases: ['docker.io'] }),
      409,
      'BERTH_UPSTREAM_HOST_TAKEN',
    );
    assert.match(byAlias.error.message, /host "docker\.io" already routes to upstream "hub"/);
    assert.ok(byAlias.error.hint, 'says what to do');
    assertAdminError(await admin.api('POST', '/api/upstreams', { name: 'other', url: 'https://Registry-1.docker.io/' }), 409, 'BERTH_UPSTREAM_HOST_TAKEN');
    assert.equal(admin.state.read().upstreams.some((u) => u.name === 'other'), false);
    assert.equal(admin.state.read().namespaces.some((ns) => ns.name === 'other'), false, 'no namespace left behind');

    // The same rule on a change.
    assertAdminError(await admin.api('PATCH', '/api/upstreams/quay', { aliases: ['docker.io'] }), 409, 'BERTH_UPSTREAM_HOST_TAKEN');
    assert.deepEqual(admin.state.read().upstreams.find((u) => u.name === 'quay')?.aliases, []);
  });

  it('refuses a namespace that holds pushed images unless the request adopts it', async () => {
    // As Berth's first push does: the pushed namespace has a private record.
    assert.equal((await admin.api('POST', '/api/namespaces', { name: 'team', anonymousPull: false })).status, 201);
    await makeImage(admin.url, 'team/app', { tag: '1' });
    const refused = assertAdminError(await admin.api('POST', '/api/upstreams', { name: 'team', url: 'https://r.example' }), 409, 'BERTH_NAMESPACE_HAS_CONTENT');
    assert.match(refused.error.message, /namespace "team" already holds 1 local repository/);
    assert.match(refused.error.hint ?? '', /adopt/);
    assert.equal(admin.state.read().upstreams.some((u) => u.name === 'team'), false);

    const adopted = await admin.api<UpstreamView>('POST', '/api/upstreams', { name: 'team', url: 'https://r.example', adopt: true });
    assert.equal(adopted.status, 201);
    assert.equal(adopted.body.anonymousPull, false);
    assert.equal(admin.state.read().namespaces.find((ns) => ns.name === 'team')?.anonymousPull, false, 'the pushed namespace stays private');
  });

  it('answers bad values with 400 and the shared codes', async () => {
    assertAdminError(await admin.api('POST', '/api/upstreams', { name: 'x', url: 'https://r.example', tagTtlSeconds: 30 * 24 * 3600 }), 400, 'BERTH_UPSTREAM_CONFIG_INVALID');
    assertAdminError(await admin.api('POST', '/api/upstreams', { name: 'x', url: 'https://r.example', tagTtlSeconds: '5m' }), 400, 'BERTH_VALIDATION');
    assertAdminError(await admin.api('POST', '/api/upstreams', { name: 'x', url: 'https://r.example', caPem: 'hello' }), 400, 'BERTH_UPSTREAM_CONFIG_INVALID');
    assertAdminError(await admin.api('POST', '/api/upstreams', { name: 'x', url: 'https://r.example', aliases: ['a b'] }), 400, 'BERTH_UPSTREAM_CONFIG_INVALID');
    assertAdminError(await admin.api('DELETE', '/api/upstreams/nope'), 404, 'BERTH_UPSTREAM_NOT_FOUND');
    assert.equal(admin.state.read().upstreams.some((u) => u.name === 'x'), false);
  });
});
