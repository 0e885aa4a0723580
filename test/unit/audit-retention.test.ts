import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, readdir, readFile, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it, test } from 'node:test';
import type { SettingsResponse, UpdateSettingsResponse } from '../../registry/admin/contract.js';
import { createAuditLog, createAuditPruner, pruneAudit, queryAudit } from '../../registry/auth/index.js';
import { startBerth } from '../../registry/berth-server.js';
import { silentLogger } from '../../registry/log.js';
import { createStateStore } from '../../registry/state/index.js';
import { assertAdminError, startAdminServer } from '../http/admin-fixture.js';
import { berthBin } from '../support/berth-process.js';
import { makeTempDir } from '../support/temp-dir.js';

const dayMs = 86_400_000;

function dayOf(time: number): string {
  return new Date(time).toISOString().slice(0, 10);
}

/** One audit line per file, so a test can tell a kept file was left untouched. */
async function writeDayFiles(dataDir: string, names: readonly string[]): Promise<string> {
  const dir = join(dataDir, 'audit');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  for (const name of names) {
    const line = { time: `${name.slice(0, 10)}T12:00:00.000Z`, action: 'push', actor: 'ci', client: '127.0.0.1', outcome: 'success', detail: name };
    await writeFile(join(dir, name), `${JSON.stringify(line)}\n`, { mode: 0o600 });
  }
  return dir;
}

describe('pruneAudit', () => {
  const now = new Date('2030-06-30T12:00:00.000Z');
  const kept = [
    '2030-06-30.jsonl', // today
    '2030-06-29.jsonl',
    '2030-04-01.jsonl', // exactly 90 days back: inside the retention
    '2030-07-05.jsonl', // a future day (clock skew) is never "old"
  ];
  const odd = ['notes.txt', '2029-01-02.jsonl.bak', '2029-02-30.jsonl', '2029-01-03.json', 'x2029-01-04.jsonl'];
  const old = ['2029-01-01.jsonl', '2030-03-31.jsonl'];

  it('deletes exactly the day files older than the retention, by the date in the name, and audits it', async (t) => {
    const data = await makeTempDir(t);
    const dir = await writeDayFiles(data, [...kept, ...odd, ...old]);
    // mtimes say the opposite of the names: pruning must not look at them.
    await utimes(join(dir, '2030-03-31.jsonl'), now, now);
    await utimes(join(dir, '2030-06-29.jsonl'), new Date('2001-01-01'), new Date('2001-01-01'));

    const deleted = await pruneAudit(data, { keepDays: 90, now });
    assert.deepEqual(deleted, old);
    assert.deepEqual((await readdir(dir)).sort(), [...kept, ...odd].sort());
    const today = (await readFile(join(dir, '2030-06-30.jsonl'), 'utf8')).trimEnd().split('\n');
    assert.equal(JSON.parse(today[0] ?? '').detail, '2030-06-30.jsonl', "today's earlier events are still there");

    const { events } = await queryAudit(data, { action: 'audit.prune' });
    assert.equal(events.length, 1);
    const event = events[0]!;
    assert.equal(event.actor, 'berth');
    assert.equal(event.outcome, 'success');
    assert.equal(event.time, now.toISOString());
    assert.deepEqual(event.detail, { count: 2, keepDays: 90, before: '2030-04-01', oldest: '2029-01-01.jsonl', newest: '2030-03-31.jsonl' });

    // Nothing left to prune: nothing deleted, and no noise event per run.
    assert.deepEqual(await pruneAudit(data, { keepDays: 90, now }), []);
    assert.equal((await queryAudit(data, { action: 'audit.prune' })).total, 1);
  });

  it('keeps 365 days by default and never deletes today, even with a one-day retention', async (t) => {
    const data = await makeTempDir(t);
    const at = now.getTime();
    const dir = await writeDayFiles(data, [`${dayOf(at - 365 * dayMs)}.jsonl`, `${dayOf(at - 366 * dayMs)}.jsonl`, `${dayOf(at)}.jsonl`]);
    assert.deepEqual(await pruneAudit(data, { now }), [`${dayOf(at - 366 * dayMs)}.jsonl`]);
    assert.ok((await readdir(dir)).includes(`${dayOf(at - 365 * dayMs)}.jsonl`));

    await writeDayFiles(data, [`${dayOf(at - dayMs)}.jsonl`, `${dayOf(at - 2 * dayMs)}.jsonl`]);
    const lateEvening = new Date('2030-06-30T23:59:59.999Z');
    assert.deepEqual(await pruneAudit(data, { keepDays: 1, now: lateEvening }), [`${dayOf(at - 365 * dayMs)}.jsonl`, `${dayOf(at - 2 * dayMs)}.jsonl`]);
    assert.deepEqual((await readdir(dir)).sort(), [`${dayOf(at - dayMs)}.jsonl`, `${dayOf(at)}.jsonl`]);
  });

  it('refuses a retention that is not a whole number of days from 1 to 3650, deleting nothing', async (t) => {
    const data = await makeTempDir(t);
    const dir = await writeDayFiles(data, ['2001-01-01.jsonl']);
    for (const keepDays of [0, -1, 1.5, 3651, Number.NaN]) {
      await assert.rejects(pruneAudit(data, { keepDays, now }), { code: 'BERTH_AUDIT_RETENTION_INVALID' });
    }
    assert.deepEqual(await readdir(dir), ['2001-01-01.jsonl']);
  });

  it('does nothing (and creates nothing) without an audit directory', async (t) => {
    const data = await makeTempDir(t);
    assert.deepEqual(await pruneAudit(data, { keepDays: 1, now }), []);
    assert.deepEqual(await readdir(data), []);
  });

  it("records the event through the caller's writer when given one", async (t) => {
    const data = await makeTempDir(t);
    await writeDayFiles(data, ['2001-01-01.jsonl']);
    const audit = await createAuditLog(data);
    await pruneAudit(data, { keepDays: 30, now, audit, client: 'local' });
    await audit.close();
    // The writer is closed, so the event can only have gone through it if it is on disk now.
    const { events } = await queryAudit(data, { action: 'audit.prune' });
    assert.deepEqual(events.map((e) => [e.client, (e.detail as { count: number }).count]), [['local', 1]]);
  });
});

test('the pruner runs at once, re-reads the retention each run, and close() waits for it', async (t) => {
  const data = await makeTempDir(t);
  const at = Date.now();
  const dir = await writeDayFiles(data, [`${dayOf(at - 400 * dayMs)}.jsonl`, `${dayOf(at - 40 * dayMs)}.jsonl`, `${dayOf(at - 10 * dayMs)}.jsonl`]);
  const audit = await createAuditLog(data);
  let keepDays = 100;
  const pruner = createAuditPruner({ audit, keepDays: () => keepDays, log: silentLogger() });
  await pruner.run();
  assert.deepEqual((await readdir(dir)).filter((name) => name < dayOf(at)).sort(), [`${dayOf(at - 40 * dayMs)}.jsonl`, `${dayOf(at - 10 * dayMs)}.jsonl`]);
  keepDays = 30;
  void pruner.run();
  await pruner.close();
  await audit.close();
  assert.deepEqual((await readdir(dir)).filter((name) => name < dayOf(at)), [`${dayOf(at - 10 * dayMs)}.jsonl`]);
  const counts = (await queryAudit(data, { action: 'audit.prune' })).events.map((e) => (e.detail as { count: number }).count);
  assert.deepEqual(counts, [1, 1]);
});

test('a Berth server prunes at start with the saved auditRetentionDays', async (t) => {
  const data = await makeTempDir(t);
  const at = Date.now();
  const state = await createStateStore(data);
  await state.update((draft) => {
    draft.settings.auditRetentionDays = 30;
  });
  await state.close();
  const dir = await writeDayFiles(data, [`${dayOf(at - 31 * dayMs)}.jsonl`, `${dayOf(at - 29 * dayMs)}.jsonl`]);
  const berth = await startBerth({ dataDir: data, logger: silentLogger(), listen: '127.0.0.1:0', tlsListen: null, auth: 'none' });
  await berth.close();
  const left = await readdir(dir);
  assert.ok(!left.includes(`${dayOf(at - 31 * dayMs)}.jsonl`), `31-day-old file still there: ${left.join(', ')}`);
  assert.ok(left.includes(`${dayOf(at - 29 * dayMs)}.jsonl`));
  const { events } = await queryAudit(data, { action: 'audit.prune' });
  assert.deepEqual(events.map((e) => [e.actor, e.client, (e.detail as { keepDays: number }).keepDays]), [['berth', 'local', 30]]);
});

describe('settings API: auditRetentionDays', () => {
  it('shows the default, saves a valid value, resets with 0, refuses anything else', async (t) => {
    const admin = await startAdminServer();
    t.after(() => admin.close());
    assert.equal((await admin.api<SettingsResponse>('GET', '/api/settings')).body.auditRetentionDays, 365);

    const saved = await admin.api<UpdateSettingsResponse>('PATCH', '/api/settings', { auditRetentionDays: 90 });
    assert.equal(saved.status, 200);
    assert.equal(saved.body.settings.auditRetentionDays, 90);
    assert.equal(saved.body.restartRequired, false);
    assert.equal(admin.state.read().settings.auditRetentionDays, 90);
    const stored = JSON.parse(await readFile(admin.state.path, 'utf8')) as { settings: Record<string, unknown> };
    assert.equal(stored.settings.auditRetentionDays, 90);

    const before = JSON.stringify(admin.state.read().settings);
    for (const value of [3651, -1, 1.5, '90', null, true]) {
      const result = assertAdminError(await admin.api('PATCH', '/api/settings', { auditRetentionDays: value }), 400, 'BERTH_VALIDATION');
      assert.match(result.error.message, /auditRetentionDays.*whole number from 0 to 3650/, JSON.stringify(value));
    }
    assert.equal(JSON.stringify(admin.state.read().settings), before);

    const reset = await admin.api<UpdateSettingsResponse>('PATCH', '/api/settings', { auditRetentionDays: 0 });
    assert.equal(reset.body.settings.auditRetentionDays, 365);
    assert.ok(!('auditRetentionDays' in admin.state.read().settings));

    const changes = (await queryAudit(admin.dataDir, { action: 'settings.update' })).events.map((e) => (e.detail as { changes: unknown }).changes);
    assert.deepEqual(changes, [{ auditRetentionDays: 90 }, { auditRetentionDays: 0 }]);
  });
});

function berthCli(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [berthBin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

test('berth audit prune: --keep, the saved setting as default, and clear refusals', async (t) => {
  const data = await makeTempDir(t);
  const at = Date.now();
  const dir = await writeDayFiles(data, [`${dayOf(at - 500 * dayMs)}.jsonl`, `${dayOf(at - 100 * dayMs)}.jsonl`, `${dayOf(at - 20 * dayMs)}.jsonl`]);

  // No --keep: 365 days (nothing saved), so only the 500-day-old file goes.
  const first = await berthCli(['audit', 'prune', '--data', data]);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /^Deleted 1 audit day file\(s\) older than 365 days/);
  const second = await berthCli(['audit', 'prune', '--keep', '4w', '--data', data]);
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stdout, /older than 28 days/);
  assert.deepEqual((await readdir(dir)).filter((name) => name < dayOf(at)), [`${dayOf(at - 20 * dayMs)}.jsonl`]);
  const none = await berthCli(['audit', 'prune', '--keep', '28d', '--data', data]);
  assert.match(none.stdout, /No audit day files older than 28 days/);

  const events = (await queryAudit(data, { action: 'audit.prune' })).events;
  assert.deepEqual(events.map((e) => [e.actor, e.client, (e.detail as { count: number }).count]), [['berth', 'cli', 1], ['berth', 'cli', 1]]);

  for (const keep of ['36h', '0d', 'forever', '3651d']) {
    const refused = await berthCli(['audit', 'prune', '--keep', keep, '--data', data]);
    assert.equal(refused.code, 2, `--keep ${keep}: ${refused.stdout}${refused.stderr}`);
    assert.match(refused.stderr, /invalid --keep .*whole number of days/);
  }
  assert.match((await berthCli(['audit', '--help'])).stdout, /berth audit prune \[--keep DURATION\]/);
});
