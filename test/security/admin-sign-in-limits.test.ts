import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { queryAudit } from '../../registry/auth/audit-log.js';
import { startBerth } from '../support/berth-process.js';
import { call, type CallResult } from '../support/registry-auth.js';
import { makeTempDir } from '../support/temp-dir.js';

/**
 * Issue 8, row 10: `/ui/signin` is open to anyone who reaches Berth. A flood of made-up codes used to write one
 * audit line per attempt (600/s) and was never limited. Now failures are audited in aggregate and limited per
 * address, and since every local user is 127.0.0.1, a flood must not lock the real admin out of the link
 * `berth ui-url` prints. A real `berth serve` on its defaults (token auth), a real `berth ui-url`.
 */

const madeUpCode = () => randomBytes(16).toString('base64url');

/** `count` sign-in attempts with made-up codes from `localAddress`, `parallel` at a time, in order of answer. */
async function flood(base: string, count: number, localAddress: string, parallel = 10): Promise<CallResult[]> {
  const results: CallResult[] = [];
  let started = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (started < count) {
        started += 1;
        results.push(await call('GET', `${base}/ui/signin?code=${madeUpCode()}`, { localAddress }));
      }
    }),
  );
  return results;
}

test('a flood of made-up sign-in codes: answered 429 from the 10th failure, audited in aggregate, and the admin still signs in at once', { timeout: 90_000 }, async (t) => {
  const dataDir = await makeTempDir(t, 'berth-signin-');
  const berth = await startBerth({ dataDir, auth: 'token' });
  t.after(() => berth.stop());

  const attempts = 200;
  const answers = await flood(berth.url, attempts, '127.0.0.1');
  const statuses = answers.map((answer) => answer.status);
  assert.ok(statuses.every((status) => status === 401 || status === 429), `statuses: ${[...new Set(statuses)].join(', ')}`);
  assert.equal(statuses.filter((status) => status === 401).length, 9, 'the first 9 failures are plain refusals; from the 10th, 429');
  const limited = answers.find((answer) => answer.status === 429);
  assert.ok(limited);
  const retryAfter = Number(limited.headers['retry-after']);
  assert.ok(retryAfter >= 1 && retryAfter <= 30, `Retry-After: ${String(limited.headers['retry-after'])}`);
  // Plain terms: what happened, and that a new link works at once.
  assert.match(limited.text, /Too many sign-in links that do not work were opened from your address/);
  assert.match(limited.text, /Run <code>berth ui-url<\/code> for a new one: a new link works at once\./);

  // The real admin, on the same address, in the middle of the flood: a fresh link from `berth ui-url` works.
  const link = new URL(await berth.signInUrl());
  const signedIn = await call('GET', link.href, { localAddress: '127.0.0.1' });
  assert.equal(signedIn.status, 303, signedIn.text);
  const cookie = String(signedIn.headers['set-cookie']).split(';')[0] ?? '';
  const overview = await call('GET', `${berth.url}/api/overview`, { headers: { cookie } });
  assert.equal(overview.status, 200, overview.text);
  // The flood goes on being answered 429; another address is not affected.
  assert.equal((await call('GET', `${berth.url}/ui/signin?code=${madeUpCode()}`, { localAddress: '127.0.0.1' })).status, 429);
  const elsewhere = await call('GET', `${berth.url}/ui/signin?code=${madeUpCode()}`, { localAddress: '127.0.0.2' });
  assert.equal(elsewhere.status, 401);
  assert.match(elsewhere.text, /This sign-in link is not valid: it was already used, has expired \(links work for 10 minutes\) or was mistyped\./);

  // Stopping writes the pending summary. 202 failures, from two addresses, in a minute: a few lines, not 202.
  await berth.stop();
  const { events } = await queryAudit(dataDir, { action: 'admin.signin', limit: 1000 });
  const denied = events.filter((event) => event.outcome === 'denied');
  const success = events.filter((event) => event.outcome === 'success');
  assert.equal(success.length, 1);
  assert.ok(denied.length >= 2 && denied.length <= 6, `${denied.length} audit lines for ${attempts + 2} failures`);
  const counted = denied.reduce((sum, event) => sum + Number((event.detail as { attempts: number }).attempts), 0);
  assert.equal(counted, attempts + 2, 'every failure is counted');
  assert.equal(denied[0]?.client, '127.0.0.1', 'the first failure is recorded at once, on its own');
  const clients = denied.flatMap((event) => (event.detail as { clients: Array<{ address: string }> }).clients.map((entry) => entry.address));
  assert.deepEqual([...new Set(clients)].sort(), ['127.0.0.1', '127.0.0.2']);
});
