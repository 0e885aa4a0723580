import { openSqliteTrashStore, type TrashStore } from '../lifecycle/trash-store.js';
import type { MetadataBackend } from '../state/metadata-backend.js';
import type { RepositoryIndex } from './repository-index.js';
import { openSqliteRepositoryIndex } from './sqlite-repository-index.js';
import { openUsageStore, type UsageStore } from './usage-store.js';

/**
 * The metadata index, the pull records and the trash of one instance, opened together where the instance is composed:
 * SQLite files in the data directory (one machine), or the PostgreSQL database that several nodes share. Pass them to
 * createRegistry (`stores`); it closes them, and the last one closed ends the pool opened here.
 */
export interface IndexStores {
  readonly index: RepositoryIndex;
  readonly usage: UsageStore;
  readonly trash: TrashStore;
}

/** The one place the index backend is chosen: the same `--metadata` choice as the state (state/metadata-backend.ts). */
export function openIndexStores(dataDir: string, backend: MetadataBackend, options: PostgresIndexStoresOptions = {}): Promise<IndexStores> {
  if (backend.kind === 'file') return Promise.resolve(openSqliteIndexStores(dataDir));
  // Loaded only here: the desktop default never loads the PostgreSQL client.
  return import('./postgres-index-stores.js').then(({ openPostgresIndexStores }) => openPostgresIndexStores(backend.target, options));
}

export function openSqliteIndexStores(dataDir: string): IndexStores {
  return { index: openSqliteRepositoryIndex(dataDir), usage: openUsageStore(dataDir), trash: openSqliteTrashStore(dataDir) };
}

export interface PostgresIndexStoresOptions {
  /** Apply pending migrations first (`berth serve`); otherwise a database without the index tables fails queries. */
  readonly migrate?: boolean;
}

