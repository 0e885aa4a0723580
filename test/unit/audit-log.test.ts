import assert from 'node:assert/strict';
import { readdir, readFile, stat, writeFile, appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { createAuditLog, queryAudit, scrubSecrets } from '../../registry/auth/index.js';
import { makeTempDir } from '../support/temp-dir.js';
import { auditLogContract } from '../contract/audit-log-contract.js';

const secret = `berth_${Buffer.alloc(32, 0xab).toString('base64url')}`;

test('events go to audit/YYYY-MM-DD.jsonl by UTC day; files 0600, directory 0700', async (t) => {
  const dir = await makeTempDir(t);
  const audit = await createAuditLog(dir);
  t.after(() => audit.close());
  const push = { action: 'push', actor: 'ci', namespace: 'team', repository: 'team/app', reference: '1', client: '127.0.0.1', outcome: 'success' } as const;
  await audit.record({ time: '2030-03-01T23:59:59.000Z', ...push });
  await audit.record({ time: new Date('2030-03-02T00:00:01Z'), action: 'pull', actor: 'anonymous', client: '127.0.0.1', outcome: 'denied' });
  assert.deepEqual((await readdir(join(dir, 'audit'))).sort(), ['2030-03-01.jsonl', '2030-03-02.jsonl']);
  assert.equal((await stat(join(dir, 'audit'))).mode & 0o777, 0o700);
  assert.equal((await stat(join(dir, 'audit', '2030-03-01.jsonl'))).mode & 0o777, 0o600);
  const line = JSON.parse((await readFile(join(dir, 'audit', '2030-03-01.jsonl'), 'utf8')).trim()) as Record<string, unknown>;
  assert.deepEqual(line, { ...push, time: '2030-03-01T23:59:59.000Z' });
});

test('a token secret (or a JWT) passed by mistake in any field is never written', async (t) => {
  const dir = await makeTempDir(t);
  const audit = await createAuditLog(dir);
  t.after(() => audit.close());
  const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjaSJ9.c2lnbmF0dXJlc2lnbmF0dXJl';
  await audit.record({
    action: 'auth.failed',
    actor: secret,
    client: '10.0.0.1',
    outcome: 'failure',
    detail: { header: `Basic x ${secret} y`, nested: [{ bearer: jwt }], [secret]: 1 },
  });
  const text = await readFile(join(dir, 'audit', (await readdir(join(dir, 'audit')))[0]!), 'utf8');
  assert.ok(!text.includes(secret.slice(6)), text);
  assert.ok(!text.includes('c2lnbmF0dXJl'), text);
  assert.match(text, /berth_\[redacted\]/);
  assert.equal(scrubSecrets('token berth_abcdefgh12 end'), 'token berth_[redacted] end');
  assert.equal(scrubSecrets('berth_ is a prefix'), 'berth_ is a prefix');
});

test('concurrent records from one writer land as whole lines, in call order', async (t) => {
  const dir = await makeTempDir(t);
  const audit = await createAuditLog(dir);
  const day = new Date('2030-04-04T12:00:00Z');
  const big = 'x'.repeat(20_000);
  await Promise.all(
    Array.from({ length: 200 }, (_, i) =>
      audit.record({ time: day, action: 'pull', actor: 'ci', client: 'c', outcome: 'success', detail: { i, big } }),
    ),
  );
  await audit.close();
  await assert.rejects(audit.record({ action: 'pull', actor: 'ci', client: 'c', outcome: 'success' }), /closed/);
  const lines = (await readFile(join(dir, 'audit', '2030-04-04.jsonl'), 'utf8')).trim().split('\n');
  assert.equal(lines.length, 200);
  assert.deepEqual(lines.map((line) => (JSON.parse(line) as { detail: { i: number } }).detail.i), Array.from({ length: 200 }, (_, i) => i));
});

test('queryAudit filters by since, namespace and action, returns the newest page oldest-first, skips torn lines', async (t) => {
  const dir = await makeTempDir(t);
  const audit = await createAuditLog(dir);
  t.after(() => audit.close());
  const base = Date.parse('2030-06-01T00:00:00Z');
  for (let i = 0; i < 30; i++) {
    await audit.record({
      time: new Date(base + i * 6 * 3_600_000), // every 6 h, across 8 days
      action: i % 3 === 0 ? 'token.create' : 'push',
      actor: 'ci',
      namespace: i % 2 === 0 ? 'team' : 'other',
      client: 'c',
      outcome: 'success',
      detail: { i },
    });
  }
  await appendFile(join(dir, 'audit', '2030-06-03.jsonl'), '{"time":"2030-06-03T1');
  await writeFile(join(dir, 'audit', 'notes.txt'), 'not an audit file');
  const ids = (events: { detail?: unknown }[]) => events.map((event) => (event.detail as { i: number }).i);

  const all = await queryAudit(dir, { limit: 1000 });
  assert.equal(all.total, 30);
  assert.deepEqual(ids(all.events), Array.from({ length: 30 }, (_, i) => i));

  const team = await queryAudit(dir, { namespace: 'team', limit: 1000 });
  assert.deepEqual(ids(team.events), [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28]);

  const since = await queryAudit(dir, { since: new Date(base + 24 * 6 * 3_600_000), limit: 1000 });
  assert.deepEqual(ids(since.events), [24, 25, 26, 27, 28, 29]);

  const tokens = await queryAudit(dir, { action: 'token.*', limit: 1000 });
  assert.deepEqual(ids(tokens.events), [0, 3, 6, 9, 12, 15, 18, 21, 24, 27]);
  assert.deepEqual(ids((await queryAudit(dir, { action: 'push', namespace: 'team', limit: 3 })).events), [22, 26, 28]);

  const page1 = await queryAudit(dir, { limit: 5 });
  const page2 = await queryAudit(dir, { limit: 5, offset: 5 });
  assert.deepEqual(ids(page1.events), [25, 26, 27, 28, 29]);
  assert.deepEqual(ids(page2.events), [20, 21, 22, 23, 24]);
  assert.equal(page2.total, 30);
  assert.deepEqual((await queryAudit(join(dir, 'nowhere'))).events, []);
});

// The backend-neutral cases (test/contract/audit-log-contract.ts), on the day files.
auditLogContract({
  name: 'file',
  fresh: async (t) => {
    const dir = await makeTempDir(t);
    return { open: () => createAuditLog(dir) };
  },
});
