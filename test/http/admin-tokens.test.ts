import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { verifyToken } from '../../registry/auth/access-tokens.js';
import type { AuditResponse, CreateTokenResponse, TokensResponse, TokenView } from '../../registry/admin/contract.js';
import { assertAdminError, startAdminServer, type AdminServer } from './admin-fixture.js';

let admin: AdminServer;
before(async () => {
  admin = await startAdminServer();
});
after(() => admin.close());

describe('tokens API', () => {
  it('creates a token: the secret once, a docker login line for this server, a record without hash', async () => {
    const created = await admin.api<CreateTokenResponse>('POST', '/api/tokens', { name: 'ci', scopes: ['team/*:pull,push'], expiresIn: '30d' });
    assert.equal(created.status, 201);
    const { token, record, loginCommand } = created.body;
    assert.match(token, /^berth_[A-Za-z0-9_-]{43}$/);
    assert.equal(record.name, 'ci');
    assert.equal(record.status, 'active');
    assert.deepEqual(record.scopeText, ['team/*:pull,push']);
    assert.deepEqual(record.scopes, [{ pattern: 'team/*', actions: ['pull', 'push'] }]);
    const days = (Date.parse(record.expiresAt ?? '') - Date.now()) / 86_400_000;
    assert.ok(days > 29.9 && days <= 30, `expires in 30 days, got ${days}`);
    assert.equal(loginCommand, `echo "$TOKEN" | docker login ${new URL(admin.url).host} -u ci --password-stdin`);
    assert.ok(!loginCommand.includes(token), 'the secret is not in the copied command (it would land in the shell history)');
    assert.ok(!('hash' in record));
    assert.equal(created.headers.get('cache-control'), 'no-store');
    assert.equal(verifyToken(admin.state, token).ok, true, 'the secret really is a working token');

    const listed = await admin.api<TokensResponse>('GET', '/api/tokens');
    assert.equal(listed.status, 200);
    const text = JSON.stringify(listed.body);
    assert.ok(!text.includes(token), 'the list never shows the secret');
    assert.ok(!/"hash"/.test(text), 'the list never shows hashes');
    const stored = admin.state.read().tokens.find((t) => t.name === 'ci');
    assert.ok(stored && !text.includes(stored.hash));
    assert.deepEqual(
      listed.body.tokens.map((t: TokenView) => [t.name, t.status]),
      [['ci', 'active']],
    );
  });

  it('refuses bad input in the contract error format', async () => {
    assertAdminError(await admin.api('POST', '/api/tokens', { name: 'ci', scopes: ['*:pull'] }), 409, 'BERTH_TOKEN_NAME_TAKEN');
    assertAdminError(await admin.api('POST', '/api/tokens', { name: 'has space', scopes: ['*:pull'] }), 400, 'BERTH_TOKEN_NAME_INVALID');
    assertAdminError(await admin.api('POST', '/api/tokens', { name: 'x', scopes: ['team/*:fly'] }), 400, 'BERTH_SCOPE_INVALID');
    assertAdminError(await admin.api('POST', '/api/tokens', { name: 'x', scopes: [] }), 400, 'BERTH_SCOPE_INVALID');
    assertAdminError(await admin.api('POST', '/api/tokens', { name: 'x', scopes: '*:pull' }), 400, 'BERTH_VALIDATION');
    assertAdminError(await admin.api('POST', '/api/tokens', { name: 'x', scopes: ['*:pull'], expiresIn: 'soon' }), 400, 'BERTH_EXPIRY_INVALID');
    const broken = await fetch(`${admin.url}/api/tokens`, {
      method: 'POST',
      headers: { cookie: admin.cookie, 'content-type': 'application/json' },
      body: '{"name": ',
    });
    assertAdminError({ status: broken.status, body: await broken.json() }, 400, 'BERTH_BAD_REQUEST');
  });

  it('revokes a token: it stops working at once and shows as revoked', async () => {
    const { body } = await admin.api<CreateTokenResponse>('POST', '/api/tokens', { name: 'temp', scopes: ['*:pull'] });
    assert.equal(verifyToken(admin.state, body.token).ok, true);
    const revoked = await admin.api<TokenView>('DELETE', '/api/tokens/temp');
    assert.equal(revoked.status, 200);
    assert.equal(revoked.body.status, 'revoked');
    assert.ok(revoked.body.revokedAt);
    assert.deepEqual(verifyToken(admin.state, body.token), { ok: false, reason: 'revoked', name: 'temp', id: body.record.id });
    assertAdminError(await admin.api('DELETE', '/api/tokens/temp'), 404, 'BERTH_TOKEN_NOT_FOUND');
    const again = await admin.api<CreateTokenResponse>('POST', '/api/tokens', { name: 'temp', scopes: ['*:pull'] });
    assert.equal(again.status, 201, 'the name is free again after revocation');
  });

  it('audits token changes as admin, and the secret never reaches the audit files', async () => {
    const { body } = await admin.api<CreateTokenResponse>('POST', '/api/tokens', { name: 'audited', scopes: ['*:pull'] });
    await admin.api('DELETE', '/api/tokens/audited');
    const result = await admin.api<AuditResponse>('GET', '/api/audit?action=token.*&actor=admin');
    assert.equal(result.status, 200);
    const mine = result.body.events.filter((e) => (e.detail as { name?: string } | undefined)?.name === 'audited');
    assert.deepEqual(mine.map((e) => e.action), ['token.create', 'token.revoke']);
    assert.ok(mine.every((e) => e.actor === 'admin' && e.outcome === 'success' && e.client === '127.0.0.1'));
    const dir = join(admin.dataDir, 'audit');
    for (const file of await readdir(dir)) assert.ok(!(await readFile(join(dir, file), 'utf8')).includes(body.token));
  });
});
