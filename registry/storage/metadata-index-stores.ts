import type pg from 'pg';
import type { MetadataBackend } from '../state/metadata-backend.js';
import { openPostgresDatabase, type PostgresTarget } from '../state/postgres/database.js';
import { migrate } from '../state/postgres/migrations.js';
import { openPostgresRepositoryIndex } from './postgres-repository-index.js';
import { openPostgresUsageStore } from './postgres-usage-store.js';
import type { RepositoryIndex } from './repository-index.js';
import { openSqliteRepositoryIndex } from './sqlite-repository-index.js';
import { openUsageStore, type UsageStore } from './usage-store.js';

/**
 * The metadata index and the pull records of one instance, opened together where the instance is composed: SQLite
 * files in the data directory (one machine), or the PostgreSQL database that several nodes share. Pass both to
 * createRegistry (`index`, `usage`); it closes them, and the last one closed ends the pool opened here.
 */
export interface IndexStores {
  readonly index: RepositoryIndex;
  readonly usage: UsageStore;
}

/** The one place the index backend is chosen: the same `--metadata` choice as the state (state/metadata-backend.ts). */
export function openIndexStores(dataDir: string, backend: MetadataBackend, options: PostgresIndexStoresOptions = {}): Promise<IndexStores> {
  return backend.kind === 'file' ? Promise.resolve(openSqliteIndexStores(dataDir)) : openPostgresIndexStores(backend.target, options);
}

export function openSqliteIndexStores(dataDir: string): IndexStores {
  return { index: openSqliteRepositoryIndex(dataDir), usage: openUsageStore(dataDir) };
}

export interface PostgresIndexStoresOptions {
  /** Apply pending migrations first (`berth serve`); otherwise a database without the index tables fails queries. */
  readonly migrate?: boolean;
}

/** Over an open pool that the caller keeps and ends, or over its own pool opened from `target`. */
export async function openPostgresIndexStores(source: pg.Pool | PostgresTarget, options: PostgresIndexStoresOptions = {}): Promise<IndexStores> {
  const owned = 'url' in source ? openPostgresDatabase(source) : undefined;
  const pool = owned?.pool ?? (source as pg.Pool);
  try {
    if (options.migrate) await migrate(pool);
  } catch (error) {
    await owned?.close();
    throw owned ? new Error(`metadata database ${owned.label}: ${(error as Error).message}`, { cause: error }) : error;
  }
  const index = openPostgresRepositoryIndex(pool);
  const usage = openPostgresUsageStore(pool);
  if (!owned) return { index, usage };
  let open = 2;
  const released = async () => {
    open -= 1;
    if (open === 0) await owned.close();
  };
  const once = (close: () => Promise<void>) => {
    let closing: Promise<void> | undefined;
    return () => (closing ??= close().then(released));
  };
  return {
    index: { ...index, close: once(index.close) },
    usage: { ...usage, close: once(usage.close) },
  };
}
