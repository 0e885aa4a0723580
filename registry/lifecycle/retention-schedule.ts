import type { Logger } from '../log.js';
import type { RetentionReport, RetentionRunOptions } from './retention-run.js';

/**
 * Retention on a schedule, and the one queue every run takes (the schedule's, `berth retention run` through the
 * admin API, the GUI's "Run now" and "Preview"), so two runs never remove at the same time.
 *
 * Like garbage collection, on an hourly tick: the first scheduled run an hour after start (a desktop Berth rarely runs
 * a whole day), then once `Settings.retentionEveryHours` (default 24; 0 turns the schedule off) has passed since the
 * last. Read at every tick, so a changed setting applies without a restart. The schedule pauses itself per mirror
 * namespace while its upstream is offline (the plan evicts nothing there), so an offline laptop keeps its cache.
 */

export const defaultRetentionEveryHours = 24;
export const maxRetentionEveryHours = 24 * 30;
const hourMs = 3_600_000;

export function effectiveRetentionEveryHours(value: unknown): number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= maxRetentionEveryHours ? value : defaultRetentionEveryHours;
}

export interface RetentionScheduler {
  /** Runs now, after the run in progress (if any). */
  run(options: RetentionRunOptions): Promise<RetentionReport>;
  /** When the last scheduled or manual real run started, if any. */
  lastRunAt(): Date | undefined;
  /** What the timer does at every tick: starts a scheduled run when one is due. Returns that run, if it started one. */
  tick(): Promise<RetentionReport | undefined> | undefined;
  /** Stops the schedule; a run in progress finishes first. */
  close(): Promise<void>;
}

export interface RetentionSchedulerOptions {
  /** The run itself (retention-run.ts runRetention with the server's stores). */
  run: (options: RetentionRunOptions) => Promise<RetentionReport>;
  /** Hours between scheduled runs, read at every tick (Settings.retentionEveryHours through effectiveRetentionEveryHours). */
  everyHours: () => number;
  log: Logger;
  /**
   * Asked before a scheduled run, with the interval: true when this node may run now. The server claims the run in
   * the shared state (claimScheduledRun), so of several nodes on one database only one runs per interval, and a
   * restarted desktop Berth does not run again before the interval is up.
   */
  claim?: (intervalMs: number) => Promise<boolean>;
  /** Between checks; default an hour. Tests shorten it. */
  tickMs?: number;
  now?: () => number;
}

export function createRetentionScheduler(options: RetentionSchedulerOptions): RetentionScheduler {
  const now = options.now ?? Date.now;
  const startedAt = now();
  let queue: Promise<unknown> = Promise.resolve();
  let last: number | undefined;
  let closed = false;

  const run = (runOptions: RetentionRunOptions): Promise<RetentionReport> => {
    const next = queue.then(() => {
      // A manual run counts as the day's run: the schedule waits a whole interval after it.
      if (!runOptions.dryRun) last = now();
      return options.run(runOptions);
    });
    queue = next.catch(() => undefined);
    return next;
  };

  const tick = (): Promise<RetentionReport | undefined> | undefined => {
    if (closed) return undefined;
    const hours = options.everyHours();
    if (hours === 0) return undefined;
    const since = last ?? startedAt;
    // The first run an hour after start (not a whole interval), then every interval.
    if (now() - since < (last === undefined ? Math.min(hourMs, hours * hourMs) : hours * hourMs)) return undefined;
    last = now();
    const claimed = options.claim ? options.claim(hours * hourMs) : Promise.resolve(true);
    const started = claimed.then((mine) => (mine ? run({ dryRun: false }) : undefined));
    void started
      .then((report) => {
        if (!report) {
          // Another node (or this one before a restart) ran within the interval: look again at the next tick.
          last = undefined;
          return;
        }
        if (report.removals.length + report.skipped.length > 0) {
          options.log.info({ removed: report.removals.length, skipped: report.skipped.length, spared: report.spared.length }, 'retention removed %d tag(s) and manifest(s)', report.removals.length);
        }
      })
      .catch((error: unknown) => options.log.warn({ err: error }, 'scheduled retention failed; trying again at the next interval'));
    return started;
  };
  const timer = setInterval(() => void tick(), options.tickMs ?? hourMs);
  timer.unref();

  return {
    run,
    lastRunAt: () => (last === undefined ? undefined : new Date(last)),
    tick,
    async close() {
      closed = true;
      clearInterval(timer);
      await queue;
    },
  };
}

/**
 * The claim the server passes (RetentionSchedulerOptions.claim): one state update, serialised across processes and
 * nodes by the state store's lock, that takes the run when the last one started at least an interval ago.
 */
export async function claimScheduledRun(
  state: { update(fn: (draft: { settings: { retentionLastRunAt?: string } }) => void): Promise<unknown> },
  intervalMs: number,
  now = new Date(),
): Promise<boolean> {
  let claimed = false;
  await state.update((draft) => {
    const last = Date.parse(draft.settings.retentionLastRunAt ?? '');
    // A little slack: the nodes' hourly ticks drift apart by seconds, and a run due "now" must not wait another hour.
    if (Number.isFinite(last) && now.getTime() - last < intervalMs - 60_000) return;
    draft.settings.retentionLastRunAt = now.toISOString();
    claimed = true;
  });
  return claimed;
}
