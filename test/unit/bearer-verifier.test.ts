import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { issueBearerToken } from '../../registry/auth/bearer-tokens.js';
import { createBearerVerifier } from '../../registry/auth/bearer-verifier.js';

const key = randomBytes(32);
const service = 'berth';
const issue = (now: Date, ttlSeconds = 300) =>
  issueBearerToken({ key, issuer: 'berth', service, subject: { kind: 'anonymous' }, access: [{ type: 'repository', name: 'team/app', actions: ['pull'] }], now, ttlSeconds }).token;

test('a token that verified is answered from memory until it expires, then checked again and refused', () => {
  let clock = Date.parse('2026-12-01T12:00:00Z');
  const verifier = createBearerVerifier({ key, service, now: () => clock });
  const jwt = issue(new Date(clock), 60);
  const first = verifier.verify(jwt);
  assert.deepEqual(first.access, [{ type: 'repository', name: 'team/app', actions: ['pull'] }]);
  assert.equal(verifier.verify(jwt), first, 'the second request reuses the verified claims');
  assert.ok(Object.isFrozen(first), 'shared claims cannot be changed by one request for the next');
  clock += 60_000 + 29_000; // past exp, within the 30 s leeway the verifier allows
  assert.equal(verifier.verify(jwt), first);
  clock += 2_000;
  assert.throws(() => verifier.verify(jwt), /expired/);
});

test('a token that does not verify is refused every time, never remembered', () => {
  const clock = Date.now();
  const verifier = createBearerVerifier({ key, service, now: () => clock });
  const forged = createBearerVerifier({ key: randomBytes(32), service, now: () => clock });
  const jwt = issue(new Date(clock));
  assert.throws(() => forged.verify(jwt), /bad signature/);
  assert.throws(() => forged.verify(jwt), /bad signature/);
  const tampered = `${jwt.slice(0, -4)}AAAA`;
  assert.throws(() => verifier.verify(tampered), /bad signature/);
  verifier.verify(jwt);
  assert.throws(() => verifier.verify(tampered), /bad signature/, 'a good token remembered does not vouch for a tampered copy');
});

test('memory is bounded: past maxEntries the oldest token is forgotten (and verified again when it comes back)', () => {
  const clock = Date.now();
  const verifier = createBearerVerifier({ key, service, now: () => clock, maxEntries: 2 });
  const [a, b, c] = [issue(new Date(clock)), issue(new Date(clock)), issue(new Date(clock))] as [string, string, string];
  const claimsA = verifier.verify(a);
  verifier.verify(b);
  verifier.verify(c);
  const again = verifier.verify(a);
  assert.notEqual(again, claimsA, 'a was forgotten and verified anew');
  assert.deepEqual(again, claimsA);
});
