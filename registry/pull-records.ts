import type { Logger } from './log.js';
import { dayOf, type PullTally, type UsageStore } from './storage/usage-store.js';

/**
 * Pull counts and last pull times per tag and repository, counted in memory on the manifest GET path (one Map
 * update per pull, nothing else) and written to the usage store in one transaction every few seconds and at close.
 * Reads add what is counted but not yet written, so the GUI shows a pull the moment it is served.
 *
 * A pull is a manifest GET by tag or digest that a client made; HEAD is not (a client checking for updates), nor
 * are the registry's own reads (sync, the mirror's cache, the admin API), which never go through /v2. A
 * multi-platform pull is two GETs (the index, then the platform's manifest), counted as such for the repository.
 *
 * Flushes, reads and forgets take turns (one at a time, in call order): a read then never runs while a batch is
 * on its way to the store, neither in `pending` nor stored yet, so it counts every pull exactly once.
 */
export interface PullRecords {
  /** One pull served of `reference` (a tag or a digest). */
  count(repository: string, reference: string, at?: number): void;
  /**
   * The pulls of a tag: those that named it plus those by the digest it points at now (docker and containerd
   * resolve a tag with HEAD, then GET the digest). Zero and no time when never pulled.
   */
  tagUsage(repository: string, tag: string, digest: string): Promise<TagUsage>;
  repositoryUsage(repository: string): Promise<RepositoryUsage>;
  /** Drops a deleted repository's records, counted and written. */
  forget(repository: string): Promise<void>;
  /** Writes what was counted since the last flush (a failed write is logged and retried by the next flush). */
  flush(): Promise<void>;
  /** Flushes and closes the store. */
  close(): Promise<void>;
}

export interface TagUsage {
  pullCount: number;
  lastPulledAt?: Date;
}

export interface RepositoryUsage {
  /** Pulls on the last 7 UTC days, today included. */
  pullsLast7Days: number;
  /** Every pull ever recorded. */
  pullCount: number;
  lastPulledAt?: Date;
}

/** How often counted pulls are written: a crash loses at most this window's counts. */
export const pullFlushIntervalMs = 5_000;

/** Day buckets kept: enough for "the last 7 days" and a monthly view, small either way (one row per repository and day). */
const keptDays = 35;

export function createPullRecords(store: UsageStore, options: { log: Logger; flushIntervalMs?: number; now?: () => number }): PullRecords {
  const now = options.now ?? Date.now;
  // Keyed by day, repository and reference (newline-separated: no name or reference contains one).
  let pending = new Map<string, PullTally>();
  let prunedDay = -1;
  let turn: Promise<unknown> = Promise.resolve();
  /** Runs `work` after everything queued before it (see above). */
  const inTurn = <T>(work: () => Promise<T>): Promise<T> => {
    const run = turn.then(work);
    turn = run.catch(() => undefined);
    return run;
  };

  // Pruning is housekeeping: a failure is logged and tried again at the next flush, and never undoes a written batch.
  const prune = async (today: number) => {
    if (today === prunedDay) return;
    try {
      await store.pruneDaysBefore(today - keptDays);
      prunedDay = today;
    } catch (error) {
      options.log.error({ err: error }, 'pruning old pull records failed; retrying at the next flush');
    }
  };

  const flush = () =>
    inTurn(async () => {
      if (pending.size === 0) return;
      const batch = pending;
      pending = new Map();
      try {
        await store.add(batch.values());
      } catch (error) {
        // Kept for the next flush (the transaction wrote nothing): a busy or full store delays the records, loses none.
        for (const [key, tally] of batch) {
          const later = pending.get(key);
          if (later) {
            later.count += tally.count;
            later.lastPulledAt = Math.max(later.lastPulledAt, tally.lastPulledAt);
          } else pending.set(key, tally);
        }
        options.log.error({ err: error }, 'writing pull records failed; retrying at the next flush');
        return;
      }
      await prune(dayOf(now()));
    });

  void inTurn(() => prune(dayOf(now())));
  const timer = setInterval(() => void flush(), options.flushIntervalMs ?? pullFlushIntervalMs);
  timer.unref();
  let closing: Promise<void> | undefined;

  /** Pending tallies of one repository (a handful: only what was pulled in the last few seconds). */
  function* pendingOf(repository: string): Generator<PullTally> {
    for (const tally of pending.values()) if (tally.repository === repository) yield tally;
  }

  return {
    count(repository, reference, at = now()) {
      const day = dayOf(at);
      const key = `${day}\n${repository}\n${reference}`;
      const tally = pending.get(key);
      if (tally) {
        tally.count += 1;
        if (at > tally.lastPulledAt) tally.lastPulledAt = at;
      } else pending.set(key, { repository, reference, day, count: 1, lastPulledAt: at });
    },

    tagUsage: (repository, tag, digest) => inTurn(async () => {
      const stored = await store.referenceUsage(repository, [tag, digest]);
      let pullCount = stored?.pullCount ?? 0;
      let last = stored?.lastPulledAt ?? 0;
      for (const tally of pendingOf(repository)) {
        if (tally.reference !== tag && tally.reference !== digest) continue;
        pullCount += tally.count;
        last = Math.max(last, tally.lastPulledAt);
      }
      return last > 0 ? { pullCount, lastPulledAt: new Date(last) } : { pullCount };
    }),

    repositoryUsage: (repository) => inTurn(async () => {
      const fromDay = dayOf(now()) - 6;
      const stored = await store.repositoryUsage(repository, fromDay);
      let pullCount = await store.repositoryPullCount(repository);
      let pullsLast7Days = stored.pullsSince;
      let last = stored.lastPulledAt ?? 0;
      for (const tally of pendingOf(repository)) {
        if (tally.day >= fromDay) pullsLast7Days += tally.count;
        pullCount += tally.count;
        last = Math.max(last, tally.lastPulledAt);
      }
      return last > 0 ? { pullsLast7Days, pullCount, lastPulledAt: new Date(last) } : { pullsLast7Days, pullCount };
    }),

    forget: (repository) => inTurn(async () => {
      for (const [key, tally] of pending) if (tally.repository === repository) pending.delete(key);
      await store.forget(repository);
    }),

    flush,

    close() {
      closing ??= (async () => {
        clearInterval(timer);
        await flush();
        await inTurn(() => store.close());
      })();
      return closing;
    },
  };
}
