import { join } from 'node:path';
import Database from 'better-sqlite3';
import { openPrivateSqlite } from './private-sqlite.js';

/**
 * Pull records (how often and when manifests were pulled) in their own SQLite file, `<data>/usage/pulls.sqlite`.
 *
 * Neither a table of the metadata index nor a file beside it under `index/`: the index is derived from the link
 * files, dropped and rebuilt when its schema version changes, and `index/` may be deleted at any time (it is
 * rebuilt), while pull records exist nowhere else. A file of its own also keeps the periodic flush from taking
 * the index's write lock while pushes write links.
 *
 * WAL with `synchronous=NORMAL`, one transaction per flush: a killed process loses only what it had not flushed,
 * never half a flush; only an OS crash can lose the last committed flushes.
 *
 * The contract is async so that a shared database can hold the same records for several nodes
 * (storage/postgres-usage-store.ts); both run test/storage/usage-store-contract.ts.
 */
export interface UsageStore {
  /** Adds one batch of counted pulls in one transaction: all of it or, when it fails, nothing. */
  add(batch: Iterable<PullTally>): Promise<void>;
  /** What was recorded for these references of one repository (a tag, a digest), summed; undefined when never pulled. */
  referenceUsage(repository: string, references: readonly string[]): Promise<StoredUsage | undefined>;
  /** Pulls of the repository on UTC days `fromDay` and later, and its last pull ever. */
  repositoryUsage(repository: string, fromDay: number): Promise<{ pullsSince: number; lastPulledAt?: number }>;
  /** Every pull of the repository ever recorded (pruning day buckets keeps this total). */
  repositoryPullCount(repository: string): Promise<number>;
  /** Drops every record of a repository (it was deleted: a new one of the same name starts afresh). */
  forget(repository: string): Promise<void>;
  /** Drops the day buckets before `day` (the totals per reference and repository stay). */
  pruneDaysBefore(day: number): Promise<void>;
  /** Adds blob bytes served per namespace and month, in one transaction (registry/lifecycle/pull-traffic.ts). */
  addPullBytes(batch: Iterable<PullBytesTally>): Promise<void>;
  /** Blob bytes served from `namespace` in `month` (`YYYY-MM`, UTC); 0 when none. */
  pullBytes(namespace: string, month: string): Promise<number>;
  close(): Promise<void>;
}

/** The pulls of one reference (tag or digest) of one repository on one UTC day. */
export interface PullTally {
  repository: string;
  reference: string;
  /** UTC day number: milliseconds since the epoch / 86,400,000, rounded down. */
  day: number;
  count: number;
  /** Epoch milliseconds of the newest of them. */
  lastPulledAt: number;
}

/** Blob bytes served from one namespace in one calendar month. */
export interface PullBytesTally {
  namespace: string;
  /** `YYYY-MM`, UTC. */
  month: string;
  bytes: number;
}

export interface StoredUsage {
  pullCount: number;
  lastPulledAt: number;
}

export const dayMs = 86_400_000;
export const dayOf = (epochMs: number): number => Math.floor(epochMs / dayMs);

const usageSchemaVersion = 1;

// Only ever added to: a later version migrates these tables in place, since nothing can rebuild them.
const schema = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS reference_pulls (
  repository TEXT NOT NULL, reference TEXT NOT NULL, count INTEGER NOT NULL, last_pulled_at INTEGER NOT NULL,
  PRIMARY KEY (repository, reference)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS repository_pulls (
  repository TEXT PRIMARY KEY, count INTEGER NOT NULL, last_pulled_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS daily_pulls (
  repository TEXT NOT NULL, day INTEGER NOT NULL, count INTEGER NOT NULL,
  PRIMARY KEY (repository, day)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS monthly_pull_bytes (
  namespace TEXT NOT NULL, month TEXT NOT NULL, bytes INTEGER NOT NULL,
  PRIMARY KEY (namespace, month)
) WITHOUT ROWID;
`;

/** Where the pull records of a data directory live. */
export const usageFileOf = (dataDir: string): string => join(dataDir, 'usage', 'pulls.sqlite');

/** Opens (creating) the pull records of a data directory, owner-only like everything in it. */
export function openUsageStore(dataDir: string): UsageStore {
  const file = usageFileOf(dataDir);
  const db = openPrivateSqlite(file);
  db.transaction(() => {
    db.exec(schema);
    const version = db.prepare("SELECT value FROM meta WHERE key = 'schema'").pluck().get() as string | undefined;
    if (version === undefined) db.prepare("INSERT INTO meta (key, value) VALUES ('schema', ?)").run(String(usageSchemaVersion));
    else if (Number(version) > usageSchemaVersion) {
      throw new Error(`${file} was written by a newer Berth (pull records version ${version}); run that version, or move the file away to start the records afresh`);
    }
  }).immediate();

  const statements = {
    addReference: db.prepare(
      `INSERT INTO reference_pulls (repository, reference, count, last_pulled_at) VALUES (?, ?, ?, ?)
       ON CONFLICT DO UPDATE SET count = count + excluded.count, last_pulled_at = max(last_pulled_at, excluded.last_pulled_at)`,
    ),
    addRepository: db.prepare(
      `INSERT INTO repository_pulls (repository, count, last_pulled_at) VALUES (?, ?, ?)
       ON CONFLICT DO UPDATE SET count = count + excluded.count, last_pulled_at = max(last_pulled_at, excluded.last_pulled_at)`,
    ),
    addDay: db.prepare(
      'INSERT INTO daily_pulls (repository, day, count) VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET count = count + excluded.count',
    ),
    reference: db.prepare('SELECT count, last_pulled_at FROM reference_pulls WHERE repository = ? AND reference = ?'),
    repositoryLast: db.prepare('SELECT last_pulled_at FROM repository_pulls WHERE repository = ?').pluck(),
    repositoryCount: db.prepare('SELECT count FROM repository_pulls WHERE repository = ?').pluck(),
    repositorySince: db.prepare('SELECT coalesce(sum(count), 0) FROM daily_pulls WHERE repository = ? AND day >= ?').pluck(),
    pruneDays: db.prepare('DELETE FROM daily_pulls WHERE day < ?'),
    forgetReferences: db.prepare('DELETE FROM reference_pulls WHERE repository = ?'),
    forgetRepository: db.prepare('DELETE FROM repository_pulls WHERE repository = ?'),
    forgetDays: db.prepare('DELETE FROM daily_pulls WHERE repository = ?'),
    addPullBytes: db.prepare(
      'INSERT INTO monthly_pull_bytes (namespace, month, bytes) VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET bytes = bytes + excluded.bytes',
    ),
    pullBytes: db.prepare('SELECT bytes FROM monthly_pull_bytes WHERE namespace = ? AND month = ?').pluck(),
  };
  const addPullBytes = db.transaction((batch: Iterable<PullBytesTally>) => {
    for (const tally of batch) statements.addPullBytes.run(tally.namespace, tally.month, tally.bytes);
  });
  const forget = db.transaction((repository: string) => {
    statements.forgetReferences.run(repository);
    statements.forgetRepository.run(repository);
    statements.forgetDays.run(repository);
  });

  const add = db.transaction((batch: Iterable<PullTally>) => {
    for (const tally of batch) {
      statements.addReference.run(tally.repository, tally.reference, tally.count, tally.lastPulledAt);
      statements.addRepository.run(tally.repository, tally.count, tally.lastPulledAt);
      statements.addDay.run(tally.repository, tally.day, tally.count);
    }
  });

  return {
    async add(batch) {
      add.immediate(batch);
    },
    async referenceUsage(repository, references) {
      let found: StoredUsage | undefined;
      for (const reference of new Set(references)) {
        const row = statements.reference.get(repository, reference) as { count: number; last_pulled_at: number } | undefined;
        if (!row) continue;
        found = { pullCount: (found?.pullCount ?? 0) + row.count, lastPulledAt: Math.max(found?.lastPulledAt ?? 0, row.last_pulled_at) };
      }
      return found;
    },
    async repositoryUsage(repository, fromDay) {
      const pullsSince = statements.repositorySince.get(repository, fromDay) as number;
      const lastPulledAt = statements.repositoryLast.get(repository) as number | undefined;
      return lastPulledAt === undefined ? { pullsSince } : { pullsSince, lastPulledAt };
    },
    async repositoryPullCount(repository) {
      return (statements.repositoryCount.get(repository) as number | undefined) ?? 0;
    },
    async forget(repository) {
      forget.immediate(repository);
    },
    async pruneDaysBefore(day) {
      statements.pruneDays.run(day);
    },
    async addPullBytes(batch) {
      addPullBytes.immediate(batch);
    },
    async pullBytes(namespace, month) {
      return (statements.pullBytes.get(namespace, month) as number | undefined) ?? 0;
    },
    async close() {
      if (db.open) db.close();
    },
  };
}
