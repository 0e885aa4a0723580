import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { silentLogger } from '../../registry/log.js';
import { createPullRecords } from '../../registry/pull-records.js';
import { openSqliteRepositoryIndex } from '../../registry/storage/sqlite-repository-index.js';
import { dayMs, openUsageStore, type UsageStore } from '../../registry/storage/usage-store.js';
import { makeTempDir } from '../support/temp-dir.js';

/**
 * Pull records over a real usage file, with a clock the test moves: the 7-day window, the tag's pulls by name and
 * by digest, what is counted but not yet flushed, a flush that fails, and an index rebuild that leaves them alone.
 * (Real pulls over HTTP, restarts and kill -9: test/e2e/pull-records.test.ts.)
 */

const digest = `sha256:${'a'.repeat(64)}`;
const other = `sha256:${'b'.repeat(64)}`;
// Midday, so "6 days ago" and "7 days ago" are whole UTC days away.
const today = Math.floor(Date.parse('2026-06-15T12:00:00Z') / dayMs) * dayMs + dayMs / 2;

test('the last 7 days are today and the 6 before; a tag counts its name and its current digest; unflushed pulls show', async (t) => {
  const dataDir = await makeTempDir(t, 'berth-pull-records-');
  let clock = today;
  const records = createPullRecords(openUsageStore(dataDir), { log: silentLogger(), now: () => clock });
  t.after(() => records.close());

  records.count('team/app', '1', today - 7 * dayMs);
  records.count('team/app', '1', today - 6 * dayMs);
  records.count('team/app', digest, today - 60_000);
  records.count('team/app', other, today - 30_000);
  records.count('team/app', '1', today);
  records.count('team/other', '1', today);

  const check = async () => {
    assert.deepEqual(await records.tagUsage('team/app', '1', digest), { pullCount: 4, lastPulledAt: new Date(today) });
    assert.deepEqual(await records.tagUsage('team/app', '2', other), { pullCount: 1, lastPulledAt: new Date(today - 30_000) });
    assert.deepEqual(await records.tagUsage('team/app', 'never', `sha256:${'c'.repeat(64)}`), { pullCount: 0 });
    assert.deepEqual(await records.repositoryUsage('team/app'), { pullsLast7Days: 4, pullCount: 5, lastPulledAt: new Date(today) });
    assert.deepEqual(await records.repositoryUsage('team/none'), { pullsLast7Days: 0, pullCount: 0 });
  };
  await check();
  await records.flush();
  await check();
  records.count('team/app', '1', today + 1000);
  assert.equal((await records.tagUsage('team/app', '1', digest)).pullCount, 5, 'flushed plus pending');

  // A day later the oldest pull in the window (6 days ago) falls out of it; totals stay.
  clock = today + dayMs;
  assert.equal((await records.repositoryUsage('team/app')).pullsLast7Days, 4);
  assert.equal((await records.tagUsage('team/app', '1', digest)).pullCount, 5);
});

test('a flush that fails keeps its counts for the next one', async (t) => {
  const dataDir = await makeTempDir(t, 'berth-pull-records-');
  const real = openUsageStore(dataDir);
  let failures = 1;
  const flaky: UsageStore = {
    ...real,
    async add(batch) {
      if (failures-- > 0) throw new Error('SQLITE_FULL: database or disk is full');
      await real.add(batch);
    },
  };
  const records = createPullRecords(flaky, { log: silentLogger() });
  records.count('team/app', '1');
  records.count('team/app', '1');
  await records.flush();
  records.count('team/app', '1');
  assert.equal((await records.tagUsage('team/app', '1', digest)).pullCount, 3, 'nothing lost while the store refuses');
  await records.close();

  const reopened = openUsageStore(dataDir);
  t.after(() => reopened.close());
  assert.equal((await reopened.referenceUsage('team/app', ['1']))?.pullCount, 3, 'written by the next flush (here: at close)');
});

test('an index rebuilt for another schema version keeps the pull records (they exist nowhere else)', async (t) => {
  const dataDir = await makeTempDir(t, 'berth-pull-records-');
  const records = createPullRecords(openUsageStore(dataDir), { log: silentLogger() });
  records.count('team/app', '1');
  await records.close();

  const index = openSqliteRepositoryIndex(dataDir);
  await index.putTag('team/app', '1', digest, new Date());
  await index.close();
  // As an older Berth would have left it: the next open drops every index table and rebuilds.
  const db = new Database(join(dataDir, 'index', 'repositories.sqlite'));
  db.prepare("UPDATE meta SET value = '1' WHERE key = 'schema'").run();
  db.close();
  const rebuilt = openSqliteRepositoryIndex(dataDir);
  assert.deepEqual(await rebuilt.listTagNames('team/app', {}), undefined, 'the index was dropped');
  await rebuilt.close();

  const store = openUsageStore(dataDir);
  t.after(() => store.close());
  assert.equal((await store.referenceUsage('team/app', ['1']))?.pullCount, 1);
});

test('a prune that fails is logged and retried; it never writes the batch a second time', async (t) => {
  const dataDir = await makeTempDir(t, 'berth-pull-records-');
  const real = openUsageStore(dataDir);
  let pruneAttempts = 0;
  const failingPrune: UsageStore = {
    ...real,
    async pruneDaysBefore() {
      pruneAttempts += 1;
      throw new Error('SQLITE_BUSY: database is locked');
    },
  };
  const records = createPullRecords(failingPrune, { log: silentLogger() });
  records.count('team/app', '1');
  records.count('team/app', '1');
  await records.flush();
  await records.flush();
  await records.close();
  assert.ok(pruneAttempts >= 2, 'tried at start and after the flush');
  const reopened = openUsageStore(dataDir);
  t.after(() => reopened.close());
  assert.equal((await reopened.referenceUsage('team/app', ['1']))?.pullCount, 2, 'two pulls, written once');
});
