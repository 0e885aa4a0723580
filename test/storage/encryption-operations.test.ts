import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseDigest } from '../../registry/core/digest.js';
import { createEncryptingDriver } from '../../registry/storage/encryption/encrypting-driver.js';
import { enableEncryption, encryptionStatus, requireKeyRingIfEncrypted, rotateMasterKey } from '../../registry/storage/encryption/encryption-operations.js';
import { fileKeyRingStore, MasterKeys, type KeyRingStore } from '../../registry/storage/encryption/key-ring.js';
import { createFilesystemDriver } from '../../registry/storage/filesystem-driver.js';
import { pathFor } from '../../registry/storage/paths.js';
import { makeTempDir } from '../support/temp-dir.js';

/** enable and rotate as operations: resumable, careful with damaged blobs, and never making a second key ring. */

async function storeWithBlobs(dir: string, count: number) {
  const inner = createFilesystemDriver(join(dir, 'data'));
  const contents = new Map<string, Buffer>();
  for (let index = 0; index < count; index += 1) {
    const bytes = randomBytes(1000 + index * 300_000);
    const digest = parseDigest(`sha256:${createHash('sha256').update(bytes).digest('hex')}`);
    await inner.putContent(pathFor({ kind: 'blobData', digest }), bytes);
    contents.set(pathFor({ kind: 'blobData', digest }), bytes);
  }
  return { inner, contents };
}

describe('encryption operations', () => {
  it('enable encrypts every plaintext blob, a second run finds nothing to do, a damaged blob is left and named', async (t) => {
    const dir = await makeTempDir(t);
    const { inner, contents } = await storeWithBlobs(dir, 3);
    const damagedDigest = parseDigest(`sha256:${'e'.repeat(64)}`);
    await inner.putContent(pathFor({ kind: 'blobData', digest: damagedDigest }), 'not what the digest says');
    const driver = createEncryptingDriver(inner, new MasterKeys(fileKeyRingStore(join(dir, 'ring.json'))));

    const first = await enableEncryption(driver);
    assert.equal(first.createdKeyRing, true);
    assert.equal(first.encrypted, 3);
    assert.deepEqual(first.damaged, [damagedDigest.digest]);
    const again = await enableEncryption(driver);
    assert.deepEqual([again.createdKeyRing, again.encrypted, again.alreadyEncrypted], [false, 0, 3]);
    for (const [path, bytes] of contents) {
      assert.deepEqual(await driver.getContent(path), bytes);
      assert.equal(await driver.isEncrypted(path), true);
    }
    assert.deepEqual((await encryptionStatus(driver)).blobs, { encrypted: 3, plaintext: 1 });
    assert.deepEqual(await inner.list('/encryption/rewrites'), [], 'no rewrite left behind');

    const rotated = await rotateMasterKey(driver, { settleMs: 10 });
    assert.equal(rotated.rewrapped, 3);
    assert.deepEqual(rotated.dropped, [first.activeKey]);
    // A fresh process with the rotated ring only reads all of it.
    const restarted = createEncryptingDriver(inner, new MasterKeys(fileKeyRingStore(join(dir, 'ring.json'))));
    for (const [path, bytes] of contents) assert.deepEqual(await restarted.getContent(path), bytes);
  });

  it('refuses to make a second key ring for a storage that is encrypted already', async (t) => {
    const dir = await makeTempDir(t);
    const { inner } = await storeWithBlobs(dir, 1);
    await enableEncryption(createEncryptingDriver(inner, new MasterKeys(fileKeyRingStore(join(dir, 'ring.json')))));
    const elsewhere = createEncryptingDriver(inner, new MasterKeys(fileKeyRingStore(join(dir, 'other-user', 'ring.json'))));
    await assert.rejects(enableEncryption(elsewhere), /encryption is on for this storage, but there is no key ring at file .*other-user.*BERTH_ENCRYPTION_KEY_FILE/);
    await assert.rejects(rotateMasterKey(elsewhere), /no encryption key ring/);
  });

  it('does not refuse a node that checks for the ring while another node turns encryption on (a new cluster\'s first start)', async (t) => {
    const dir = await makeTempDir(t);
    const { inner } = await storeWithBlobs(dir, 1);
    const ringPath = join(dir, 'ring.json');
    const enabling = createEncryptingDriver(inner, new MasterKeys(fileKeyRingStore(ringPath)));
    // The starting node's reads of the shared ring: the other node's enable lands just after its first one.
    const shared = fileKeyRingStore(ringPath);
    let enabled: Promise<unknown> | undefined;
    const starting: KeyRingStore = {
      source: shared.source,
      missingHint: shared.missingHint,
      save: (entries, basis) => shared.save(entries, basis),
      version: () => shared.version(),
      async load() {
        const ring = await shared.load();
        enabled ??= enableEncryption(enabling);
        await enabled;
        return ring;
      },
    };
    const node = createEncryptingDriver(inner, new MasterKeys(starting));
    await requireKeyRingIfEncrypted(node);
    // A check that read no ring (the hook ran) must not have read the marker after it; one that read the marker
    // first and found none is done. Either way the other node's enable now completes.
    enabled ??= enableEncryption(enabling);
    await enabled;
    // Once enabled, the starting node sees both the marker and the ring.
    await requireKeyRingIfEncrypted(node);
    assert.equal(await node.encryptsWrites(true), true);
  });
});
