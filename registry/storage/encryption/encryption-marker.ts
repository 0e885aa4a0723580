import { isPathNotFound, type StorageDriver } from '../driver.js';
import { pathFor } from '../paths.js';

/**
 * Whether new content is written encrypted: a small object in the storage itself (`/berth-encryption`), so every
 * process that opens the storage (the server, a CLI gc or sync, every node of a cluster on one bucket) agrees,
 * with no setting to keep in step. Reading does not depend on it: each object says by its header whether it is
 * encrypted, so a store that is part plaintext, part encrypted (while `berth encryption enable` runs) reads whole.
 *
 * The same object records a deployment's choice to stay unencrypted (`berth serve --encryption off` on a new
 * S3 + PostgreSQL deployment, new-deployment.ts): `{"enabled":false,...}`, which a later start with the defaults
 * honours, and which a Berth from before it read as "off" as well (it took only `enabled: true` for on).
 */
export interface EncryptionMarker {
  readonly enabled: true;
  readonly enabledAt: string;
}

export interface EncryptionOffDecision {
  readonly enabled: false;
  readonly decidedAt: string;
}

export type EncryptionDecision = EncryptionMarker | EncryptionOffDecision;

/** What the storage says: on, decided off, or undefined when nothing was decided (no marker object). */
export async function readEncryptionDecision(driver: StorageDriver): Promise<EncryptionDecision | undefined> {
  let text: string;
  try {
    text = (await driver.getContent(pathFor({ kind: 'encryptionMarker' }))).toString('utf8');
  } catch (error) {
    if (isPathNotFound(error)) return undefined;
    throw error;
  }
  const marker = JSON.parse(text) as { enabled?: unknown; enabledAt?: unknown; decidedAt?: unknown } | null;
  if (marker?.enabled === true) return { enabled: true, enabledAt: String(marker.enabledAt) };
  return { enabled: false, decidedAt: String(marker?.decidedAt ?? '') };
}

/** The marker when encryption is on; undefined when it is off (decided or not). */
export async function readEncryptionMarker(driver: StorageDriver): Promise<EncryptionMarker | undefined> {
  const decision = await readEncryptionDecision(driver);
  return decision?.enabled === true ? decision : undefined;
}

/** Turns encryption on (replacing an "off" decision: `berth encryption enable` is how that is changed). */
export async function writeEncryptionMarker(driver: StorageDriver, now = new Date()): Promise<EncryptionMarker> {
  const existing = await readEncryptionMarker(driver);
  if (existing) return existing;
  const marker: EncryptionMarker = { enabled: true, enabledAt: now.toISOString() };
  await driver.putContent(pathFor({ kind: 'encryptionMarker' }), JSON.stringify(marker));
  return marker;
}

/** Records the choice to stay unencrypted; never over a marker that says on (nothing turns encryption off). */
export async function writeEncryptionOff(driver: StorageDriver, now = new Date()): Promise<EncryptionDecision> {
  const existing = await readEncryptionDecision(driver);
  if (existing) return existing;
  const decision: EncryptionOffDecision = { enabled: false, decidedAt: now.toISOString() };
  await driver.putContent(pathFor({ kind: 'encryptionMarker' }), JSON.stringify(decision));
  return decision;
}
