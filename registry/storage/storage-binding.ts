import { randomBytes } from 'node:crypto';
import type { MetadataBackend } from '../state/metadata-backend.js';
import { inTransaction, openPostgresDatabase } from '../state/postgres/database.js';
import { PathNotFoundError, type StorageDriver } from './driver.js';
import { pathFor } from './paths.js';

/**
 * A shared metadata database describes ONE storage: its index lists the repositories, tags and links of that
 * bucket (or data directory). A node started with other storage would see an index that does not match its
 * files, and the index check at start would "forget" every repository its own storage lacks, for every node.
 * So the first node to use a database binds it: a random id is written once at the storage's root
 * (/berth-storage-id) and recorded in the database (berth_storage_binding); every later node must find the
 * same id in its storage, or it is refused before it serves anything.
 *
 * The whole check runs under a transaction-level advisory lock, so nodes starting together against a fresh
 * bucket agree on one id (the second waits for the first, then finds the id the first wrote). With the file
 * metadata backend (state.json beside the data) there is nothing to bind and nothing is written.
 */

/** The node's storage is not the one the metadata database is bound to. */
export class StorageMismatchError extends Error {
  readonly code = 'BERTH_STORAGE_MISMATCH';
  constructor(message: string) {
    super(message);
    this.name = 'StorageMismatchError';
  }
}

/** Key of the advisory lock (arbitrary, the same for every Berth; differs from the migration lock's). */
const bindingLockKey = 0x6265727469;
const idPattern = /^[0-9a-f]{32}$/;

export interface StorageBinding {
  /** The id both the storage and the database hold. */
  readonly storageId: string;
  /** True when this call bound the database (its first storage). */
  readonly bound: boolean;
}

/**
 * Checks (and on first use records) that `driver`'s storage is the one `metadata` is bound to; StorageMismatchError
 * when it is not. `description` (`s3://bucket?...` or `filesystem /data`) is recorded for the refusal message.
 */
export async function bindStorage(driver: StorageDriver, description: string, metadata: MetadataBackend): Promise<StorageBinding | undefined> {
  if (metadata.kind === 'file') return undefined;
  const database = openPostgresDatabase(metadata.target, { maxConnections: 1 });
  try {
    return await inTransaction(database.pool, async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1)', [bindingLockKey]);
      const { rows } = await client.query<{ storage_id: string; storage: string; bound_at: Date }>(
        'SELECT storage_id, storage, bound_at FROM berth_storage_binding',
      );
      const recorded = rows[0];
      const held = await readStorageId(driver);
      if (recorded) {
        if (held === recorded.storage_id) return { storageId: held, bound: false };
        const boundTo = `${recorded.storage} (storage id ${recorded.storage_id}, bound ${recorded.bound_at.toISOString()})`;
        const found = held === undefined ? `holds no Berth storage id (${pathFor({ kind: 'storageId' })})` : `holds storage id ${held}`;
        throw new StorageMismatchError(
          `the metadata database ${database.label} belongs to the storage ${boundTo}, but this node's storage ${description} ${found}: ` +
            'start every node with the same --storage as the first one (a node with other storage would corrupt the shared index)',
        );
      }
      const storageId = held ?? randomBytes(16).toString('hex');
      if (held === undefined) await driver.putContent(pathFor({ kind: 'storageId' }), `${storageId}\n`);
      await client.query('INSERT INTO berth_storage_binding (storage_id, storage) VALUES ($1, $2)', [storageId, description]);
      return { storageId, bound: true };
    });
  } catch (error) {
    if (error instanceof StorageMismatchError) throw error;
    if ((error as { code?: unknown }).code === '42P01') {
      throw new Error(`the metadata database ${database.label} lacks Berth's storage binding table: run "berth migrate" (or start "berth serve" once)`, { cause: error });
    }
    throw new Error(`binding the metadata database ${database.label} to the storage ${description}: ${(error as Error).message}`, { cause: error });
  } finally {
    await database.close();
  }
}

/** The id at the storage's root; undefined when there is none. A damaged file is an error, never replaced. */
export async function readStorageId(driver: StorageDriver): Promise<string | undefined> {
  let content: Buffer;
  try {
    content = await driver.getContent(pathFor({ kind: 'storageId' }));
  } catch (error) {
    if (error instanceof PathNotFoundError) return undefined;
    throw error;
  }
  const id = content.toString('utf8').trim();
  if (!idPattern.test(id)) {
    throw new StorageMismatchError(`the storage id file ${pathFor({ kind: 'storageId' })} is damaged ("${id.slice(0, 40)}"): restore it from the database's berth_storage_binding row`);
  }
  return id;
}
