import { readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import { auditDirName, auditFileGrammar, createAuditLog, type AuditLog } from './audit-log.js';

/**
 * Audit retention: the trail is append-only, one file per UTC day, so on a laptop that runs Berth for years it
 * would only grow. Whole day files older than the retention are deleted, judged by the day in the file's name
 * (never by mtime, which a backup restore or `touch` changes). Today's file is never deleted, and files whose
 * names are not a real `YYYY-MM-DD.jsonl` day are not Berth's to remove.
 */

/** What an unset (or 0) `settings.auditRetentionDays` means. */
export const defaultAuditRetentionDays = 365;
/** Ten years: beyond that the setting is more likely a typo than a policy. */
export const maxAuditRetentionDays = 3650;

const dayMs = 86_400_000;

export class AuditRetentionError extends Error {
  readonly code = 'BERTH_AUDIT_RETENTION_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'AuditRetentionError';
  }
}

/** The retention in effect for a stored setting: a whole number 1..3650, else (absent, 0, garbage) the default. */
export function effectiveAuditRetentionDays(setting: unknown): number {
  if (typeof setting === 'number' && Number.isSafeInteger(setting) && setting >= 1 && setting <= maxAuditRetentionDays) return setting;
  return defaultAuditRetentionDays;
}

/**
 * The first UTC day (YYYY-MM-DD) that a retention of `keepDays` keeps at `now`: everything of earlier days goes.
 * Refuses a retention outside 1..3650 days. Shared by the day files and the database.
 */
export function auditCutoffDay(keepDays: number, now: Date): string {
  if (!Number.isSafeInteger(keepDays) || keepDays < 1 || keepDays > maxAuditRetentionDays) {
    const range = `a whole number of days from 1 to ${maxAuditRetentionDays}`;
    throw new AuditRetentionError(`audit retention must be ${range}, not ${String(keepDays)}`);
  }
  return new Date(now.getTime() - keepDays * dayMs).toISOString().slice(0, 10);
}

export interface PruneAuditOptions {
  /** Days of history to keep, today included in the count back. Default 365. */
  keepDays?: number;
  /** Injected in tests; default the current time. */
  now?: Date;
  /**
   * The writer to record the `audit.prune` event with (the server's own, so its events stay in order). Without
   * one a short-lived writer is opened, as the CLI does: appends are single O_APPEND writes, safe beside a server.
   */
  audit?: AuditLog;
  /** The `client` of the prune event: 'local' for the server's own timer, 'cli' for `berth audit prune`. */
  client?: string;
}

function isRealDay(day: string): boolean {
  const parsed = new Date(`${day}T00:00:00.000Z`);
  return !Number.isNaN(parsed.getTime()) && parsed.toISOString().slice(0, 10) === day;
}

/**
 * Deletes the day files strictly older than `keepDays` days before `now` (with 90 days on 2030-06-30, the file of
 * 2030-04-01 stays and that of 2030-03-31 goes) and returns their names, oldest first. When something was deleted
 * the pruning is itself audited (`audit.prune`, actor 'berth') in today's file, which pruning never touches.
 */
export async function pruneAudit(dataDir: string, options: PruneAuditOptions = {}): Promise<string[]> {
  const keepDays = options.keepDays ?? defaultAuditRetentionDays;
  const now = options.now ?? new Date();
  const today = now.toISOString().slice(0, 10);
  const cutoff = auditCutoffDay(keepDays, now);
  const dir = join(dataDir, auditDirName);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const doomed = names
    .filter((name) => {
      const day = auditFileGrammar.exec(name)?.[1];
      // `day < today` is implied by keepDays >= 1; kept explicit because losing today's file is the one bug not to have.
      return day !== undefined && isRealDay(day) && day < cutoff && day < today;
    })
    .sort();
  const deleted: string[] = [];
  for (const name of doomed) {
    try {
      await unlink(join(dir, name));
      deleted.push(name);
    } catch (error) {
      // Another pruner (the CLI beside the server) got there first: not an error, and not ours to report.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  if (deleted.length > 0) {
    const event = {
      time: now,
      action: 'audit.prune',
      actor: 'berth',
      client: options.client ?? 'local',
      outcome: 'success' as const,
      detail: { count: deleted.length, keepDays, before: cutoff, oldest: deleted[0], newest: deleted.at(-1) },
    };
    if (options.audit) {
      await options.audit.record(event);
    } else {
      const audit = await createAuditLog(dataDir);
      try {
        await audit.record(event);
      } finally {
        await audit.close();
      }
    }
  }
  return deleted;
}

export interface AuditPrunerOptions {
  audit: AuditLog;
  /** Read at every run, so a changed setting applies at the next run without a restart. */
  keepDays: () => number;
  log: Logger;
  /** Default one day. */
  intervalMs?: number;
}

export interface AuditPruner {
  /** One pruning now (errors are logged, never thrown: a full disk must not stop the registry). */
  run(): Promise<void>;
  /** Stops the timer and waits for runs already asked for, so the audit log can be closed after them. */
  close(): Promise<void>;
}

/** Prunes once now and then every day; the timer is unref'd so it never keeps a process alive. */
export function createAuditPruner(options: AuditPrunerOptions): AuditPruner {
  const { audit, log } = options;
  let running: Promise<void> = Promise.resolve();
  let closed = false;

  function run(): Promise<void> {
    if (closed) return running;
    // A run asked for before close() still happens; close() waits for it.
    running = running.then(async () => {
      const keepDays = options.keepDays();
      try {
        const deleted = await audit.prune({ keepDays, client: 'local' });
        if (deleted.length > 0) {
          log.info({ deleted, keepDays }, 'pruned %d audit day(s) older than %d days', deleted.length, keepDays);
        }
      } catch (error) {
        log.warn({ err: error }, 'audit pruning failed');
      }
    });
    return running;
  }

  const timer = setInterval(() => void run(), options.intervalMs ?? dayMs);
  timer.unref();
  void run();

  return {
    run,
    async close() {
      closed = true;
      clearInterval(timer);
      await running;
    },
  };
}
