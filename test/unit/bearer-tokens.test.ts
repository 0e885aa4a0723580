import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  AuthError,
  bearerAccess,
  createToken,
  grantAccess,
  issueBearerToken,
  loadOrCreateJwtKey,
  parseBasicAuthorization,
  parseBearerAuthorization,
  parseScope,
  parseResourceScopes,
  parseTokenRequestForm,
  revokeToken,
  signJwt,
  verifyBearerToken,
  verifyJwt,
  withPullTargets,
  wwwAuthenticateBearer,
  type GrantPolicy,
  type Subject,
} from '../../registry/auth/index.js';
import { createStateStore } from '../../registry/state/index.js';
import { makeTempDir } from '../support/temp-dir.js';

const policy: GrantPolicy = { anonymousPullAllowed: (namespace) => namespace === 'public' };

function tokenSubject(scopes: string[]): Subject {
  return { kind: 'token', record: { id: 'id-1', name: 'ci', hash: '', createdAt: '', scopes: scopes.map((scope) => parseScope(scope)) } };
}

function decodePayload(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
}

test('parses scope params: several params, space-separated lists, catalog, names with a port, duplicates merged', () => {
  assert.deepEqual(parseResourceScopes(['repository:team/app:pull,push', 'repository:team/app:delete registry:catalog:*']), [
    { type: 'repository', name: 'team/app', actions: ['pull', 'push', 'delete'] },
    { type: 'registry', name: 'catalog', actions: ['*'] },
  ]);
  assert.deepEqual(parseResourceScopes('repository(plugin):localhost:5000/x:pull'), [
    { type: 'repository(plugin)', name: 'localhost:5000/x', actions: ['pull'] },
  ]);
  assert.deepEqual(parseResourceScopes(undefined), []);
  for (const bad of ['repository', 'repository:team/app', ':team/app:pull', 'repository::pull', 'Repo:x:pull', 'repository:x:PULL']) {
    assert.throws(() => parseResourceScopes(bad), (e: unknown) => e instanceof AuthError && e.code === 'BERTH_TOKEN_REQUEST_INVALID', bad);
  }
});

test('grants after the mirror mapping: a pull is also asked under the local name it is served from, each judged on its own', async () => {
  // As a root mirror maps them: names outside a local namespace are the default upstream's (`public` here).
  const pullTarget = async (name: string) => (name.startsWith('team/') || name.startsWith('public/') ? name : `public/${name}`);
  const requested = parseResourceScopes(['repository:library/redis:pull', 'repository:team/app:pull,push', 'repository:library/x:push', 'registry:catalog:*']);
  const expanded = await withPullTargets(requested, pullTarget);
  assert.deepEqual(expanded, [
    { type: 'repository', name: 'library/redis', actions: ['pull'] },
    { type: 'repository', name: 'team/app', actions: ['pull', 'push'] },
    { type: 'repository', name: 'library/x', actions: ['push'] },
    { type: 'registry', name: 'catalog', actions: ['*'] },
    { type: 'repository', name: 'public/library/redis', actions: ['pull'] },
  ], 'only pulls gain a mapped name; pushes stay on the name itself');
  assert.deepEqual(requested[0]?.actions, ['pull'], 'the request itself is not changed');

  // Anonymous: the mapped public pull, nothing on the literal name that no one opened.
  assert.deepEqual(grantAccess(expanded, { kind: 'anonymous' }, policy), [{ type: 'repository', name: 'public/library/redis', actions: ['pull'] }]);
  // A token keeps what it has on the literal names, and the mapped pull only because anyone may make it.
  assert.deepEqual(grantAccess(expanded, tokenSubject(['team/*:pull,push']), policy), [
    { type: 'repository', name: 'team/app', actions: ['pull', 'push'] },
    { type: 'repository', name: 'public/library/redis', actions: ['pull'] },
  ]);
  // A private default upstream: nothing for anonymous, the pull for a token scoped to it.
  const closed: GrantPolicy = { anonymousPullAllowed: () => false };
  assert.deepEqual(grantAccess(expanded, { kind: 'anonymous' }, closed), []);
  assert.deepEqual(grantAccess(expanded, tokenSubject(['public/*:pull']), closed), [{ type: 'repository', name: 'public/library/redis', actions: ['pull'] }]);
  // Names the mapping leaves alone, or that are no repository name, add nothing.
  assert.deepEqual(await withPullTargets(parseResourceScopes(['repository:team/app:*', 'repository:Bad/Name:pull']), pullTarget), [
    { type: 'repository', name: 'team/app', actions: ['*'] },
    { type: 'repository', name: 'Bad/Name', actions: ['pull'] },
  ]);
});

test('granted access is the intersection of requested and permitted, never more', () => {
  const requested = parseResourceScopes([
    'repository:team/app:pull,push,delete',
    'repository:other/app:pull',
    'repository:public/base:pull,push',
    'registry:catalog:*',
    'repository:INVALID/Name:pull',
  ]);
  const ci = grantAccess(requested, tokenSubject(['team/*:pull,push']), policy);
  assert.deepEqual(
    ci,
    [
      { type: 'repository', name: 'team/app', actions: ['pull', 'push'] },
      { type: 'repository', name: 'public/base', actions: ['pull'] },
    ],
    'a token also pulls what anyone may pull (docker sends its login for every repository on the host)',
  );

  const anonymous = grantAccess(requested, { kind: 'anonymous' }, policy);
  assert.deepEqual(anonymous, [{ type: 'repository', name: 'public/base', actions: ['pull'] }], 'anonymous: pull on anonymous-pull namespaces only');

  const admin = grantAccess(requested, tokenSubject(['*:pull,push,delete']), policy);
  assert.deepEqual(admin.find((a) => a.type === 'registry'), { type: 'registry', name: 'catalog', actions: ['*'] });
  assert.equal(admin.find((a) => a.name === 'INVALID/Name'), undefined);

  const star = grantAccess(parseResourceScopes('repository:team/app:*'), tokenSubject(['team/*:pull']), policy);
  assert.deepEqual(star, [{ type: 'repository', name: 'team/app', actions: ['pull'] }], '* asks for what the token has, not more');
});

test('the signing key is created once, 256 bits, file 0600 in a 0700 directory; concurrent creators agree', async (t) => {
  const dir = await makeTempDir(t);
  const keys = await Promise.all([loadOrCreateJwtKey(dir), loadOrCreateJwtKey(dir), loadOrCreateJwtKey(dir)]);
  assert.equal(keys[0]?.length, 32);
  assert.ok(keys.every((key) => key.equals(keys[0]!)));
  assert.equal((await stat(join(dir, 'auth', 'jwt.key'))).mode & 0o777, 0o600);
  assert.equal((await stat(join(dir, 'auth'))).mode & 0o777, 0o700);
  assert.ok((await loadOrCreateJwtKey(dir)).equals(keys[0]!), 'reloaded, not replaced');
});

test('issued tokens carry the standard claims and verify; tampering, other keys, alg=none, expiry and audience fail', async (t) => {
  const key = await loadOrCreateJwtKey(await makeTempDir(t));
  const now = new Date('2030-01-01T00:00:00Z');
  const access = [{ type: 'repository', name: 'team/app', actions: ['pull'] }];
  const response = issueBearerToken({ key, issuer: 'berth', service: 'berth-registry', subject: tokenSubject(['team/*:pull']), access, now });
  assert.equal(response.token, response.access_token);
  assert.equal(response.expires_in, 300);
  assert.equal(response.issued_at, now.toISOString());
  const claims = decodePayload(response.token);
  assert.equal(claims.iss, 'berth');
  assert.equal(claims.sub, 'ci');
  assert.equal(claims.aud, 'berth-registry');
  assert.equal(claims.iat, now.getTime() / 1000);
  assert.equal(claims.nbf, now.getTime() / 1000);
  assert.equal(claims.exp, now.getTime() / 1000 + 300);
  assert.equal(typeof claims.jti, 'string');
  assert.deepEqual(claims.access, access);

  const verified = verifyBearerToken(key, response.token, { service: 'berth-registry', issuer: 'berth', now });
  assert.deepEqual(verified.access, access);

  const reject = (jwt: string, pattern: RegExp, when = now, service = 'berth-registry') =>
    assert.throws(
      () => verifyBearerToken(key, jwt, { service, now: when }),
      (e: unknown) => e instanceof AuthError && e.code === 'BERTH_JWT_INVALID' && pattern.test(e.message),
    );

  const [h, p, s] = response.token.split('.') as [string, string, string];
  const widened = { ...claims, access: [{ type: 'repository', name: 'team/app', actions: ['push'] }] };
  const forged = Buffer.from(JSON.stringify(widened)).toString('base64url');
  reject(`${h}.${forged}.${s}`, /signature/);
  reject(signJwt(Buffer.alloc(32, 7), claims as never), /signature/);
  const none = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
  reject(`${none}.${p}.`, /algorithm/);
  const hs512Header = Buffer.from(JSON.stringify({ alg: 'HS512' })).toString('base64url');
  const hs512 = createHmac('sha512', key).update(`${hs512Header}.${p}`).digest('base64url');
  reject(`${hs512Header}.${p}.${hs512}`, /algorithm/);
  reject(response.token, /expired/, new Date(now.getTime() + 331_000));
  assert.ok(verifyJwt(key, response.token, { audience: 'berth-registry', now: new Date(now.getTime() + 320_000) }), 'within leeway');
  reject(response.token, /not valid yet/, new Date(now.getTime() - 60_000));
  reject(response.token, /another service/, now, 'other-registry');
  reject('not.a.jwt!', /compact/);
  reject('abc', /compact/);
});

test('bearerAccess: a JWT stops working as soon as its access token is revoked, and never exceeds its access claim', async (t) => {
  const dir = await makeTempDir(t);
  const store = await createStateStore(dir);
  t.after(() => store.close());
  const key = await loadOrCreateJwtKey(dir);
  const { record } = await createToken(store, { name: 'ci', scopes: ['team/*:pull,push'] });
  const subject: Subject = { kind: 'token', record };
  const access = grantAccess(parseResourceScopes('repository:team/app:pull'), subject, policy);
  const { token } = issueBearerToken({ key, issuer: 'berth', service: 'svc', subject, access });
  const claims = verifyBearerToken(key, token, { service: 'svc' });

  const before = bearerAccess(claims, store, policy);
  assert.equal(before.subject, 'ci');
  assert.ok(before.allows('repository', 'team/app', 'pull'));
  assert.ok(!before.allows('repository', 'team/app', 'push'), 'the token could push, but this JWT was not granted push');
  assert.ok(!before.allows('repository', 'team/other', 'pull'));

  await revokeToken(store, 'ci');
  assert.ok(!bearerAccess(claims, store, policy).allows('repository', 'team/app', 'pull'));

  const publicPull = [{ type: 'repository', name: 'public/base', actions: ['pull'] }];
  const anon = issueBearerToken({ key, issuer: 'berth', service: 'svc', subject: { kind: 'anonymous' }, access: publicPull });
  const anonClaims = verifyBearerToken(key, anon.token, { service: 'svc' });
  assert.ok(bearerAccess(anonClaims, store, policy).allows('repository', 'public/base', 'pull'));
  const closed: GrantPolicy = { anonymousPullAllowed: () => false };
  assert.ok(!bearerAccess(anonClaims, store, closed).allows('repository', 'public/base', 'pull'), 'anonymous pull switched off');
});

test('WWW-Authenticate header carries realm, service and the scopes, quoted', () => {
  assert.equal(
    wwwAuthenticateBearer({ realm: 'https://127.0.0.1:5000/token', service: 'berth', scope: 'repository:team/app:pull,push' }),
    'Bearer realm="https://127.0.0.1:5000/token",service="berth",scope="repository:team/app:pull,push"',
  );
  assert.equal(
    wwwAuthenticateBearer({
      realm: 'r',
      service: 's"q',
      scope: [{ type: 'repository', name: 'a/b', actions: ['pull'] }, { type: 'registry', name: 'catalog', actions: ['*'] }],
      error: 'insufficient_scope',
    }),
    'Bearer realm="r",service="s\\"q",scope="repository:a/b:pull registry:catalog:*",error="insufficient_scope"',
  );
  assert.equal(wwwAuthenticateBearer({ realm: 'r', service: 's' }), 'Bearer realm="r",service="s"');
});

test('Authorization header parsers', () => {
  const basic = `Basic ${Buffer.from('ci:berth_abc:def').toString('base64')}`;
  assert.deepEqual(parseBasicAuthorization(basic), { username: 'ci', password: 'berth_abc:def' });
  assert.equal(parseBasicAuthorization('Bearer x'), null);
  assert.equal(parseBasicAuthorization(`Basic ${Buffer.from('nocolon').toString('base64')}`), null);
  assert.equal(parseBasicAuthorization(undefined), null);
  assert.equal(parseBearerAuthorization('Bearer a.b.c'), 'a.b.c');
  assert.equal(parseBearerAuthorization('Basic abc'), null);
});

test('OAuth2 token form: password grant parsed; other grants refused clearly', () => {
  const form = parseTokenRequestForm(
    'grant_type=password&username=ci&password=berth_x&service=berth&client_id=containerd' +
      '&scope=repository%3Ateam%2Fapp%3Apull+repository%3Ateam%2Flib%3Apush',
  );
  assert.equal(form.username, 'ci');
  assert.equal(form.password, 'berth_x');
  assert.equal(form.service, 'berth');
  assert.equal(form.clientId, 'containerd');
  assert.deepEqual(form.scopes.map((s) => s.name), ['team/app', 'team/lib']);
  const fails = (body: string, code: string) =>
    assert.throws(() => parseTokenRequestForm(body), (e: unknown) => e instanceof AuthError && e.code === code, body);
  fails('grant_type=refresh_token&refresh_token=x', 'BERTH_GRANT_UNSUPPORTED');
  assert.throws(() => parseTokenRequestForm('grant_type=refresh_token'), /use grant_type=password/);
  fails('username=a&password=b', 'BERTH_TOKEN_REQUEST_INVALID');
  fails('grant_type=password&username=a', 'BERTH_TOKEN_REQUEST_INVALID');
});
