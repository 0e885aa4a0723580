import assert from 'node:assert/strict';
import { test } from 'node:test';
import { claimScheduledRun, createRetentionScheduler, effectiveRetentionEveryHours } from '../../registry/lifecycle/retention-schedule.js';
import type { RetentionReport, RetentionRunOptions } from '../../registry/lifecycle/retention-run.js';
import { silentLogger } from '../../registry/log.js';
import { createStateStore } from '../../registry/state/index.js';
import { makeTempDir } from '../support/temp-dir.js';

/**
 * When scheduled retention runs (on a clock the test moves, ticking by hand): an hour after start, then once per
 * interval after the last real run (manual ones included), never while the setting is 0; runs take turns.
 */

const hour = 3_600_000;

test('scheduled retention: first an hour after start, then every interval since the last real run; 0 turns it off', async (t) => {
  let clock = Date.parse('2030-01-01T00:00:00Z');
  let everyHours = 24;
  const runs: RetentionRunOptions[] = [];
  const scheduler = createRetentionScheduler({
    run: async (options) => {
      runs.push(options);
      return { dryRun: options.dryRun, ranAt: new Date(clock).toISOString(), removals: [], spared: [], skipped: [] } satisfies RetentionReport;
    },
    everyHours: () => everyHours,
    log: silentLogger(),
    tickMs: 24 * hour,
    now: () => clock,
  });
  t.after(() => scheduler.close());

  assert.equal(scheduler.tick(), undefined, 'not right at start');
  clock += hour;
  await scheduler.tick();
  assert.deepEqual(runs, [{ dryRun: false }]);
  clock += 23 * hour;
  assert.equal(scheduler.tick(), undefined, 'a day after the last run, not after start');
  clock += hour;
  await scheduler.tick();
  assert.equal(runs.length, 2);

  // A manual run counts; a dry run does not.
  clock += 20 * hour;
  await scheduler.run({ dryRun: true });
  clock += 4 * hour;
  await scheduler.run({ dryRun: false, actor: 'admin' });
  assert.equal(scheduler.tick(), undefined, 'the manual run just happened');
  assert.equal(scheduler.lastRunAt()?.getTime(), clock);

  everyHours = 0;
  clock += 100 * hour;
  assert.equal(scheduler.tick(), undefined, 'off');
  everyHours = 48;
  await scheduler.tick();
  assert.equal(runs.filter((run) => !run.dryRun).length, 4);
});

test('runs take turns: a second run starts after the first has finished', async (t) => {
  let active = 0;
  let overlapped = false;
  const scheduler = createRetentionScheduler({
    run: async (options) => {
      active += 1;
      if (active > 1) overlapped = true;
      await new Promise((resolve) => setImmediate(resolve));
      active -= 1;
      return { dryRun: options.dryRun, ranAt: '', removals: [], spared: [], skipped: [] };
    },
    everyHours: () => 24,
    log: silentLogger(),
  });
  t.after(() => scheduler.close());
  await Promise.all([scheduler.run({ dryRun: true }), scheduler.run({ dryRun: false }), scheduler.run({ dryRun: true })]);
  assert.equal(overlapped, false);
});

test('the interval setting: absent or unusable means 24 h, 0 is off', () => {
  assert.equal(effectiveRetentionEveryHours(undefined), 24);
  assert.equal(effectiveRetentionEveryHours(0), 0);
  assert.equal(effectiveRetentionEveryHours(6), 6);
  assert.equal(effectiveRetentionEveryHours(-1), 24);
  assert.equal(effectiveRetentionEveryHours('12'), 24);
  assert.equal(effectiveRetentionEveryHours(1.5), 24);
});

test('two servers on one state: the scheduled run is claimed by one of them per interval', async (t) => {
  const dataDir = await makeTempDir(t, 'berth-retention-claim-');
  const [first, second] = [await createStateStore(dataDir), await createStateStore(dataDir)];
  t.after(async () => {
    await first.close();
    await second.close();
  });
  const at = Date.parse('2030-01-01T01:00:00Z');
  const claims = await Promise.all([claimScheduledRun(first, 24 * hour, new Date(at)), claimScheduledRun(second, 24 * hour, new Date(at + 1000))]);
  assert.deepEqual(claims.filter(Boolean).length, 1, `one claim wins: ${JSON.stringify(claims)}`);
  assert.equal(await claimScheduledRun(second, 24 * hour, new Date(at + 23 * hour)), false, 'not again within the interval (a restart does not reset it)');
  assert.equal(await claimScheduledRun(first, 24 * hour, new Date(at + 24 * hour)), true);
  assert.equal(second.read().settings.retentionLastRunAt === undefined, false);
});

test('a scheduled run another server claimed is not run here; this server asks again at the next tick', async (t) => {
  let clock = 0;
  let claimable = false;
  let runs = 0;
  const scheduler = createRetentionScheduler({
    run: async (options) => {
      runs += 1;
      return { dryRun: options.dryRun, ranAt: '', removals: [], spared: [], skipped: [] };
    },
    everyHours: () => 24,
    claim: async () => claimable,
    log: silentLogger(),
    tickMs: 24 * hour,
    now: () => clock,
  });
  t.after(() => scheduler.close());
  clock += hour;
  assert.equal(await scheduler.tick(), undefined);
  assert.equal(runs, 0);
  claimable = true;
  clock += hour;
  assert.ok(await scheduler.tick());
  assert.equal(runs, 1);
});
