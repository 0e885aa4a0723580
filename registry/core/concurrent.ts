/**
 * Runs `work` for every item with at most `limit` running at once, in order of the items, and resolves when all are
 * done (rejects with the first failure, after the running ones settle). For filesystem walks: each step is a few
 * syscalls in libuv's thread pool, so one at a time leaves the pool (and the disk) mostly idle.
 */
export async function forEachConcurrently<T>(items: Iterable<T>, limit: number, work: (item: T) => Promise<void>): Promise<void> {
  const iterator = items[Symbol.iterator]();
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    for (let next = iterator.next(); !next.done && !failure; next = iterator.next()) {
      try {
        await work(next.value);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, limit) }, worker));
  if (failure) throw failure.error;
}

/** Work under way that a shutdown waits for, though no open connection or caller holds it any more. */
export interface PendingWork {
  /** Holds `work` until it settles, whatever its outcome; returns it unchanged. */
  track<T>(work: Promise<T>): Promise<T>;
  /** Resolves once everything tracked, also what was tracked while waiting, has settled. */
  settled(): Promise<void>;
}

export function createPendingWork(): PendingWork {
  const pending = new Set<Promise<void>>();
  return {
    track(work) {
      const held = work.then(() => undefined, () => undefined);
      pending.add(held);
      void held.then(() => pending.delete(held));
      return work;
    },
    async settled() {
      while (pending.size > 0) await Promise.all([...pending]);
    },
  };
}
