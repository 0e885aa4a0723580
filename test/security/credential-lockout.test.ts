import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { createToken, revokeToken } from '../../registry/auth/index.js';
import { call, decodeJwt, errorCodesOf, fetchBearer, type CallResult, type Credentials } from '../support/registry-auth.js';
import { startEdgeBerth, type EdgeBerth } from './edge-fixture.js';

/**
 * Issue 8, row 8: the failure limit was per address and checked before the credential. Every local client is
 * 127.0.0.1, so ten requests with a bad or revoked token (a stale CI job) locked every valid token out with 429,
 * renewed for as long as the job kept retrying. Now the credential is checked first and a valid one is always
 * served; failures count per credential (the token, or the user name given) and per address only where an
 * address is one client, so the 429 lands on whoever keeps failing. Default settings, all from 127.0.0.1.
 */

const local = '127.0.0.1';
const basic = (username: string, password: string): Credentials => ({ kind: 'basic', username, password });
const madeUpToken = () => `berth_${randomBytes(32).toString('base64url')}`;

async function withTokens(t: Parameters<typeof startEdgeBerth>[0]) {
  const edge = await startEdgeBerth(t, { tlsListen: null });
  const good = (await createToken(edge.berth.state, { name: 'laptop', scopes: ['team/*:pull,push'] })).token;
  const stale = (await createToken(edge.berth.state, { name: 'old-ci', scopes: ['team/*:pull,push'] })).token;
  await revokeToken(edge.berth.state, 'old-ci');
  return { edge, good, stale };
}

const ping = (edge: EdgeBerth, credentials: Credentials): Promise<CallResult> => call('GET', `${edge.url}/v2/`, { credentials, localAddress: local });

test('ten revoked-token requests from 127.0.0.1 (a stale CI job), then a good token: Basic on /v2 works', async (t) => {
  const { edge, good, stale } = await withTokens(t);
  const statuses: number[] = [];
  for (let i = 0; i < 12; i += 1) statuses.push((await ping(edge, basic('ci', stale))).status);
  assert.deepEqual(statuses, [401, 401, 401, 401, 401, 401, 401, 401, 401, 401, 429, 429], 'the stale job itself is told to back off');

  // A valid token from the same address, with the same user name even, is served.
  const served = await ping(edge, basic('ci', good));
  assert.equal(served.status, 200, served.text);
  assert.equal((await ping(edge, basic('laptop', good))).status, 200);
  const push = await fetchBearer(edge.url, ['repository:team/app:pull,push'], { credentials: basic('ci', good), localAddress: local });
  assert.equal(push.result.status, 200, push.result.text);
  assert.deepEqual(decodeJwt(push.jwt!).access, [{ type: 'repository', name: 'team/app', actions: ['pull', 'push'] }]);

  const limited = await ping(edge, basic('ci', stale));
  assert.deepEqual(errorCodesOf(limited), ['TOOMANYREQUESTS']);
  assert.ok(Number(limited.headers['retry-after']) > 0, `Retry-After: ${String(limited.headers['retry-after'])}`);
  assert.match(limited.text, /revoked/, 'and still told why');
  // Someone else's mistake from 127.0.0.1 is an ordinary refusal, not the stale job's 429.
  const typo = await ping(edge, basic('alice', madeUpToken()));
  assert.equal(typo.status, 401, typo.text);
  assert.deepEqual(errorCodesOf(typo), ['UNAUTHORIZED']);
});

test('ten made-up tokens to /token from 127.0.0.1 under one user name, then a good one under that name: it works', async (t) => {
  const { edge, good } = await withTokens(t);
  const scope = ['repository:team/app:pull,push'];
  const statuses: number[] = [];
  for (let i = 0; i < 11; i += 1) statuses.push((await fetchBearer(edge.url, scope, { credentials: basic('ci', madeUpToken()), localAddress: local })).result.status);
  assert.deepEqual(statuses, [401, 401, 401, 401, 401, 401, 401, 401, 401, 401, 429]);
  const viaToken = await fetchBearer(edge.url, scope, { credentials: basic('ci', good), localAddress: local });
  assert.equal(viaToken.result.status, 200, viaToken.result.text);
  assert.deepEqual(decodeJwt(viaToken.jwt!).access, [{ type: 'repository', name: 'team/app', actions: ['pull', 'push'] }]);
  // The OAuth2 form containerd sends, and Basic on /v2, the same.
  const form = await call('POST', `${edge.url}/token`, {
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'password', service: 'berth', scope: scope[0]!, username: 'ci', password: good }).toString(),
    localAddress: local,
  });
  assert.equal(form.status, 200, form.text);
  assert.equal((await ping(edge, basic('ci', good))).status, 200);
  // A pull through the JWT the good token got.
  const pulled = await call('GET', `${edge.url}/v2/team/app/tags/list`, { credentials: { kind: 'bearer', jwt: viaToken.jwt! }, localAddress: local });
  assert.equal(pulled.status, 404, `an empty repository, but no lockout: ${pulled.text}`);
  assert.deepEqual(errorCodesOf(pulled), ['NAME_UNKNOWN']);
});
