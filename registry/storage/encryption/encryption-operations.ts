import { createHash, randomUUID } from 'node:crypto';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseDigest, type ParsedDigest } from '../../core/digest.js';
import { isPathNotFound } from '../driver.js';
import { pathFor } from '../paths.js';
import type { EncryptingDriver } from './encrypting-driver.js';
import { readEncryptionDecision, readEncryptionMarker, writeEncryptionMarker } from './encryption-marker.js';
import { KeyRingError } from './key-ring.js';

/**
 * What `berth encryption status|enable|rotate` and the admin API do, over an open storage:
 *
 * - enable: makes the master key ring when there is none, writes the storage's marker (every process writes new
 *   content encrypted from then on, within seconds), then rewrites each plaintext blob encrypted, one at a time:
 *   stream it through the encrypting writer into /encryption/rewrites/<uuid>, check the digest of what went in,
 *   and move the result over the blob (atomic: a reader sees the plaintext object or the encrypted one, and each
 *   says by its header what it is). Running it again goes on where a stopped run left off.
 * - rotate: a new active master key; every data key re-wrapped by it (small key files only, never blobs); then,
 *   after a moment for processes that wrapped a key with the old one just before they saw the new ring, a second
 *   pass; the old key is dropped from the ring once nothing uses it (else it stays retired, and says so).
 */

export interface EncryptionStatus {
  readonly enabled: boolean;
  readonly enabledAt?: string;
  /** When the deployment was started with `--encryption off`, which keeps later default starts from turning it on. */
  readonly offChosenAt?: string;
  /** Where the master keys are kept, and their ids (never the keys). */
  readonly keyRing: { readonly source: string; readonly activeKey?: string; readonly retiredKeys: readonly string[] };
  readonly blobs: { readonly encrypted: number; readonly plaintext: number };
}

export interface EnableResult {
  readonly createdKeyRing: boolean;
  /** Where the ring is kept (its store's source): what to back up. */
  readonly keyRing: string;
  readonly activeKey: string;
  /** Blobs rewritten encrypted by this run. */
  readonly encrypted: number;
  readonly bytes: number;
  /** Encrypted already (new since the marker, or an earlier run). */
  readonly alreadyEncrypted: number;
  /** Deleted while the pass ran (garbage collection): nothing to do. */
  readonly vanished: number;
  /** Whose stored bytes do not match their digest: left as they are, for `berth gc` or a re-push. */
  readonly damaged: readonly string[];
}

export interface RotateResult {
  readonly activeKey: string;
  readonly previousKey: string;
  readonly rewrapped: number;
  readonly dataKeys: number;
  /** Old master keys dropped from the ring (nothing uses them any more). */
  readonly dropped: readonly string[];
  /** Old master keys kept, retired, because data keys still use them. */
  readonly kept: readonly string[];
}

/** Every blob in the store, as its digest and path. */
async function* storedBlobs(driver: EncryptingDriver): AsyncGenerator<{ digest: ParsedDigest; path: string }> {
  for (const algorithm of await driver.list('/blobs')) {
    for (const prefix of (await driver.list(`/blobs/${algorithm}`)).sort()) {
      for (const hex of (await driver.list(`/blobs/${algorithm}/${prefix}`)).sort()) {
        let digest: ParsedDigest;
        try {
          digest = parseDigest(`${algorithm}:${hex}`);
        } catch {
          continue;
        }
        yield { digest, path: pathFor({ kind: 'blobData', digest }) };
      }
    }
  }
}

export async function encryptionStatus(driver: EncryptingDriver): Promise<EncryptionStatus> {
  const decision = await readEncryptionDecision(driver);
  const marker = decision?.enabled === true ? decision : undefined;
  const entries = (await driver.masterKeys.entries()) ?? [];
  const blobs = { encrypted: 0, plaintext: 0 };
  for await (const { path } of storedBlobs(driver)) {
    const encrypted = await driver.isEncrypted(path).catch((error: unknown) => {
      if (isPathNotFound(error)) return undefined;
      throw error;
    });
    if (encrypted === true) blobs.encrypted += 1;
    else if (encrypted === false) blobs.plaintext += 1;
  }
  const active = entries.find((entry) => !entry.retired);
  return {
    enabled: marker !== undefined,
    ...(marker ? { enabledAt: marker.enabledAt } : {}),
    ...(decision?.enabled === false ? { offChosenAt: decision.decidedAt } : {}),
    keyRing: { source: driver.masterKeys.store.source, ...(active ? { activeKey: active.id } : {}), retiredKeys: entries.filter((entry) => entry.retired).map((entry) => entry.id) },
    blobs,
  };
}

export async function enableEncryption(driver: EncryptingDriver, onProgress?: (done: number) => void): Promise<EnableResult> {
  await requireKeyRingIfEncrypted(driver);
  const { active, created } = await driver.masterKeys.ensure();
  await writeEncryptionMarker(driver);
  if (!(await driver.encryptsWrites(true))) throw new Error('the encryption marker was written but does not read back');
  // Rewrites a stopped run left behind are not blobs yet: start them over.
  await driver.delete(pathFor({ kind: 'encryptionRewrites' }));
  let encrypted = 0;
  let bytes = 0;
  let alreadyEncrypted = 0;
  let vanished = 0;
  const damaged: string[] = [];
  for await (const { digest, path } of storedBlobs(driver)) {
    try {
      if (await driver.isEncrypted(path)) {
        alreadyEncrypted += 1;
        continue;
      }
      const written = await rewriteEncrypted(driver, digest, path);
      if (written === undefined) damaged.push(digest.digest);
      else {
        encrypted += 1;
        bytes += written;
        onProgress?.(encrypted);
      }
    } catch (error) {
      if (!isPathNotFound(error)) throw error;
      vanished += 1;
    }
  }
  return { createdKeyRing: created, keyRing: driver.masterKeys.store.source, activeKey: active.id, encrypted, bytes, alreadyEncrypted, vanished, damaged };
}

/**
 * A storage already encrypted with a ring this process does not see (another user's default path, a node without
 * BERTH_ENCRYPTION_KEY_FILE) must not get a second ring: what it wrapped, the others could not open. A server
 * checks this at start, so it fails then, said plainly, rather than on the first push.
 */
export async function requireKeyRingIfEncrypted(driver: EncryptingDriver): Promise<void> {
  // The marker first, then the ring: enabling makes the ring before it writes the marker, so a marker seen means a
  // ring to see. The other order failed a node starting beside the one that was turning encryption on for a new
  // cluster: no ring yet, then the marker just written.
  if (!(await readEncryptionMarker(driver))) return;
  if ((await driver.masterKeys.entries()) !== undefined) return;
  throw new KeyRingError(
    `encryption is on for this storage, but there is no key ring at ${driver.masterKeys.store.source}: ${driver.masterKeys.store.missingHint} (a new ring could not open what is stored)`,
  );
}

/** Rewrites one plaintext blob encrypted; undefined (and nothing replaced) when its bytes are not its digest. */
async function rewriteEncrypted(driver: EncryptingDriver, digest: ParsedDigest, path: string): Promise<number | undefined> {
  const temp = pathFor({ kind: 'encryptionRewrite', id: randomUUID() });
  const hash = createHash(digest.algorithm);
  let size = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      size += chunk.length;
      callback(null, chunk);
    },
  });
  const writer = await driver.writer(temp);
  try {
    await pipeline(await driver.reader(path), tap, writer.stream);
    await writer.commit();
    if (hash.digest('hex') !== digest.hex || !(await driver.isEncrypted(temp))) {
      await driver.discard(temp);
      return undefined;
    }
    await driver.move(temp, path);
    return size;
  } catch (error) {
    await writer.close().catch(() => undefined);
    await driver.discard(temp).catch(() => undefined);
    throw error;
  }
}

export async function rotateMasterKey(driver: EncryptingDriver, options: { settleMs?: number; onProgress?: (done: number) => void } = {}): Promise<RotateResult> {
  const settleMs = options.settleMs ?? 2000;
  // Keys retired by an earlier rotation are dropped now when nothing is wrapped with them any more.
  const before = await driver.dataKeys.countByMaster();
  const rotation = await driver.masterKeys.rotate(async (id) => (before.get(id) ?? 0) === 0);
  const first = await driver.dataKeys.rewrapAll(options.onProgress);
  await new Promise((resolve) => setTimeout(resolve, settleMs));
  const second = await driver.dataKeys.rewrapAll(options.onProgress);
  const dropped = [...rotation.dropped];
  const kept = [...rotation.kept];
  const left = await driver.dataKeys.countByMaster();
  for (const id of [rotation.retired, ...rotation.kept]) {
    if ((left.get(id) ?? 0) === 0) {
      await driver.masterKeys.drop(id);
      dropped.push(id);
      if (kept.includes(id)) kept.splice(kept.indexOf(id), 1);
    } else if (!kept.includes(id)) kept.push(id);
  }
  return { activeKey: rotation.active.id, previousKey: rotation.retired, rewrapped: first.rewrapped + second.rewrapped, dataKeys: second.total, dropped, kept };
}
