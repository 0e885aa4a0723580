import type { Logger } from '../log.js';
import type { PullBytesTally, UsageStore } from '../storage/usage-store.js';

/**
 * Blob bytes served per namespace and calendar month (UTC): what a monthly pull-traffic quota limits. Counted in
 * memory on the blob GET path (one Map update) and written to the usage store every few seconds and at close, like
 * the pull records (registry/pull-records.ts); reads add what is counted but not yet written. Flushes and reads take
 * turns, so a read never misses a batch that is on its way to the store.
 */
export interface PullTraffic {
  served(namespace: string, bytes: number, at?: number): void;
  /** Bytes served from the namespace this month (or in the month of `at`). */
  monthBytes(namespace: string, at?: number): Promise<number>;
  flush(): Promise<void>;
  /** Flushes; the store is closed by its owner. */
  close(): Promise<void>;
}

/** `2026-12` for any moment of December 2026, UTC. */
export const monthOf = (epochMs: number): string => new Date(epochMs).toISOString().slice(0, 7);

export function createPullTraffic(store: UsageStore, options: { log: Logger; flushIntervalMs?: number; now?: () => number }): PullTraffic {
  const now = options.now ?? Date.now;
  // Keyed by month and namespace (newline-separated: neither contains one).
  let pending = new Map<string, PullBytesTally>();
  let turn: Promise<unknown> = Promise.resolve();
  const inTurn = <T>(work: () => Promise<T>): Promise<T> => {
    const run = turn.then(work);
    turn = run.catch(() => undefined);
    return run;
  };

  const flush = () =>
    inTurn(async () => {
      if (pending.size === 0) return;
      const batch = pending;
      pending = new Map();
      try {
        await store.addPullBytes(batch.values());
      } catch (error) {
        // The transaction wrote nothing: kept for the next flush.
        for (const [key, tally] of batch) {
          const later = pending.get(key);
          if (later) later.bytes += tally.bytes;
          else pending.set(key, tally);
        }
        options.log.error({ err: error }, 'writing pull traffic failed; retrying at the next flush');
      }
    });

  const timer = setInterval(() => void flush(), options.flushIntervalMs ?? 5_000);
  timer.unref();
  let closing: Promise<void> | undefined;

  return {
    served(namespace, bytes, at = now()) {
      if (bytes <= 0) return;
      const month = monthOf(at);
      const key = `${month}\n${namespace}`;
      const tally = pending.get(key);
      if (tally) tally.bytes += bytes;
      else pending.set(key, { namespace, month, bytes });
    },
    monthBytes: (namespace, at = now()) =>
      inTurn(async () => {
        const month = monthOf(at);
        return (await store.pullBytes(namespace, month)) + (pending.get(`${month}\n${namespace}`)?.bytes ?? 0);
      }),
    flush,
    close() {
      closing ??= (async () => {
        clearInterval(timer);
        await flush();
      })();
      return closing;
    },
  };
}
