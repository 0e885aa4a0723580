import type { Readable } from 'node:stream';
import { isPathNotFound, type FileInfo, type StorageDriver } from '../driver.js';
import { contentKindOf, uploadTailPathOf } from '../paths.js';
import { createDataKeys, type DataKeys } from './data-keys.js';
import { readEncryptionMarker } from './encryption-marker.js';
import { EncryptedObjectError, headerBytes, layoutOf, newHeader, parseHeader, tagBytes, type FrameHeader } from './frame-format.js';
import type { EncryptedObject } from './frame-opener.js';
import { decryptInto, decryptingReader, decryptWhole, encryptWhole } from './frame-reader.js';
import { openFrameWriter, uploadPlaintextSize } from './frame-writer.js';
import type { MasterKeys } from './key-ring.js';

/**
 * Encryption at rest for any backend: a StorageDriver over another one that encrypts image content (blobs,
 * manifests, upload data: paths.ts contentKindOf) in the frame format of frame-format.ts and leaves everything
 * else (links, tags, start times) as it is. Above it nothing changes: sizes, ranges and stat are the plaintext's.
 *
 * - Writes are encrypted while the storage's marker says so (encryption-marker.ts, re-read every few seconds, so
 *   `berth encryption enable` in another process takes effect without a restart).
 * - Reads look at each object's header: plaintext and encrypted objects are read alike, so a store that is being
 *   encrypted (encrypt-existing.ts) or has never been is served the same way. What an object is, is cached by
 *   path, size and modification time: a blob served often is looked at once.
 * - A ranged read decrypts only the frames the range covers.
 */
export interface EncryptingDriver extends StorageDriver {
  readonly dataKeys: DataKeys;
  readonly masterKeys: MasterKeys;
  /** Whether new content is written encrypted now (re-reads the marker). */
  encryptsWrites(refresh?: boolean): Promise<boolean>;
  /** Whether the object at a content path is stored encrypted. Throws PathNotFoundError. */
  isEncrypted(path: string): Promise<boolean>;
  /** Deletes an object nothing else refers to (a rewrite thrown away) together with its data key. */
  discard(path: string): Promise<void>;
}

const markerTtlMs = 2000;
/** An upload session's folder (what the upload store deletes on cancel and purge). */
const uploadSessionPattern = /^\/repositories\/.+\/_uploads\/[0-9a-f-]+$/;
const cacheLimit = 10_000;

interface Inspected {
  readonly info: FileInfo;
  /** Set for an encrypted object. */
  readonly object?: EncryptedObject;
}

/** Link folders: only link files lie below them, never an encrypted object. */
const linkFolder = /\/_(layers|manifests|referrers)(\/|$)/;
/** A blob's folder or an upload session's: the objects below it are `data` (and an upload's `data-tail`). */
const singleObjectFolder = /^(\/blobs\/[a-z0-9]+\/[0-9a-f]{2}\/[0-9a-f]+|\/repositories\/.+\/_uploads\/[0-9a-f-]+)$/;

export function createEncryptingDriver(inner: StorageDriver, masterKeys: MasterKeys): EncryptingDriver {
  const dataKeys = createDataKeys(inner, masterKeys);
  let marker: { value: boolean; at: number } | undefined;
  /** Header (or null: plaintext) of finished objects, by path, valid for one size and modification time. */
  const headers = new Map<string, { size: number; mtime: number; header: FrameHeader | null }>();

  async function encryptsWrites(refresh = false): Promise<boolean> {
    if (!refresh && marker && Date.now() - marker.at < markerTtlMs) return marker.value;
    marker = { value: (await readEncryptionMarker(inner)) !== undefined, at: Date.now() };
    return marker.value;
  }

  async function readPrefix(path: string, size: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    for await (const chunk of await inner.reader(path, { start: 0, end: Math.min(headerBytes, size) - 1 })) parts.push(chunk as Buffer);
    return Buffer.concat(parts);
  }

  async function headerOf(path: string, info: FileInfo): Promise<FrameHeader | undefined> {
    if (info.size < 8) return undefined;
    const cached = headers.get(path);
    if (cached && cached.size === info.size && cached.mtime === info.modifiedAt.getTime()) return cached.header ?? undefined;
    const header = parseHeader(await readPrefix(path, info.size));
    headers.delete(path);
    headers.set(path, { size: info.size, mtime: info.modifiedAt.getTime(), header: header ?? null });
    if (headers.size > cacheLimit) headers.delete(headers.keys().next().value as string);
    return header;
  }

  async function objectOf(header: FrameHeader, storedSize: number): Promise<EncryptedObject> {
    return { header, key: await dataKeys.open(header.keyId), layout: layoutOf(storedSize, header.frameSize) };
  }

  /** What `path` (a content or upload path) holds. */
  async function inspect(path: string, kind: 'content' | 'upload', second = false): Promise<Inspected> {
    if (kind === 'upload') {
      // Upload data being written has a tail object, which holds its header (its own bytes may not be readable yet:
      // an S3 multipart upload is not an object until its last chunk; and none may be stored yet, all in the tail).
      const tail = await tailHeader(uploadTailPathOf(path));
      if (tail) {
        const info = await inner.stat(path).catch((error: unknown): FileInfo => {
          if (isPathNotFound(error)) return { size: 0, modifiedAt: new Date(), isDirectory: false };
          throw error;
        });
        const size = (await uploadPlaintextSize(inner, path, uploadTailPathOf(path), dataKeys, info.size)) ?? 0;
        // Readable are the whole frames stored now: a frame being appended (a mirror fetch read while it is written)
        // is not read half, and the last frame exists only once the tail is gone.
        const whole = Math.floor(Math.max(info.size - headerBytes, 0) / (tail.frameSize + tagBytes));
        const object = { header: tail, key: await dataKeys.open(tail.keyId), layout: { frames: whole, finished: false, plaintextSize: whole * tail.frameSize } };
        return { info: { ...info, size }, object };
      }
    }
    const info = await inner.stat(path);
    if (info.isDirectory) return { info };
    const header = await headerOf(path, info).catch((error: unknown) => {
      // Upload data without a tail is plaintext; on S3 it is not readable until its last chunk (a multipart upload),
      // while stat sees its bytes: its size is the answer, not "not found".
      if (kind === 'upload' && isPathNotFound(error)) return undefined;
      throw error;
    });
    if (!header) return { info };
    let object: EncryptedObject;
    try {
      object = await objectOf(header, info.size);
      // Only upload data may lack its last frame: a finished object without one was cut short at a frame boundary.
      if (kind === 'content' && !object.layout.finished) throw new EncryptedObjectError(`encrypted object ${path} is cut short (its last frame is missing)`);
    } catch (error) {
      // The size and the header may come from two versions of the object, rewritten between the two reads (the
      // encryption pass over a plaintext blob, a blob pushed again): look once more before calling it damaged.
      if (second || !(error instanceof EncryptedObjectError)) throw error;
      forget(path);
      return inspect(path, kind, true);
    }
    return { info: { ...info, size: object.layout.plaintextSize }, object };
  }

  async function tailHeader(tailPath: string): Promise<FrameHeader | undefined> {
    try {
      return parseHeader(await inner.getContent(tailPath));
    } catch (error) {
      if (isPathNotFound(error)) return undefined;
      throw error;
    }
  }

  /** The data key of what deleting `path` removes: a content object, or an upload session's encrypted data. */
  async function keyIdOf(path: string): Promise<string | undefined> {
    try {
      if (contentKindOf(path) === 'content') {
        const info = await inner.stat(path);
        return info.isDirectory ? undefined : (await headerOf(path, info))?.keyId;
      }
      if (uploadSessionPattern.test(path)) return (await tailHeader(uploadTailPathOf(`${path}/data`)))?.keyId;
    } catch (error) {
      if (!isPathNotFound(error)) throw error;
    }
    return undefined;
  }

  /** The object at `path` as it is now, past the header cache (a read whose first frame did not fit its header). */
  async function reinspect(path: string, kind: 'content' | 'upload'): Promise<EncryptedObject | undefined> {
    forget(path);
    return (await inspect(path, kind)).object;
  }

  /**
   * Drops the cached headers of `path` and of what lies below it. A scan of the whole cache is the last resort: the
   * collector deletes thousands of layer links and blob folders in one run, and a scan per delete made it O(n^2)
   * (1,000 repositories: 0.3 s of 4 in the scan alone).
   */
  function forget(path: string): void {
    headers.delete(path);
    if (contentKindOf(path) || linkFolder.test(path)) return;
    const single = singleObjectFolder.exec(path);
    if (single) {
      headers.delete(`${path}/data`);
      headers.delete(uploadTailPathOf(`${path}/data`));
      return;
    }
    for (const key of headers.keys()) if (key.startsWith(`${path}/`)) headers.delete(key);
  }

  return {
    name: inner.name,
    dataKeys,
    masterKeys,
    encryptsWrites,

    async discard(path) {
      const kind = contentKindOf(path);
      const object = kind ? await inspect(path, kind).then((found) => found.object, () => undefined) : undefined;
      forget(path);
      await inner.delete(path);
      await inner.delete(uploadTailPathOf(path));
      if (object) await dataKeys.remove(object.header.keyId);
    },

    async isEncrypted(path) {
      return (await inspect(path, contentKindOf(path) ?? 'content')).object !== undefined;
    },

    async getContent(path) {
      const bytes = await inner.getContent(path);
      if (!contentKindOf(path)) return bytes;
      const header = parseHeader(bytes);
      if (!header) return bytes;
      return decryptWhole(await objectOf(header, bytes.length), bytes);
    },

    async putContent(path, content) {
      forget(path);
      if (contentKindOf(path) !== 'content' || !(await encryptsWrites())) return inner.putContent(path, content);
      const { id, key } = await dataKeys.create();
      const bytes = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
      return inner.putContent(path, encryptWhole(key, newHeader(id), bytes));
    },

    async reader(path, range): Promise<Readable> {
      const kind = contentKindOf(path);
      if (!kind) return inner.reader(path, range);
      const { object } = await inspect(path, kind);
      return object ? decryptingReader(inner, path, object, range, () => reinspect(path, kind)) : inner.reader(path, range);
    },

    async copyTo(path, destination, range) {
      const kind = contentKindOf(path);
      if (!kind) return inner.copyTo(path, destination, range);
      const { object } = await inspect(path, kind);
      return object ? decryptInto(inner, path, object, destination, range, () => reinspect(path, kind)) : inner.copyTo(path, destination, range);
    },

    async writer(path) {
      const kind = contentKindOf(path);
      if (!kind) return inner.writer(path);
      forget(path);
      const framed = await openFrameWriter(inner, dataKeys, path, uploadTailPathOf(path), await encryptsWrites());
      return framed ?? inner.writer(path);
    },

    async stat(path) {
      const kind = contentKindOf(path);
      if (!kind) return inner.stat(path);
      return (await inspect(path, kind)).info;
    },

    // Age and stored size straight from the backend: no header read (the collector's sweep of every blob).
    statStored: (path) => inner.stat(path),
    list: (path) => inner.list(path),

    async move(source, destination) {
      forget(source);
      forget(destination);
      await inner.move(source, destination);
      forget(destination);
    },

    async delete(path) {
      // An object's data key goes with it (the garbage collector deleting a blob, a cancelled upload's session):
      // keys are per stored object, which moves (upload, blob, quarantine) but is never copied.
      const keyId = await keyIdOf(path);
      forget(path);
      await inner.delete(path);
      if (keyId) await dataKeys.remove(keyId);
    },

    removeEmptyFolder: (path) => inner.removeEmptyFolder(path),
    purgeLeftovers: (olderThanMs) => inner.purgeLeftovers(olderThanMs),
    // Bytes as stored (ciphertext, headers and data keys included): what the disk or the bucket really holds.
    usage: (path) => inner.usage(path),
  };
}
