import { createHash, type Hash } from 'node:crypto';
import { RegistryError } from './errors.js';

/**
 * Content digests (OCI image spec §"Digests"): `algorithm:encoded`. Berth stores and verifies the
 * two registered algorithms, sha256 and sha512; any other well-formed digest is refused as
 * unsupported rather than silently trusted.
 */
export type DigestAlgorithm = 'sha256' | 'sha512';

export interface ParsedDigest {
  readonly algorithm: DigestAlgorithm;
  readonly hex: string;
  /** The canonical `algorithm:hex` string. */
  readonly digest: string;
}

const encodedLength: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };
const digestGrammar = /^([a-z0-9]+(?:[+._-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$/;

/** Parses and validates a digest; throws DIGEST_INVALID (400) on anything else. */
export function parseDigest(value: string): ParsedDigest {
  const match = digestGrammar.exec(value);
  if (!match) throw new RegistryError('DIGEST_INVALID', `invalid digest: ${truncate(value)}`, { detail: { digest: truncate(value) } });
  const algorithm = match[1] as string;
  const hex = match[2] as string;
  if (algorithm !== 'sha256' && algorithm !== 'sha512') {
    throw new RegistryError('DIGEST_INVALID', `unsupported digest algorithm: ${algorithm}`, { detail: { digest: value } });
  }
  if (hex.length !== encodedLength[algorithm] || !/^[a-f0-9]+$/.test(hex)) {
    throw new RegistryError('DIGEST_INVALID', `invalid ${algorithm} digest: ${truncate(value)}`, { detail: { digest: truncate(value) } });
  }
  return { algorithm, hex, digest: value };
}

export function isDigest(value: string): boolean {
  try {
    parseDigest(value);
    return true;
  } catch {
    return false;
  }
}

export function createDigester(algorithm: DigestAlgorithm = 'sha256'): Hash {
  return createHash(algorithm);
}

/** Digest of a small in-memory value (manifests, link targets); blobs are hashed as streams. */
export function digestOf(bytes: Uint8Array, algorithm: DigestAlgorithm = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
}

function truncate(value: string): string {
  return value.length > 200 ? `${value.slice(0, 200)}…` : value;
}
