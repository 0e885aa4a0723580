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
  const parsed = readDigest(value);
  if (typeof parsed === 'string') throw new RegistryError('DIGEST_INVALID', parsed, { detail: { digest: truncate(value) } });
  return parsed;
}

/**
 * True for a digest parseDigest accepts. It asks without throwing: a manifest GET by tag asks on every request, and
 * building an Error (its stack) for each cost 5 % of that path's CPU.
 */
export function isDigest(value: string): boolean {
  return typeof readDigest(value) !== 'string';
}

/** The parsed digest, or why `value` is not one. */
function readDigest(value: string): ParsedDigest | string {
  const match = digestGrammar.exec(value);
  if (!match) return `invalid digest: ${truncate(value)}`;
  const algorithm = match[1] as string;
  const hex = match[2] as string;
  if (algorithm !== 'sha256' && algorithm !== 'sha512') return `unsupported digest algorithm: ${algorithm}`;
  if (hex.length !== encodedLength[algorithm] || !/^[a-f0-9]+$/.test(hex)) return `invalid ${algorithm} digest: ${truncate(value)}`;
  return { algorithm, hex, digest: value };
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
