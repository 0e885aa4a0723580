import type pg from 'pg';
import { inTransaction } from './database.js';
import { migrations as berthMigrations } from './migration-list.js';

/**
 * Applies Berth's numbered SQL migrations to a PostgreSQL database, in order, once. Several nodes starting at
 * once are safe: the whole run is one transaction under a transaction-level advisory lock, so the second node
 * waits, then finds everything applied. Each applied migration is a row of `berth_schema_migrations`.
 */

export interface Migration {
  /** 1, 2, 3, ...: the order of application. Never renumber or edit one that was released. */
  readonly id: number;
  /** A short description, recorded with it and printed by `berth migrate`. */
  readonly name: string;
  readonly sql: string;
}

export interface AppliedMigration {
  readonly id: number;
  readonly name: string;
}

export class MigrationError extends Error {
  readonly code = 'BERTH_MIGRATION';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MigrationError';
  }
}

/** Key of the advisory lock (an arbitrary constant, the same for every Berth): "berth" in ASCII. */
const migrationLockKey = 0x6265727468;

/** Refuses a list with gaps, duplicates or misordering: those would apply differently on different nodes. */
export function checkMigrationList(list: readonly Migration[]): void {
  list.forEach((migration, index) => {
    if (migration.id !== index + 1) {
      throw new MigrationError(`migration list: entry ${index + 1} has id ${migration.id} (ids must be 1, 2, 3, ... in order)`);
    }
  });
}

/** Applies what is missing; returns what this call applied (empty when the database was up to date). */
export async function migrate(pool: pg.Pool, list: readonly Migration[] = berthMigrations): Promise<AppliedMigration[]> {
  checkMigrationList(list);
  return inTransaction(pool, async (client) => {
    // Another node's migration may take a while (a big table): wait for it longer than for an ordinary lock.
    await client.query("SET LOCAL lock_timeout = '10min'");
    await client.query('SELECT pg_advisory_xact_lock($1)', [migrationLockKey]);
    await client.query(`CREATE TABLE IF NOT EXISTS berth_schema_migrations (
      id integer PRIMARY KEY,
      name text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
    const { rows } = await client.query<{ id: number }>('SELECT id FROM berth_schema_migrations ORDER BY id');
    const done = new Set(rows.map((row) => row.id));
    const newest = rows.at(-1)?.id ?? 0;
    if (newest > list.length) {
      throw new MigrationError(
        `the database's schema is at migration ${newest}, newer than this Berth knows (${list.length}): upgrade Berth on this node`,
      );
    }
    const applied: AppliedMigration[] = [];
    for (const migration of list) {
      if (done.has(migration.id)) continue;
      try {
        await client.query(migration.sql);
      } catch (error) {
        throw new MigrationError(`migration ${migration.id} (${migration.name}) failed: ${(error as Error).message}`, { cause: error });
      }
      await client.query('INSERT INTO berth_schema_migrations (id, name) VALUES ($1, $2)', [migration.id, migration.name]);
      applied.push({ id: migration.id, name: migration.name });
    }
    return applied;
  });
}

/** The migrations this Berth knows that the database lacks, without applying anything. */
export async function pendingMigrations(pool: pg.Pool, list: readonly Migration[] = berthMigrations): Promise<AppliedMigration[]> {
  const { rows: exists } = await pool.query<{ found: boolean }>("SELECT to_regclass('berth_schema_migrations') IS NOT NULL AS found");
  const done = new Set<number>();
  if (exists[0]?.found) {
    for (const row of (await pool.query<{ id: number }>('SELECT id FROM berth_schema_migrations')).rows) done.add(row.id);
  }
  return list.filter((migration) => !done.has(migration.id)).map(({ id, name }) => ({ id, name }));
}
