import { EventEmitter } from 'node:events';
import { UpstreamUnavailableError } from './errors.js';

/**
 * Per-upstream health, after Verdaccio's uplinks, as the last contact said: a failed contact (pull-through, sync,
 * the admin's Test, the background probe) takes the upstream offline at once, a successful one brings it back.
 * While offline, requests fail at once (no connection attempt, no client waiting on a timeout) for a short
 * window that doubles with each failed retry (1 s, 2 s, 4 s ... up to 10 s by default); when it has passed,
 * exactly one request goes through as a probe and its outcome decides. A 429 with Retry-After takes the upstream
 * offline at once for as long as it asked. Answers that are not outages ("not found", 401, 403) are successes
 * here: the upstream answered.
 */
export interface UpstreamHealthOptions {
  /** Consecutive failures before going offline. Default 1: the last contact decides. */
  readonly maxFailures?: number;
  /** How long to stay offline before letting the first probe through. Default 1 s. */
  readonly offlineForMs?: number;
  /** Each failed probe doubles the window, up to this. Default 10 s (or offlineForMs, when that is longer). */
  readonly maxOfflineForMs?: number;
  /** Clock (ms since the epoch); default Date.now. */
  readonly now?: () => number;
  /** The upstream's name, for the errors thrown while offline. */
  readonly name?: string;
  /**
   * Words for `lastError` (shown in the GUI's offline notice and `upstream list`); default the error's message.
   * The client passes the verdict `berth upstream test` gives, so every place says the same plain sentence.
   */
  readonly describe?: (error: UpstreamUnavailableError) => string;
}

export interface UpstreamHealthState {
  readonly online: boolean;
  readonly consecutiveFailures: number;
  /** Message of the last failure (kept after recovery, for the GUI's "last problem" line). */
  readonly lastError?: string;
  /** While offline: when a probe will be let through (ms since the epoch). */
  readonly offlineUntil?: number;
}

export interface UpstreamHealthChange {
  readonly name: string;
  readonly online: boolean;
  readonly state: UpstreamHealthState;
}

export interface UpstreamHealthEvents {
  change: [UpstreamHealthChange];
}

export interface UpstreamHealth extends EventEmitter<UpstreamHealthEvents> {
  readonly name: string;
  state(): UpstreamHealthState;
  /**
   * Call before a request: throws UpstreamUnavailableError (reason 'offline') while offline, unless this call
   * is the one probe allowed after the window. Every admitted request must end in exactly one of
   * succeeded(), failed() or abandoned().
   */
  admit(): void;
  succeeded(): void;
  /** Failures that are answers, not outages (see UpstreamUnavailableError.countsAgainstHealth), count as successes. */
  failed(error: UpstreamUnavailableError): void;
  /** The request ended without a verdict (the caller aborted it): a probe slot is freed. */
  abandoned(): void;
}

export function createUpstreamHealth(options: UpstreamHealthOptions = {}): UpstreamHealth {
  const maxFailures = Math.max(1, options.maxFailures ?? 1);
  const offlineForMs = options.offlineForMs ?? 1000;
  const maxOfflineForMs = Math.max(offlineForMs, options.maxOfflineForMs ?? 10_000);
  const now = options.now ?? Date.now;
  const name = options.name ?? 'upstream';

  let online = true;
  let consecutiveFailures = 0;
  let lastError: string | undefined;
  let offlineUntil: number | undefined;
  let probing = false;

  const snapshot = (): UpstreamHealthState => ({
    online,
    consecutiveFailures,
    ...(lastError !== undefined ? { lastError } : {}),
    ...(!online && offlineUntil !== undefined ? { offlineUntil } : {}),
  });

  const emitter = new EventEmitter<UpstreamHealthEvents>();
  const setOnline = (value: boolean): void => {
    if (online === value) return;
    online = value;
    emitter.emit('change', { name, online, state: snapshot() });
  };

  function succeeded(): void {
    probing = false;
    consecutiveFailures = 0;
    offlineUntil = undefined;
    setOnline(true);
  }

  return Object.assign(emitter, {
    name,
    state: snapshot,

    admit(): void {
      if (online) return;
      const until = offlineUntil ?? 0;
      if (!probing && now() >= until) {
        probing = true;
        return;
      }
      const seconds = Math.max(0, Math.ceil((until - now()) / 1000));
      const why = probing ? 'a probe request is in flight' : `retrying in ${seconds} s`;
      const message = `offline after ${consecutiveFailures} failure(s) (${why}); last error: ${lastError ?? 'unknown'}`;
      throw new UpstreamUnavailableError(name, 'offline', message);
    },

    succeeded,

    failed(error: UpstreamUnavailableError): void {
      if (!error.countsAgainstHealth) {
        // It answered (401, 403, an unexpected status): reachable, whatever it thought of the request.
        succeeded();
        return;
      }
      probing = false;
      consecutiveFailures++;
      lastError = options.describe ? options.describe(error) : error.message;
      const rateLimited = error.reason === 'rate-limited' && error.retryAfterMs !== undefined;
      const rateLimitedUntil = rateLimited ? now() + (error.retryAfterMs ?? 0) : undefined;
      if (consecutiveFailures >= maxFailures || rateLimitedUntil !== undefined) {
        const retries = Math.min(consecutiveFailures - maxFailures, 16);
        const window = consecutiveFailures >= maxFailures ? Math.min(offlineForMs * 2 ** Math.max(0, retries), maxOfflineForMs) : 0;
        offlineUntil = Math.max(now() + window, rateLimitedUntil ?? 0);
        if (!online) return; // a failed probe: stays offline with a new window
        setOnline(false);
      }
    },

    abandoned(): void {
      probing = false;
    },
  });
}
