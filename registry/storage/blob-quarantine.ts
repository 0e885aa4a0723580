import type { ParsedDigest } from '../core/digest.js';
import { isPathNotFound, type FileInfo, type StorageDriver } from './driver.js';
import { pathFor } from './paths.js';

/**
 * Where the garbage collector puts a blob's data while it makes its last check, so that "check, then delete" is
 * not a race: moving the data aside is one atomic step that takes the blob out of `/blobs`, and whoever looks for
 * the blob afterwards (a pull, a manifest PUT checking its layers, a link written by a push) finds it missing and
 * restores it from here. The collector deletes the quarantined copy only if, after the move, no link to the blob
 * exists and the copy is old; otherwise it restores it too. See garbage-collector.ts for the whole argument.
 *
 * The quarantine path depends only on the digest, so a reader can find a blob there with one stat.
 */

/** Moves the blob's data into the quarantine; false when it is not in `/blobs` (gone, or moved by someone else). */
export async function quarantineBlob(driver: StorageDriver, digest: ParsedDigest): Promise<boolean> {
  try {
    await driver.move(pathFor({ kind: 'blobData', digest }), pathFor({ kind: 'quarantinedBlob', digest }));
    return true;
  } catch (error) {
    if (isPathNotFound(error)) return false;
    throw error;
  }
}

/**
 * Puts a quarantined blob back into `/blobs`; resolves whether the blob is in `/blobs` afterwards. A copy already back
 * in `/blobs` (a push stored the same bytes again) is kept as it is, being the newer file, and the quarantined one
 * dropped.
 */
export async function restoreBlob(driver: StorageDriver, digest: ParsedDigest): Promise<boolean> {
  const quarantined = pathFor({ kind: 'quarantinedBlob', digest });
  // No quarantined copy: maybe someone else restored it between the caller's miss in `/blobs` and this look (the
  // collector putting back a blob a push stored again), so look in `/blobs` once more before saying it is gone.
  if (!(await statOrUndefined(driver, quarantined))) return (await statOrUndefined(driver, pathFor({ kind: 'blobData', digest }))) !== undefined;
  if (await statOrUndefined(driver, pathFor({ kind: 'blobData', digest }))) {
    await driver.delete(quarantined);
    return true;
  }
  try {
    await driver.move(quarantined, pathFor({ kind: 'blobData', digest }));
    return true;
  } catch (error) {
    // Restored by someone else meanwhile (a reader and the collector, or two readers), or deleted by the collector
    // after its last check found no link: either way there is nothing left here to restore.
    if (isPathNotFound(error)) return statOrUndefined(driver, pathFor({ kind: 'blobData', digest })).then(Boolean);
    throw error;
  }
}

/** The quarantined copy's size and age, or undefined when there is none. */
export function quarantinedInfo(driver: StorageDriver, digest: ParsedDigest): Promise<FileInfo | undefined> {
  return statOrUndefined(driver, pathFor({ kind: 'quarantinedBlob', digest }));
}

/** Deletes the quarantined copy (the blob's last bytes) and tidies the blob's empty folder. */
export async function deleteQuarantined(driver: StorageDriver, digest: ParsedDigest): Promise<void> {
  await driver.delete(pathFor({ kind: 'quarantinedBlob', digest }));
  // Only if empty: a push may be writing the same blob into it right now.
  await driver.removeEmptyFolder(pathFor({ kind: 'blobFolder', digest }));
}

/** Digests of every quarantined blob: what a collector killed mid-check left behind. */
export async function listQuarantined(driver: StorageDriver): Promise<Array<{ algorithm: string; hex: string }>> {
  const root = pathFor({ kind: 'quarantineRoot' });
  const found: Array<{ algorithm: string; hex: string }> = [];
  for (const algorithm of await driver.list(root)) {
    for (const hex of await driver.list(`${root}/${algorithm}`)) found.push({ algorithm, hex });
  }
  return found;
}

async function statOrUndefined(driver: StorageDriver, path: string): Promise<FileInfo | undefined> {
  try {
    return await driver.stat(path);
  } catch (error) {
    if (isPathNotFound(error)) return undefined;
    throw error;
  }
}
