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
 */
export interface PullRecords {
  /** One pull served of `reference` (a tag or a digest). */
  count(repository: string, reference: string, at?: number): void;
  /**
   * The pulls of a tag: those that named it plus those by the digest it points at now (docker and containerd
   * resolve a tag with HEAD, then GET the digest). Zero and no time when never pulled.
   */
  tagUsage(repository: string, tag: string, digest: string): TagUsage;
  repositoryUsage(repository: string): RepositoryUsage;
  /** Drops a deleted repository's records, counted and written. */
  forget(repository: string): void;
  /** Writes what was counted since the last flush. */
  flush(): void;
  /** Flushes and closes the store. */
  close(): void;
}

export interface TagUsage {
  pullCount: number;
  lastPulledAt?: Date;
}

export interface RepositoryUsage {
  /** Pulls on the last 7 UTC days, today included. */
  pullsLast7Days: number;
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

  const prune = (today: number) => {
    if (today === prunedDay) return;
    store.pruneDaysBefore(today - keptDays);
    prunedDay = today;
  };

  const flush = () => {
    if (pending.size === 0) return;
    const batch = pending;
    pending = new Map();
    try {
      store.add(batch.values());
      prune(dayOf(now()));
    } catch (error) {
      // Kept for the next flush (the transaction wrote nothing): a busy or full disk delays the records, loses none.
      for (const [key, tally] of batch) {
        const later = pending.get(key);
        if (later) {
          later.count += tally.count;
          later.lastPulledAt = Math.max(later.lastPulledAt, tally.lastPulledAt);
        } else pending.set(key, tally);
      }
      options.log.error({ err: error }, 'writing pull records failed; retrying at the next flush');
    }
  };

  prune(dayOf(now()));
  const timer = setInterval(flush, options.flushIntervalMs ?? pullFlushIntervalMs);
  timer.unref();

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

    tagUsage(repository, tag, digest) {
      const stored = store.referenceUsage(repository, [tag, digest]);
      let pullCount = stored?.pullCount ?? 0;
      let last = stored?.lastPulledAt ?? 0;
      for (const tally of pendingOf(repository)) {
        if (tally.reference !== tag && tally.reference !== digest) continue;
        pullCount += tally.count;
        last = Math.max(last, tally.lastPulledAt);
      }
      return last > 0 ? { pullCount, lastPulledAt: new Date(last) } : { pullCount };
    },

    repositoryUsage(repository) {
      const fromDay = dayOf(now()) - 6;
      const stored = store.repositoryUsage(repository, fromDay);
      let pullsLast7Days = stored.pullsSince;
      let last = stored.lastPulledAt ?? 0;
      for (const tally of pendingOf(repository)) {
        if (tally.day >= fromDay) pullsLast7Days += tally.count;
        last = Math.max(last, tally.lastPulledAt);
      }
      return last > 0 ? { pullsLast7Days, lastPulledAt: new Date(last) } : { pullsLast7Days };
    },

    forget(repository) {
      for (const [key, tally] of pending) if (tally.repository === repository) pending.delete(key);
      store.forget(repository);
    },

    flush,

    close() {
      clearInterval(timer);
      flush();
      store.close();
    },
  };
}
