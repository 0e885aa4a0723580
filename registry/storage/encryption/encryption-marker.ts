import { isPathNotFound, type StorageDriver } from '../driver.js';
import { pathFor } from '../paths.js';

/**
 * Whether new content is written encrypted: a small object in the storage itself (`/berth-encryption`), so every
 * process that opens the storage (the server, a CLI gc or sync, every node of a cluster on one bucket) agrees,
 * with no setting to keep in step. Reading does not depend on it: each object says by its header whether it is
 * encrypted, so a store that is part plaintext, part encrypted (while `berth encryption enable` runs) reads whole.
 */
export interface EncryptionMarker {
  readonly enabled: true;
  readonly enabledAt: string;
}

export async function readEncryptionMarker(driver: StorageDriver): Promise<EncryptionMarker | undefined> {
  try {
    const marker = JSON.parse((await driver.getContent(pathFor({ kind: 'encryptionMarker' }))).toString('utf8')) as EncryptionMarker;
    return marker.enabled === true ? marker : undefined;
  } catch (error) {
    if (isPathNotFound(error)) return undefined;
    throw error;
  }
}

export async function writeEncryptionMarker(driver: StorageDriver, now = new Date()): Promise<EncryptionMarker> {
  const existing = await readEncryptionMarker(driver);
  if (existing) return existing;
  const marker: EncryptionMarker = { enabled: true, enabledAt: now.toISOString() };
  await driver.putContent(pathFor({ kind: 'encryptionMarker' }), JSON.stringify(marker));
  return marker;
}
