import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import {
  allowedActions,
  AuthError,
  createToken,
  hashToken,
  listTokens,
  parseScope,
  revokeToken,
  tokenStatus,
  verifyToken,
} from '../../registry/auth/index.js';
import { createStateStore, type StateStore } from '../../registry/state/index.js';
import { makeTempDir, type AfterHook } from '../support/temp-dir.js';

async function openStore(t: AfterHook, dir?: string): Promise<StateStore> {
  const store = await createStateStore(dir ?? (await makeTempDir(t)));
  t.after(() => store.close());
  return store;
}

function codeOf(error: unknown): string | undefined {
  return error instanceof AuthError ? error.code : undefined;
}

test('parses CLI scopes: namespace wildcard, exact repository, everything, all actions', () => {
  assert.deepEqual(parseScope('team/*:pull,push'), { pattern: 'team/*', actions: ['pull', 'push'] });
  assert.deepEqual(parseScope('team/app:push,pull,pull'), { pattern: 'team/app', actions: ['pull', 'push'] });
  assert.deepEqual(parseScope('*:pull'), { pattern: '*', actions: ['pull'] });
  assert.deepEqual(parseScope('team/*:*'), { pattern: 'team/*', actions: ['pull', 'push', 'delete'] });
  for (const bad of ['team/*', 'team/*:', 'team/*:admin', 'team:pull', 'Team/app:pull', '../x:pull', 'team/a*:pull', ':pull', 'team//app:pull']) {
    assert.throws(() => parseScope(bad), (error: unknown) => codeOf(error) === 'BERTH_SCOPE_INVALID', bad);
  }
});

test('a created token is berth_ + 256 bits, stored only as its sha256 hash', async (t) => {
  const store = await openStore(t);
  const { token, record } = await createToken(store, { name: 'ci', scopes: ['team/*:pull,push'] });
  assert.match(token, /^berth_[A-Za-z0-9_-]{43}$/);
  assert.equal(Buffer.from(token.slice('berth_'.length), 'base64url').length, 32);
  assert.equal(record.hash, hashToken(token));
  assert.equal(record.expiresAt, null);
  const onDisk = await readFile(store.path, 'utf8');
  assert.ok(!onDisk.includes(token.slice(6)), 'the secret must not be in state.json');
  assert.ok(onDisk.includes(record.hash));
  const second = await createToken(store, { name: 'ci-2', scopes: ['*:pull'] });
  assert.notEqual(second.token, token);
});

test('verifyToken accepts the secret and refuses unknown, revoked and expired ones with the reason', async (t) => {
  const store = await openStore(t);
  const now = new Date('2030-01-01T00:00:00Z');
  const live = await createToken(store, { name: 'live', scopes: ['team/*:pull'], now });
  const short = await createToken(store, { name: 'short', scopes: ['team/*:pull'], expiresIn: '90m', now });
  const gone = await createToken(store, { name: 'gone', scopes: ['team/*:pull'], now });
  await revokeToken(store, 'gone', now);

  const ok = verifyToken(store, live.token, now);
  assert.ok(ok.ok && ok.record.name === 'live');
  assert.deepEqual(verifyToken(store, `${live.token.slice(0, -1)}${live.token.endsWith('A') ? 'B' : 'A'}`, now), { ok: false, reason: 'unknown' });
  assert.deepEqual(verifyToken(store, 'berth_short', now), { ok: false, reason: 'unknown' });
  assert.deepEqual(verifyToken(store, '', now), { ok: false, reason: 'unknown' });
  assert.deepEqual(verifyToken(store, gone.token, now), { ok: false, reason: 'revoked', name: 'gone', id: gone.record.id });
  assert.equal(short.record.expiresAt, '2030-01-01T01:30:00.000Z');
  assert.ok(verifyToken(store, short.token, new Date('2030-01-01T01:29:59Z')).ok);
  assert.deepEqual(verifyToken(store, short.token, new Date('2030-01-01T01:30:00Z')), { ok: false, reason: 'expired', name: 'short', id: short.record.id });
  assert.equal(tokenStatus(short.record, new Date('2031-01-01T00:00:00Z')), 'expired');
});

test('names are validated and unique among non-revoked tokens; a revoked name can be reused', async (t) => {
  const store = await openStore(t);
  await createToken(store, { name: 'deploy.bot_1-x', scopes: ['*:pull'] });
  await assert.rejects(createToken(store, { name: 'deploy.bot_1-x', scopes: ['*:pull'] }), (e) => codeOf(e) === 'BERTH_TOKEN_NAME_TAKEN');
  for (const name of ['', 'a b', 'x'.repeat(65), 'ü', 'a/b']) {
    await assert.rejects(createToken(store, { name, scopes: ['*:pull'] }), (e) => codeOf(e) === 'BERTH_TOKEN_NAME_INVALID', name);
  }
  await assert.rejects(createToken(store, { name: 'none', scopes: [] }), (e) => codeOf(e) === 'BERTH_SCOPE_INVALID');
  await assert.rejects(
    createToken(store, { name: 'bad-exp', scopes: ['*:pull'], expiresIn: '30 days' }),
    (e) => codeOf(e) === 'BERTH_EXPIRY_INVALID',
  );
  await revokeToken(store, 'deploy.bot_1-x');
  await createToken(store, { name: 'deploy.bot_1-x', scopes: ['*:pull'] });
  const named = listTokens(store).filter((token) => token.name === 'deploy.bot_1-x');
  assert.equal(named.length, 2);
  assert.equal(named.filter((token) => !token.revokedAt).length, 1);
  await assert.rejects(revokeToken(store, 'nobody'), (e) => codeOf(e) === 'BERTH_TOKEN_NOT_FOUND');
});

test('creating the same name from two stores at once (two terminals): exactly one wins', async (t) => {
  const dir = await makeTempDir(t);
  const a = await openStore(t, dir);
  const b = await openStore(t, dir);
  const results = await Promise.allSettled([
    createToken(a, { name: 'ci', scopes: ['*:pull'] }),
    createToken(b, { name: 'ci', scopes: ['*:pull'] }),
  ]);
  assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
  assert.equal(listTokens(await openStore(t, dir)).length, 1);
});

test('a token created or revoked by the CLI process takes effect in the server within one second', async (t) => {
  const dir = await makeTempDir(t);
  const server = await openStore(t, dir);
  const cli = await openStore(t, dir);
  assert.equal(server.read().tokens.length, 0); // the server has a warm snapshot
  const { token } = await createToken(cli, { name: 'ci', scopes: ['team/*:pull'] });
  const waitFor = async (predicate: () => boolean, what: string) => {
    const started = Date.now();
    while (!predicate()) {
      assert.ok(Date.now() - started < 1000, `${what} not seen within 1 s`);
      await sleep(20);
    }
  };
  await waitFor(() => verifyToken(server, token).ok, 'new token');
  await revokeToken(cli, 'ci');
  await waitFor(() => {
    const result = verifyToken(server, token);
    return !result.ok && result.reason === 'revoked';
  }, 'revocation');
});

test('lastUsedAt is recorded on use, at most once a minute', async (t) => {
  const store = await openStore(t);
  const t0 = new Date('2030-05-01T10:00:00Z');
  const { token } = await createToken(store, { name: 'ci', scopes: ['*:pull'], now: t0 });
  assert.ok(verifyToken(store, token, t0).ok);
  await store.settled();
  assert.equal(store.read().tokens[0]?.lastUsedAt, t0.toISOString());

  const before = await readFile(store.path, 'utf8');
  for (let i = 1; i <= 20; i++) assert.ok(verifyToken(store, token, new Date(t0.getTime() + i * 1000)).ok);
  await store.settled();
  assert.equal(await readFile(store.path, 'utf8'), before, 'no writes within the minute');

  const later = new Date(t0.getTime() + 61_000);
  assert.ok(verifyToken(store, token, later).ok);
  await store.settled();
  assert.equal(store.read().tokens[0]?.lastUsedAt, later.toISOString());
});

test('allowedActions: namespace wildcard, exact repository, everything; scopes add up', () => {
  const record = {
    id: 'x',
    name: 'x',
    hash: '',
    createdAt: '',
    scopes: [parseScope('team/*:pull'), parseScope('team/app:push'), parseScope('other/lib:delete')],
  };
  assert.deepEqual([...allowedActions(record, 'team/app')].sort(), ['pull', 'push']);
  assert.deepEqual([...allowedActions(record, 'team/deep/tool')], ['pull']);
  assert.deepEqual([...allowedActions(record, 'team')], ['pull'], 'the namespace itself');
  assert.deepEqual([...allowedActions(record, 'teammate/app')], [], 'a prefix of the name is not the namespace');
  assert.deepEqual([...allowedActions(record, 'other/lib')], ['delete']);
  assert.deepEqual([...allowedActions(record, 'other/lib2')], []);
  const admin = { ...record, scopes: [parseScope('*:*')] };
  assert.deepEqual([...allowedActions(admin, 'anything/at/all')].sort(), ['delete', 'pull', 'push']);
});
