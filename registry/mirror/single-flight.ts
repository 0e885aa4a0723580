/**
 * The mirror's one single-flight mechanism: at most one piece of work per key at a time, which every caller
 * asking for that key while it runs shares. Blob downloads, tag checks and manifest fetches all go through it,
 * each with keys that say who may share (a blob is shared per upstream and digest, a tag check per upstream,
 * repository and tag).
 *
 * A flight can be passed over (`joinable` says no, for example a download that stopped making progress): the
 * next caller then starts a fresh flight under the key, and the old one finishes on its own for the callers
 * that already hold it, without removing its successor.
 */
export interface SingleFlight<T> {
  /** The running flight under `key` if it may be joined, else a new one from `start` (which must not throw). */
  run(key: string, start: () => T): T;
  /** How many flights are running (passed-over ones included until they settle). */
  readonly size: number;
}

export interface SingleFlightOptions<T> {
  /** Settles when the flight is over; the key is then free again. */
  settled(flight: T): Promise<unknown>;
  /** Whether a new caller may still join this running flight. Default: always. */
  joinable?(flight: T): boolean;
}

export function createSingleFlight<T>(options: SingleFlightOptions<T>): SingleFlight<T> {
  const running = new Map<string, T>();
  let total = 0;
  return {
    run(key, start) {
      const existing = running.get(key);
      if (existing !== undefined && (options.joinable?.(existing) ?? true)) return existing;
      const flight = start();
      running.set(key, flight);
      total += 1;
      const release = () => {
        total -= 1;
        if (running.get(key) === flight) running.delete(key);
      };
      options.settled(flight).then(release, release);
      return flight;
    },
    get size() {
      return total;
    },
  };
}

/** A single flight of promises: concurrent callers of one key get the same result (or the same error). */
export function createPromiseFlight<T>(): SingleFlight<Promise<T>> {
  return createSingleFlight<Promise<T>>({ settled: (flight) => flight });
}
