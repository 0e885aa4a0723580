import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { checkFileBasis, fileRevision, parseRingText, ringText, type KeyRingStore } from '../../registry/storage/encryption/key-ring.js';
import { writePrivateFileAtomically } from '../../registry/config/private-file.js';

/**
 * The desktop app's encryption key ring: the ring's text sealed by the OS keychain (Electron's safeStorage: the
 * macOS Keychain, Windows DPAPI, libsecret/kwallet on Linux) in a 0600 file of the app's own folder, so the master
 * keys are neither in the data directory nor readable from the file alone. `cipher` is safeStorage; these are plain
 * functions so they are tested without Electron.
 */
export interface KeychainCipher {
  isEncryptionAvailable(): boolean;
  encryptString(text: string): Buffer;
  decryptString(sealed: Buffer): string;
}

export function keychainKeyRingStore(path: string, cipher: KeychainCipher): KeyRingStore {
  const source = `the OS keychain (sealed in ${path})`;
  return {
    source,
    missingHint: `start the app as the user whose keychain holds the ring (its sealed copy is ${path})`,
    async load() {
      // The revision before the read, as the ring file store does: a file replaced in between makes its save conflict.
      const revision = await fileRevision(path);
      let sealed: Buffer;
      try {
        sealed = await readFile(path);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw error;
      }
      return { entries: parseRingText(cipher.decryptString(sealed), path), revision };
    },
    async save(entries, basis) {
      if (!cipher.isEncryptionAvailable()) throw new Error('the OS keychain is not available: cannot keep encryption keys in it');
      await checkFileBasis(path, source, basis);
      await writePrivateFileAtomically(path, cipher.encryptString(ringText(entries)));
    },
    version: () => fileRevision(path),
  };
}

/** The store the app uses: the keychain when the OS offers one, else undefined (Berth's default key file). */
export function desktopKeyRingStore(userDataDir: string, cipher: KeychainCipher): KeyRingStore | undefined {
  return cipher.isEncryptionAvailable() ? keychainKeyRingStore(join(userDataDir, 'encryption-keys.sealed'), cipher) : undefined;
}
