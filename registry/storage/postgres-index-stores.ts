import type pg from 'pg';
import { openPostgresDatabase, type PostgresTarget } from '../state/postgres/database.js';
import { migrate } from '../state/postgres/migrations.js';
import type { IndexStores, PostgresIndexStoresOptions } from './metadata-index-stores.js';
import { openPostgresRepositoryIndex } from './postgres-repository-index.js';
import { openPostgresUsageStore } from './postgres-usage-store.js';
import { openPostgresTrashStore } from '../lifecycle/postgres-trash-store.js';

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
  const trash = openPostgresTrashStore(pool);
  if (!owned) return { index, usage, trash };
  let open = 3;
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
    trash: { ...trash, close: once(trash.close) },
  };
}
