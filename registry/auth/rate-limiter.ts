import { isIPv6 } from 'node:net';

/**
 * Failed-authentication limiter, per key: a client address (folded by clientKey) or any other key a caller counts
 * under (auth/credential-check.ts counts per credential too). After `maxFailures` failures within `windowMs`, the
 * key is blocked for a window that doubles with each repeated offence (capped at `maxBlockMs`); the caller
 * answers 429 TOOMANYREQUESTS with `Retry-After: retryAfterSeconds`. What a block refuses is the caller's choice:
 * Berth's callers refuse only failing attempts, never a valid credential. Successful authentication clears the
 * failure count, not the offence history. Memory stays bounded: idle entries are swept, and past `maxEntries`
 * the least recently seen key is forgotten.
 */
export interface RateLimiterOptions {
  maxFailures?: number;
  windowMs?: number;
  baseBlockMs?: number;
  maxBlockMs?: number;
  /** An address quiet for this long starts over (offences forgotten). Default 15 min. */
  forgetAfterMs?: number;
  maxEntries?: number;
  now?: () => number;
}

export type RateDecision = { allowed: true } | { allowed: false; retryAfterSeconds: number };

export interface RateLimiter {
  /** Before checking credentials: may this address try? */
  check(address: string): RateDecision;
  /** After a failed attempt. Returns the decision for the next attempt (blocked if this failure tipped it over). */
  recordFailure(address: string): RateDecision;
  recordSuccess(address: string): void;
  /** Addresses currently tracked (for tests and metrics). */
  size(): number;
  close(): void;
}

interface Entry {
  /** Failure times inside the window, oldest first; never longer than maxFailures. */
  failures: number[];
  blockedUntil: number;
  offences: number;
  lastSeen: number;
}

/**
 * The key an address is counted under. IPv4-mapped IPv6 is folded to IPv4, and IPv6 is counted per /64: one
 * host usually owns a whole /64, so per-address counting would be trivial to dodge.
 */
export function clientKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped?.[1]) return mapped[1];
  if (!isIPv6(address)) return address;
  const [head = '', tail = ''] = address.toLowerCase().split('%')[0]!.split('::') as [string?, string?];
  const headGroups = head ? head.split(':') : [];
  const tailGroups = address.includes('::') && tail ? tail.split(':') : [];
  const groups = address.includes('::')
    ? [...headGroups, ...Array<string>(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups]
    : headGroups;
  return `${groups.slice(0, 4).map((group) => group.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}

export function createRateLimiter(options: RateLimiterOptions = {}): RateLimiter {
  const maxFailures = options.maxFailures ?? 10;
  const windowMs = options.windowMs ?? 60_000;
  const baseBlockMs = options.baseBlockMs ?? 30_000;
  const maxBlockMs = options.maxBlockMs ?? 300_000;
  const forgetAfterMs = options.forgetAfterMs ?? 15 * 60_000;
  const maxEntries = options.maxEntries ?? 10_000;
  const now = options.now ?? Date.now;
  // A Map iterates in insertion order; re-inserting on every touch keeps it ordered by last use (LRU).
  const entries = new Map<string, Entry>();
  let operations = 0;

  function sweep(time: number): void {
    for (const [key, entry] of entries) {
      if (time - entry.lastSeen < forgetAfterMs) break; // ordered by lastSeen: the rest are fresher
      if (entry.blockedUntil > time) continue;
      entries.delete(key);
    }
  }

  function touch(key: string, entry: Entry, time: number): void {
    entry.lastSeen = time;
    entries.delete(key);
    entries.set(key, entry);
  }

  function decision(entry: Entry | undefined, time: number): RateDecision {
    if (!entry || entry.blockedUntil <= time) return { allowed: true };
    return { allowed: false, retryAfterSeconds: Math.ceil((entry.blockedUntil - time) / 1000) };
  }

  return {
    check(address: string): RateDecision {
      return decision(entries.get(clientKey(address)), now());
    },
    recordFailure(address: string): RateDecision {
      const time = now();
      if (++operations % 256 === 0) sweep(time);
      const key = clientKey(address);
      let entry = entries.get(key);
      if (entry && time - entry.lastSeen >= forgetAfterMs && entry.blockedUntil <= time) entry = undefined;
      if (!entry) {
        entry = { failures: [], blockedUntil: 0, offences: 0, lastSeen: time };
        if (entries.size >= maxEntries) {
          const oldest = entries.keys().next();
          if (!oldest.done) entries.delete(oldest.value);
        }
      }
      touch(key, entry, time);
      if (entry.blockedUntil > time) return decision(entry, time);
      entry.failures = entry.failures.filter((at) => time - at < windowMs);
      entry.failures.push(time);
      if (entry.failures.length >= maxFailures) {
        entry.offences += 1;
        entry.blockedUntil = time + Math.min(maxBlockMs, baseBlockMs * 2 ** (entry.offences - 1));
        entry.failures = [];
      }
      return decision(entry, time);
    },
    recordSuccess(address: string): void {
      const entry = entries.get(clientKey(address));
      if (entry) entry.failures = [];
    },
    size(): number {
      return entries.size;
    },
    close(): void {
      entries.clear();
    },
  };
}
