import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { loadOrCreateSecretKey } from './secret-key.js';

/**
 * Encryption at rest for secrets Berth must be able to read back (upstream passwords): AES-256-GCM under a
 * 256-bit key. Sealed form: `v1.<iv>.<tag>.<ciphertext>` in base64url, safe to keep in the human-readable state
 * file. Tampering fails authentication. The key is `<data>/auth/secrets.key` (0600) with the file backend, or the
 * one every node shares through the metadata database (state/metadata-backend.ts picks).
 */
export interface SecretBox {
  /**
   * `context`, when given, is bound to the sealed value as GCM associated data: it opens only with the same
   * context (a value copied to another name does not open under it).
   */
  seal(plain: string, context?: string): string;
  open(sealed: string, context?: string): string;
}

export const secretsKeyRelativePath = 'auth/secrets.key';

/** The file backend's box: the key in `<data>/auth/secrets.key`, created on first use. */
export async function createSecretBox(dataDir: string): Promise<SecretBox> {
  return secretBoxWithKey(await loadOrCreateSecretKey(dataDir, secretsKeyRelativePath));
}

/** A box over a 256-bit key from wherever it is kept. */
export function secretBoxWithKey(key: Buffer): SecretBox {
  if (key.length !== 32) throw new Error(`a secret box needs a 256-bit key, not ${key.length * 8} bits`);
  return {
    seal(plain, context) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      if (context !== undefined) cipher.setAAD(Buffer.from(context, 'utf8'));
      const data = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
      return ['v1', iv, cipher.getAuthTag(), data].map((part) => (typeof part === 'string' ? part : part.toString('base64url'))).join('.');
    },
    open(sealed, context) {
      const [version, iv, tag, data] = sealed.split('.');
      if (version !== 'v1' || iv === undefined || tag === undefined || data === undefined) throw new Error('not a sealed secret');
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
      if (context !== undefined) decipher.setAAD(Buffer.from(context, 'utf8'));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(data, 'base64url')), decipher.final()]).toString('utf8');
    },
  };
}
