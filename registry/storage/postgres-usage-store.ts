import type pg from 'pg';
import { inTransaction } from '../state/postgres/database.js';
import type { PullTally, StoredUsage, UsageStore } from './usage-store.js';

/**
 * Pull records in PostgreSQL (migration 4), summed over every node that shares the database: the same records
 * and semantics as the SQLite file (storage/usage-store.ts).
 *
 * A flush is one transaction of three bulk upserts (references, repositories, days), each over its batch summed
 * per key and in key order. Two nodes flushing overlapping keys therefore lock rows in the same order: one waits
 * for the other, neither deadlocks, and both increments count (`count = count + excluded.count` under the row lock).
 *
 * The pool belongs to whoever opened it: close() leaves it open.
 */
export function openPostgresUsageStore(pool: pg.Pool): UsageStore {
  return {
    async add(batch) {
      const tallies = [...batch];
      if (tallies.length === 0) return;
      const column = <T>(pick: (tally: PullTally) => T) => tallies.map(pick);
      const values = [
        column((t) => t.repository),
        column((t) => t.reference),
        column((t) => t.day),
        column((t) => t.count),
        column((t) => new Date(t.lastPulledAt)),
      ];
      await inTransaction(pool, async (client) => {
        for (const statement of [sql.addReferences, sql.addRepositories, sql.addDays]) await client.query(statement, values);
      });
    },
    async referenceUsage(repository, references) {
      const { rows } = await pool.query<{ count: string | null; last: Date | null }>(sql.reference, [repository, [...references]]);
      const row = rows[0];
      if (!row || row.count === null || row.last === null) return undefined;
      return { pullCount: Number(row.count), lastPulledAt: row.last.getTime() } satisfies StoredUsage;
    },
    async repositoryUsage(repository, fromDay) {
      const { rows } = await pool.query<{ since: string; last: Date | null }>(sql.repository, [repository, fromDay]);
      const pullsSince = Number(rows[0]?.since ?? 0);
      const last = rows[0]?.last;
      return last ? { pullsSince, lastPulledAt: last.getTime() } : { pullsSince };
    },
    async repositoryPullCount(repository) {
      const { rows } = await pool.query<{ count: string }>(sql.repositoryCount, [repository]);
      return Number(rows[0]?.count ?? 0);
    },
    async forget(repository) {
      await inTransaction(pool, async (client) => {
        for (const statement of sql.forget) await client.query(statement, [repository]);
      });
    },
    async pruneDaysBefore(day) {
      await pool.query(sql.pruneDays, [day]);
    },
    async addPullBytes(batch) {
      const tallies = [...batch];
      if (tallies.length === 0) return;
      await pool.query(sql.addPullBytes, [tallies.map((t) => t.namespace), tallies.map((t) => t.month), tallies.map((t) => t.bytes)]);
    },
    async pullBytes(namespace, month) {
      const { rows } = await pool.query<{ bytes: string }>(sql.pullBytes, [namespace, month]);
      return Number(rows[0]?.bytes ?? 0);
    },
    async close() {
      // The pool is its opener's to end.
    },
  };
}

/** The batch arrives as five parallel arrays: $1 repository, $2 reference, $3 day, $4 count, $5 last pull. */
const batch = 'unnest($1::text[], $2::text[], $3::integer[], $4::bigint[], $5::timestamptz[]) AS u(repository, reference, day, count, last)';

const sql = {
  addReferences: `INSERT INTO berth_reference_pulls (repository, reference, count, last_pulled_at)
                  SELECT repository, reference, sum(count), max(last) FROM ${batch}
                  GROUP BY repository, reference ORDER BY repository, reference
                  ON CONFLICT (repository, reference) DO UPDATE SET count = berth_reference_pulls.count + excluded.count,
                    last_pulled_at = greatest(berth_reference_pulls.last_pulled_at, excluded.last_pulled_at)`,
  addRepositories: `INSERT INTO berth_repository_pulls (repository, count, last_pulled_at)
                    SELECT repository, sum(count), max(last) FROM ${batch}
                    GROUP BY repository ORDER BY repository
                    ON CONFLICT (repository) DO UPDATE SET count = berth_repository_pulls.count + excluded.count,
                      last_pulled_at = greatest(berth_repository_pulls.last_pulled_at, excluded.last_pulled_at)`,
  addDays: `INSERT INTO berth_daily_pulls (repository, day, count)
            SELECT repository, day, sum(count) FROM ${batch}
            GROUP BY repository, day ORDER BY repository, day
            ON CONFLICT (repository, day) DO UPDATE SET count = berth_daily_pulls.count + excluded.count`,
  // Null sums when none of the references was ever pulled.
  reference: `SELECT sum(count) AS count, max(last_pulled_at) AS last FROM berth_reference_pulls
              WHERE repository = $1 AND reference = ANY($2::text[])`,
  repository: `SELECT (SELECT coalesce(sum(count), 0) FROM berth_daily_pulls WHERE repository = $1 AND day >= $2) AS since,
                      (SELECT last_pulled_at FROM berth_repository_pulls WHERE repository = $1) AS last`,
  repositoryCount: 'SELECT count FROM berth_repository_pulls WHERE repository = $1',
  pruneDays: 'DELETE FROM berth_daily_pulls WHERE day < $1',
  // Summed per key and in key order, like the pull records: concurrent flushes of two nodes lock rows in one order.
  addPullBytes: `INSERT INTO berth_monthly_pull_bytes (namespace, month, bytes)
                 SELECT namespace, month, sum(bytes) FROM unnest($1::text[], $2::text[], $3::bigint[]) AS u(namespace, month, bytes)
                 GROUP BY namespace, month ORDER BY namespace, month
                 ON CONFLICT (namespace, month) DO UPDATE SET bytes = berth_monthly_pull_bytes.bytes + excluded.bytes`,
  pullBytes: 'SELECT bytes FROM berth_monthly_pull_bytes WHERE namespace = $1 AND month = $2',
  forget: [
    'DELETE FROM berth_reference_pulls WHERE repository = $1',
    'DELETE FROM berth_repository_pulls WHERE repository = $1',
    'DELETE FROM berth_daily_pulls WHERE repository = $1',
  ],
} as const;
