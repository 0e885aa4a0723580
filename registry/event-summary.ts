/**
 * Turns a flood of like events (refused connections, failed sign-ins) into a few summaries: the first event of a
 * quiet spell is reported at once, alone, so a single occurrence is visible immediately; whatever follows within
 * `windowMs` is counted per key and reported as one summary when the window ends, and windows keep following each
 * other while events keep coming. So a flood costs one report per window, whatever its rate.
 *
 * Memory is bounded: past `maxKeys` distinct keys in one window, further keys are only counted (`otherKeys`).
 */
export interface EventSummary {
  /** Events in this report. */
  count: number;
  /** Events per key, most frequent first (at most `maxKeys` entries). */
  byKey: Array<{ key: string; count: number }>;
  /** Events whose key did not fit in `maxKeys`. */
  otherKeys: number;
  /** The first event of a quiet spell, reported on its own at once. */
  leading: boolean;
  since: Date;
  until: Date;
}

export interface EventSummaryOptions {
  /** Length of one window. */
  windowMs: number;
  report(summary: EventSummary): void;
  /** Distinct keys kept per window. Default 100. */
  maxKeys?: number;
  now?: () => number;
}

export interface EventSummarizer {
  add(key: string): void;
  /** Reports what is pending now and stops the window timer. Later events start a new quiet spell. */
  close(): void;
}

export function createEventSummarizer(options: EventSummaryOptions): EventSummarizer {
  const maxKeys = options.maxKeys ?? 100;
  const now = options.now ?? Date.now;
  let timer: NodeJS.Timeout | undefined;
  let windowStart = 0;
  let counts = new Map<string, number>();
  let count = 0;
  let otherKeys = 0;

  function emit(leading: boolean, since: number, byKey: Map<string, number>, total: number, other: number): void {
    const sorted = [...byKey].map(([key, n]) => ({ key, count: n })).sort((a, b) => b.count - a.count);
    options.report({ count: total, byKey: sorted, otherKeys: other, leading, since: new Date(since), until: new Date(now()) });
  }

  function reset(): void {
    counts = new Map();
    count = 0;
    otherKeys = 0;
  }

  function endWindow(): void {
    timer = undefined;
    if (count === 0) return; // quiet: the next event is a leading one again
    emit(false, windowStart, counts, count, otherKeys);
    reset();
    openWindow();
  }

  function openWindow(): void {
    windowStart = now();
    timer = setTimeout(endWindow, options.windowMs);
    // A summary must never be what keeps a process alive; close() reports what is pending.
    timer.unref();
  }

  return {
    add(key) {
      if (timer === undefined) {
        const at = now();
        emit(true, at, new Map([[key, 1]]), 1, 0);
        openWindow();
        return;
      }
      count += 1;
      const seen = counts.get(key);
      if (seen !== undefined) counts.set(key, seen + 1);
      else if (counts.size < maxKeys) counts.set(key, 1);
      else otherKeys += 1;
    },
    close() {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      if (count > 0) emit(false, windowStart, counts, count, otherKeys);
      reset();
    },
  };
}
