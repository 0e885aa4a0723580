import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { desktopKeyRingStore, keychainKeyRingStore, type KeychainCipher } from '../../main/logic/keychain-key-ring.js';
import { MasterKeys } from '../../registry/storage/encryption/key-ring.js';
import { makeTempDir } from '../support/temp-dir.js';

/** A stand-in for Electron's safeStorage: reversible, and visibly not plaintext, like the keychain's output. */
function fakeKeychain(available = true): KeychainCipher {
  return {
    isEncryptionAvailable: () => available,
    encryptString: (text) => Buffer.from(Buffer.from(text, 'utf8').map((byte) => byte ^ 0x5a)),
    decryptString: (sealed) => Buffer.from(sealed.map((byte) => byte ^ 0x5a)).toString('utf8'),
  };
}

describe('the desktop key ring sealed by the OS keychain', () => {
  it('keeps the ring only sealed, 0600, and a second process (a restart) opens the same keys; rotation follows', async (t) => {
    const dir = await makeTempDir(t);
    const path = join(dir, 'encryption-keys.sealed');
    const keys = new MasterKeys(keychainKeyRingStore(path, fakeKeychain()));
    const { active, created } = await keys.ensure();
    assert.equal(created, true);
    assert.equal(((await stat(path)).mode & 0o777).toString(8), '600');
    const stored = await readFile(path);
    assert.equal(stored.indexOf(Buffer.from(active.key.toString('base64'))), -1, 'the key is not in the file in the clear');
    assert.equal(stored.indexOf(Buffer.from(active.id)), -1);

    const restarted = new MasterKeys(keychainKeyRingStore(path, fakeKeychain()));
    assert.deepEqual((await restarted.byId(active.id)).key, active.key);
    const rotation = await keys.rotate(async () => true);
    assert.equal((await restarted.active()).id, rotation.active.id, 'another process sees the rotation at its next write');
    assert.deepEqual((await restarted.byId(active.id)).key, active.key, 'the retired key still opens old data keys');
  });

  it('is used only when the OS has a keychain; a ring cannot be saved without one', async (t) => {
    const dir = await makeTempDir(t);
    assert.equal(desktopKeyRingStore(dir, fakeKeychain(false)), undefined, 'no keychain: Berth keeps its default key file');
    assert.match(desktopKeyRingStore(dir, fakeKeychain())?.source ?? '', /OS keychain/);
    await assert.rejects(new MasterKeys(keychainKeyRingStore(join(dir, 'ring'), fakeKeychain(false))).ensure(), /keychain is not available/);
  });
});
