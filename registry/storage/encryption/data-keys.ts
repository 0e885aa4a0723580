import { randomBytes } from 'node:crypto';
import { secretBoxWithKey } from '../../auth/secret-box.js';
import { isPathNotFound, type StorageDriver } from '../driver.js';
import { pathFor } from '../paths.js';
import { EncryptedObjectError, newKeyId } from './frame-format.js';
import type { MasterKeys } from './key-ring.js';

/**
 * Every encrypted object has its own 256-bit data key. The key is stored in the storage itself, wrapped (sealed
 * with AES-256-GCM, the secret box's form, its id as associated data) by a master key of the ring, at
 * `/encryption/data-keys/<2 hex>/<id>`; the object's header names the id. Rotating the master key rewrites these
 * small files only (putContent is atomic: a reader sees the old wrapping or the new, both of which open).
 *
 * A key file: `{"version":1,"master":"mk-...","sealed":"v1...."}`.
 */
export interface DataKeys {
  /** Makes and stores a new data key (wrapped by the active master key). */
  create(): Promise<{ id: string; key: Buffer }>;
  /** The data key `id` (cached; unwrapped once per process). */
  open(id: string): Promise<Buffer>;
  /** Re-wraps every stored data key not wrapped by the active master key; returns how many, of how many. */
  rewrapAll(onProgress?: (done: number) => void): Promise<{ rewrapped: number; total: number }>;
  /** Deletes data key `id` (its object is gone). */
  remove(id: string): Promise<void>;
  /** How many stored data keys each master key wraps. */
  countByMaster(): Promise<Map<string, number>>;
}

interface KeyFile {
  version: 1;
  master: string;
  sealed: string;
}

const cacheLimit = 4096;

export function createDataKeys(driver: StorageDriver, masterKeys: MasterKeys): DataKeys {
  /** Unwrapped keys by id, oldest first (a Map keeps insertion order): a small LRU. */
  const cache = new Map<string, Buffer>();

  const context = (id: string) => `berth data key ${id}`;

  async function seal(id: string, key: Buffer): Promise<KeyFile> {
    const master = await masterKeys.active();
    return { version: 1, master: master.id, sealed: secretBoxWithKey(master.key).seal(key.toString('base64'), context(id)) };
  }

  async function unseal(id: string, file: KeyFile): Promise<Buffer> {
    const master = await masterKeys.byId(file.master);
    let key: Buffer;
    try {
      key = Buffer.from(secretBoxWithKey(master.key).open(file.sealed, context(id)), 'base64');
    } catch (error) {
      throw new EncryptedObjectError(`data key ${id} does not open with master key ${file.master}: the key file is damaged`, { cause: error });
    }
    if (key.length !== 32) throw new EncryptedObjectError(`data key ${id} is not a 256-bit key`);
    return key;
  }

  async function readKeyFile(id: string): Promise<KeyFile> {
    let bytes: Buffer;
    try {
      bytes = await driver.getContent(pathFor({ kind: 'dataKey', keyId: id }));
    } catch (error) {
      if (isPathNotFound(error)) throw new EncryptedObjectError(`data key ${id} is missing from the storage: this object cannot be decrypted`, { cause: error });
      throw error;
    }
    const file = JSON.parse(bytes.toString('utf8')) as KeyFile;
    if (file.version !== 1 || typeof file.master !== 'string' || typeof file.sealed !== 'string') throw new EncryptedObjectError(`data key ${id}: not a key file`);
    return file;
  }

  function remember(id: string, key: Buffer): void {
    cache.delete(id);
    cache.set(id, key);
    if (cache.size > cacheLimit) cache.delete(cache.keys().next().value as string);
  }

  async function* keyIds(): AsyncGenerator<string> {
    const root = pathFor({ kind: 'dataKeysRoot' });
    for (const fanout of await driver.list(root)) {
      for (const name of await driver.list(`${root}/${fanout}`)) {
        if (/^[0-9a-f]{32}$/.test(name)) yield name;
      }
    }
  }

  async function* keyFiles(): AsyncGenerator<{ id: string; file: KeyFile }> {
    for await (const id of keyIds()) {
      try {
        yield { id, file: await readKeyFile(id) };
      } catch (error) {
        // Deleted meanwhile: nothing to re-wrap or count.
        if (error instanceof EncryptedObjectError && isPathNotFound(error.cause)) continue;
        throw error;
      }
    }
  }

  return {
    async create() {
      const id = newKeyId();
      const key = randomBytes(32);
      await driver.putContent(pathFor({ kind: 'dataKey', keyId: id }), JSON.stringify(await seal(id, key)));
      remember(id, key);
      return { id, key };
    },

    async open(id) {
      const cached = cache.get(id);
      if (cached) return cached;
      const key = await unseal(id, await readKeyFile(id));
      remember(id, key);
      return key;
    },

    async rewrapAll(onProgress) {
      const active = await masterKeys.active();
      let rewrapped = 0;
      let total = 0;
      for await (const { id, file } of keyFiles()) {
        total += 1;
        if (file.master === active.id) continue;
        const key = await unseal(id, file);
        await driver.putContent(pathFor({ kind: 'dataKey', keyId: id }), JSON.stringify(await seal(id, key)));
        rewrapped += 1;
        onProgress?.(rewrapped);
      }
      return { rewrapped, total };
    },

    async remove(id) {
      cache.delete(id);
      await driver.delete(pathFor({ kind: 'dataKey', keyId: id }));
    },

    async countByMaster() {
      const counts = new Map<string, number>();
      for await (const { file } of keyFiles()) counts.set(file.master, (counts.get(file.master) ?? 0) + 1);
      return counts;
    },
  };
}
