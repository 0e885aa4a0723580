import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { loadOrCreateSecretKey } from './secret-key.js';

/**
 * Encryption at rest for secrets Berth must be able to read back (upstream passwords): AES-256-GCM
 * under a key of its own in `<data>/auth/secrets.key` (0600). Sealed form: `v1.<iv>.<tag>.<ciphertext>`
 * in base64url, safe to keep in the human-readable state file. Tampering fails authentication.
 */
export interface SecretBox {
  seal(plain: string): string;
  open(sealed: string): string;
}

export const secretsKeyRelativePath = 'auth/secrets.key';

export async function createSecretBox(dataDir: string): Promise<SecretBox> {
  const key = await loadOrCreateSecretKey(dataDir, secretsKeyRelativePath);
  return {
    seal(plain) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      const data = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
      return ['v1', iv, cipher.getAuthTag(), data].map((part) => (typeof part === 'string' ? part : part.toString('base64url'))).join('.');
    },
    open(sealed) {
      const [version, iv, tag, data] = sealed.split('.');
      if (version !== 'v1' || iv === undefined || tag === undefined || data === undefined) throw new Error('not a sealed secret');
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(data, 'base64url')), decipher.final()]).toString('utf8');
    },
  };
}
