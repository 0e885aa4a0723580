import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { isDigest } from '../core/digest.js';
import { maxManifestBytes } from '../core/manifest.js';
import { invalidArchive, refusedArchive } from './archive-error.js';
import { readArchive } from './archive-reader.js';

/**
 * The first of an import's two reads of an archive: every entry's name, size and digest (each blob is hashed
 * as it streams by, so a corrupt byte anywhere is found before anything is written), and the bytes of the small
 * JSON entries (manifests, configs, index.json, manifest.json) that the import plan is made of. Layers are never
 * held: only their digests are.
 */
export interface ScannedFile {
  readonly name: string;
  readonly size: number;
  /** `sha256:…` of the content (`sha512:…` for a `blobs/sha512/` entry). */
  readonly digest: string;
  /** The first bytes, for telling gzip and zstd layers apart. */
  readonly head: Buffer;
  /** Whole content, for small JSON entries only. */
  readonly json?: Buffer;
}

export interface ArchiveScan {
  readonly files: ReadonlyMap<string, ScannedFile>;
  readonly bytes: number;
}

/** What an archive's manifests and configs may hold in memory together; far above any real archive's. */
export const maxJsonBytes = 64 * 1024 * 1024;

/** `blobs/<algorithm>/<encoded>`: the digest the layout file name promises, or undefined for other entries. */
export function blobDigestOfName(name: string): string | undefined {
  const match = /^blobs\/([a-z0-9]+)\/([^/]+)$/.exec(name);
  if (!match) return undefined;
  const digest = `${match[1]}:${match[2]}`;
  if (!isDigest(digest)) throw invalidArchive(`archive entry ${name} is under blobs/ but is not named by a sha256 or sha512 digest`, name);
  return digest;
}

function startsLikeJson(chunk: Buffer): boolean {
  for (const byte of chunk) {
    if (byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09) continue;
    return byte === 0x7b || byte === 0x5b; // { or [
  }
  return false;
}

export async function scanArchive(input: Readable): Promise<ArchiveScan> {
  const files = new Map<string, ScannedFile>();
  let jsonBytes = 0;
  let bytes = 0;
  await readArchive(input, async (entry, body) => {
    if (files.has(entry.name)) throw invalidArchive(`archive entry ${entry.name} appears twice: which one counts is ambiguous`, entry.name);
    const promised = blobDigestOfName(entry.name);
    const algorithm = promised?.startsWith('sha512:') ? 'sha512' : 'sha256';
    const hash = createHash(algorithm);
    let head: Buffer | undefined;
    let keep: Buffer[] | undefined;
    let size = 0;
    for await (const chunk of body as AsyncIterable<Buffer>) {
      if (head === undefined) {
        head = Buffer.from(chunk.subarray(0, 8));
        if (entry.size <= maxManifestBytes && startsLikeJson(chunk)) {
          jsonBytes += entry.size;
          if (jsonBytes > maxJsonBytes) {
            throw refusedArchive(`the archive's manifests and configs come to more than ${maxJsonBytes / 1024 / 1024} MiB: export fewer images per archive`, entry.name);
          }
          keep = [];
        }
      }
      hash.update(chunk);
      keep?.push(chunk);
      size += chunk.length;
    }
    const digest = `${algorithm}:${hash.digest('hex')}`;
    if (promised !== undefined && digest !== promised) {
      throw invalidArchive(`archive entry ${entry.name} holds content with digest ${digest}, not the one its name gives: the archive is corrupt`, entry.name);
    }
    bytes += size;
    files.set(entry.name, { name: entry.name, size, digest, head: head ?? Buffer.alloc(0), ...(keep ? { json: Buffer.concat(keep) } : {}) });
    return true;
  });
  return { files, bytes };
}
