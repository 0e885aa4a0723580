import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { dayMs, dayOf, type PullTally, type UsageStore } from '../../registry/storage/usage-store.js';

/**
 * The one UsageStore contract suite (pull records), run on the SQLite file and on PostgreSQL: sums and last pulls
 * per reference and repository, the day window, pruning that keeps the totals, forgetting one repository, a batch
 * that is written whole or not at all, and two instances over one store (two nodes) adding to the same rows.
 */
export interface UsageBackend {
  /** A fresh, empty store and a way to open more instances over it; everything opened is closed by `close`. */
  fresh(): Promise<{ store: UsageStore; another(): Promise<UsageStore> }>;
  close(): Promise<void>;
}

const day = dayOf(Date.parse('2026-06-15T12:00:00Z'));
const at = (d: number, ms = 0) => d * dayMs + 43_200_000 + ms;
const tally = (repository: string, reference: string, d: number, count: number, lastPulledAt = at(d)): PullTally => ({
  repository,
  reference,
  day: d,
  count,
  lastPulledAt,
});

export function describeUsageStoreContract(name: string, open: () => Promise<UsageBackend>, options: { skip?: string | undefined } = {}): void {
  describe(`${name}: UsageStore contract`, { skip: options.skip, timeout: 5 * 60_000 }, () => {
    let backend: UsageBackend;
    before(async () => {
      backend = await open();
    });
    after(() => backend?.close());
    const it = (title: string, fn: (opened: { store: UsageStore; another(): Promise<UsageStore> }) => Promise<void>) =>
      test(title, { timeout: 60_000 }, async () => fn(await backend.fresh()));

    it('nothing recorded: no usage for a reference, zero pulls and no last pull for a repository', async ({ store }) => {
      assert.equal(await store.referenceUsage('team/app', ['1', 'sha256:x']), undefined);
      assert.deepEqual(await store.repositoryUsage('team/app', day - 6), { pullsSince: 0 });
      await store.add([]);
      assert.deepEqual(await store.repositoryUsage('team/app', 0), { pullsSince: 0 });
    });

    it('batches add up per reference and repository; the last pull is the newest seen, whatever the order', async ({ store }) => {
      await store.add([tally('team/app', '1', day - 1, 2, at(day - 1, 5)), tally('team/app', '1', day, 3, at(day, 7)), tally('team/app', 'sha256:d', day, 1)]);
      // An older pull flushed later (another node's batch) does not move the last pull back.
      await store.add([tally('team/app', '1', day - 2, 4, at(day - 2)), tally('team/other', '1', day, 9)]);
      assert.deepEqual(await store.referenceUsage('team/app', ['1']), { pullCount: 9, lastPulledAt: at(day, 7) });
      assert.deepEqual(await store.referenceUsage('team/app', ['1', 'sha256:d', '1']), { pullCount: 10, lastPulledAt: at(day, 7) }, 'a reference named twice counts once');
      assert.deepEqual(await store.referenceUsage('team/app', ['sha256:d', 'never']), { pullCount: 1, lastPulledAt: at(day) });
      assert.deepEqual(await store.repositoryUsage('team/app', 0), { pullsSince: 10, lastPulledAt: at(day, 7) });
      assert.deepEqual(await store.repositoryUsage('team/app', day - 1), { pullsSince: 6, lastPulledAt: at(day, 7) }, 'the window starts at fromDay');
      assert.deepEqual(await store.repositoryUsage('team/app', day + 1), { pullsSince: 0, lastPulledAt: at(day, 7) });
      assert.deepEqual(await store.repositoryUsage('team/other', 0), { pullsSince: 9, lastPulledAt: at(day) });
      assert.equal(await store.repositoryPullCount('team/app'), 10, 'every pull of the repository, whatever its day');
      assert.equal(await store.repositoryPullCount('never'), 0);
    });

    it('pruning drops old day buckets and keeps the totals; forgetting drops one repository', async ({ store }) => {
      await store.add([tally('team/app', '1', day - 40, 5), tally('team/app', '1', day, 1), tally('team/keep', '1', day - 40, 2)]);
      await store.pruneDaysBefore(day - 35);
      assert.deepEqual(await store.repositoryUsage('team/app', 0), { pullsSince: 1, lastPulledAt: at(day) });
      assert.equal(await store.repositoryPullCount('team/app'), 6, 'the total outlives the day buckets');
      assert.deepEqual(await store.referenceUsage('team/app', ['1']), { pullCount: 6, lastPulledAt: at(day) });
      assert.deepEqual(await store.repositoryUsage('team/keep', 0), { pullsSince: 0, lastPulledAt: at(day - 40) });

      await store.forget('team/app');
      assert.equal(await store.referenceUsage('team/app', ['1']), undefined);
      assert.deepEqual(await store.repositoryUsage('team/app', 0), { pullsSince: 0 });
      assert.deepEqual(await store.referenceUsage('team/keep', ['1']), { pullCount: 2, lastPulledAt: at(day - 40) });
      await store.add([tally('team/app', '1', day, 1)]);
      assert.deepEqual(await store.referenceUsage('team/app', ['1']), { pullCount: 1, lastPulledAt: at(day) }, 'a new repository of the name starts afresh');
    });

    it('a batch that fails part-way writes nothing', async ({ store }) => {
      await store.add([tally('team/app', '1', day, 1)]);
      await assert.rejects(store.add([tally('team/app', '1', day, 5), tally('team/new', '1', day, 1), tally('team/app', '2', day, Number.NaN)]));
      assert.deepEqual(await store.referenceUsage('team/app', ['1']), { pullCount: 1, lastPulledAt: at(day) });
      assert.equal(await store.referenceUsage('team/new', ['1']), undefined);
      assert.deepEqual(await store.repositoryUsage('team/app', 0), { pullsSince: 1, lastPulledAt: at(day) });
    });

    it('pull bytes add up per namespace and month, from two instances at once', async ({ store, another }) => {
      const second = await another();
      assert.equal(await store.pullBytes('team', '2026-12'), 0);
      await store.addPullBytes([]);
      await Promise.all(
        Array.from({ length: 20 }, (_, i) => [
          store.addPullBytes([{ namespace: 'team', month: '2026-12', bytes: 1000 }, { namespace: 'other', month: '2026-12', bytes: i }]),
          second.addPullBytes([{ namespace: 'other', month: '2026-12', bytes: 1 }, { namespace: 'team', month: '2026-12', bytes: 5 }, { namespace: 'team', month: '2026-12', bytes: 5 }]),
        ]).flat(),
      );
      assert.equal(await second.pullBytes('team', '2026-12'), 20 * 1010);
      assert.equal(await store.pullBytes('other', '2026-12'), 190 + 20);
      assert.equal(await store.pullBytes('team', '2026-11'), 0, 'another month starts at zero');
      // Past 2^32: a month of a busy namespace.
      await store.addPullBytes([{ namespace: 'big', month: '2026-12', bytes: 5 * 2 ** 40 }]);
      assert.equal(await store.pullBytes('big', '2026-12'), 5 * 2 ** 40);
    });

    it('two instances over one store add to the same rows at once, and neither loses a pull', async ({ store, another }) => {
      const second = await another();
      const rounds = 25;
      const batchOf = (i: number) => [tally('team/app', '1', day, 1, at(day, i)), tally('team/app', 'latest', day, 2), tally('team/b', '1', day - 1, 1)];
      // Opposite key orders from the two instances: locking in key order keeps them from deadlocking.
      await Promise.all(
        Array.from({ length: rounds }, (_, i) => [store.add(batchOf(i)), second.add(batchOf(i + rounds).reverse())]).flat(),
      );
      assert.deepEqual(await second.referenceUsage('team/app', ['1']), { pullCount: 2 * rounds, lastPulledAt: at(day, 2 * rounds - 1) });
      assert.deepEqual(await store.repositoryUsage('team/app', day), { pullsSince: 6 * rounds, lastPulledAt: at(day, 2 * rounds - 1) });
      assert.deepEqual(await store.repositoryUsage('team/b', day - 1), { pullsSince: 2 * rounds, lastPulledAt: at(day - 1) });
    });
  });
}
