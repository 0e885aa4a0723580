import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { createAuditLog, createToken, revokeToken } from '../../registry/auth/index.js';
import { createCredentialCheck, failureKeys } from '../../registry/auth/credential-check.js';
import { isRegistryError } from '../../registry/core/errors.js';
import { createStateStore } from '../../registry/state/index.js';
import { makeTempDir } from '../support/temp-dir.js';

/**
 * The keys a failed credential is counted under, and what a block refuses, for addresses a test on loopback cannot
 * come from (a LAN host, this machine's own LAN address). The socket addresses are the only thing made up here.
 */

const madeUp = () => `berth_${randomBytes(32).toString('base64url')}`;

/** A request as the credential check sees it: only its socket's two addresses matter. */
function from(remoteAddress: string, localAddress = '192.0.2.1'): IncomingMessage {
  return { socket: { remoteAddress, localAddress } } as unknown as IncomingMessage;
}

test('failures count per token or user name, and per address only where the address is one client', () => {
  const lan = { remoteAddress: '203.0.113.7', localAddress: '192.0.2.1' };
  assert.deepEqual(failureKeys({ tokenId: 'abc', username: 'ci' }, lan), ['token:abc', 'address:203.0.113.7']);
  assert.deepEqual(failureKeys({ username: 'ci' }, lan), ['user:ci', 'address:203.0.113.7']);
  // Every local program shares these: loopback, IPv4-mapped loopback, and this machine's own address.
  for (const remoteAddress of ['127.0.0.1', '127.9.0.3', '::1', '::ffff:127.0.0.1', '192.0.2.1', '::ffff:192.0.2.1']) {
    assert.deepEqual(failureKeys({ username: 'ci' }, { remoteAddress, localAddress: '192.0.2.1' }), ['user:ci'], remoteAddress);
  }
  assert.deepEqual(failureKeys({ username: 'ci' }, { remoteAddress: '2001:db8:0:1::5', localAddress: '2001:db8:0:2::1' }), ['user:ci', 'address:2001:db8:0:1::/64']);
  assert.equal(failureKeys({ username: 'x'.repeat(10_000) }, lan)[0]!.length, 'user:'.length + 128, 'a long user name costs a bounded key');
});

test('a LAN host that keeps failing is told 429 whatever name it uses; its valid token, and loopback, are not', async (t) => {
  const dataDir = await makeTempDir(t, 'berth-credential-check-');
  const store = await createStateStore(dataDir);
  const audit = await createAuditLog(dataDir);
  t.after(async () => {
    await audit.close();
    await store.close();
  });
  const reasons: string[] = [];
  const check = createCredentialCheck({ store, audit, onFailure: (reason) => reasons.push(reason) });
  t.after(() => check.close());
  const good = (await createToken(store, { name: 'good', scopes: ['team/*:pull'] })).token;
  const revoked = (await createToken(store, { name: 'revoked', scopes: ['team/*:pull'] })).token;
  await revokeToken(store, 'revoked');

  const attempt = (address: string, username: string, password: string) => {
    try {
      return check.verify(from(address), { username, password }, {}).ok ? 'ok' : 'refused';
    } catch (error) {
      assert.ok(isRegistryError(error) && error.code === 'TOOMANYREQUESTS', String(error));
      return 'limited';
    }
  };
  for (let i = 0; i < 10; i += 1) assert.equal(attempt('203.0.113.7', `name-${i}`, madeUp()), 'refused');
  assert.equal(attempt('203.0.113.7', 'another-name', madeUp()), 'limited', 'the address is one client: its failures add up');
  assert.equal(attempt('203.0.113.7', 'good', good), 'ok', 'a valid token is served, even from that address');
  assert.equal(attempt('203.0.113.8', 'another-name', madeUp()), 'refused', 'another LAN host is not affected');

  // Local programs: as many names as they like, each counted on its own; the address never adds up.
  for (const address of ['127.0.0.1', '192.0.2.1']) {
    for (let i = 0; i < 30; i += 1) assert.equal(attempt(address, `local-${address}-${i}`, madeUp()), 'refused', `${address} #${i}`);
  }
  // One revoked token is counted as that token, whatever user name comes with it.
  for (let i = 0; i < 10; i += 1) assert.equal(attempt('127.0.0.1', `stale-${i}`, revoked), 'refused');
  assert.equal(attempt('127.0.0.1', 'stale-again', revoked), 'limited');
  assert.equal(attempt('127.0.0.1', 'stale-0', good), 'ok');
  assert.deepEqual([...new Set(reasons)].sort(), ['invalid_credentials', 'rate_limited']);
});
