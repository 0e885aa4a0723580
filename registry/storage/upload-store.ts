import { createHash, randomUUID, type Hash } from 'node:crypto';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { RegistryError } from '../core/errors.js';
import type { ParsedDigest } from '../core/digest.js';
import type { BlobStore } from './blob-store.js';
import { isPathNotFound, type StorageDriver } from './driver.js';
import { pathFor } from './paths.js';
import type { RepositoryIndex } from './repository-index.js';
import { walkRepositories } from './repository-walk.js';

export interface UploadStatus {
  readonly id: string;
  readonly repository: string;
  /** Bytes received so far: the next chunk must start here. */
  readonly offset: number;
}

/**
 * Resumable blob upload sessions. Bytes go to `_uploads/<id>/data` while being hashed; on
 * completion the data is fsynced, its digest compared with the client's, and only then moved into
 * the blob store, so no partial or unverified blob is ever visible. Sessions live on disk, so a
 * push interrupted by a restart resumes; the running sha256 state lives in memory and, when it is
 * lost (restart, broken chunk), the digest is recomputed by streaming the file once.
 */
export interface UploadStore {
  start(repository: string): Promise<UploadStatus>;
  /** Throws BLOB_UPLOAD_UNKNOWN. */
  status(repository: string, id: string): Promise<UploadStatus>;
  /** Appends a chunk. `start`, when given (Content-Range), must equal the current offset: 416 otherwise. */
  append(repository: string, id: string, body: Readable, start?: number): Promise<UploadStatus>;
  /** Appends an optional last chunk, verifies the digest, stores the blob and ends the session. */
  complete(repository: string, id: string, digest: ParsedDigest, body?: Readable, start?: number): Promise<{ size: number }>;
  cancel(repository: string, id: string): Promise<void>;
  /** Deletes sessions started more than `maxAgeMs` ago; returns how many. */
  purge(maxAgeMs: number, now?: Date): Promise<number>;
}

const uploadIdGrammar = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface RunningHash {
  hash: Hash;
  offset: number;
}

export function createUploadStore(driver: StorageDriver, blobs: BlobStore, index: RepositoryIndex): UploadStore {
  const hashes = new Map<string, RunningHash>();
  const locks = new Map<string, Promise<unknown>>();

  /** Serializes operations on one session: two PATCHes must not interleave their bytes. */
  function exclusive<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = locks.get(key) ?? Promise.resolve();
    const next = previous.then(work, work);
    const settled = next.catch(() => undefined);
    locks.set(key, settled);
    void settled.then(() => {
      if (locks.get(key) === settled) locks.delete(key);
    });
    return next;
  }

  async function assertExists(repository: string, id: string): Promise<void> {
    if (!uploadIdGrammar.test(id)) throw new RegistryError('BLOB_UPLOAD_UNKNOWN', `unknown upload session: ${id.slice(0, 80)}`);
    try {
      await driver.stat(pathFor({ kind: 'uploadStartedAt', repository, id }));
    } catch (error) {
      if (isPathNotFound(error)) throw new RegistryError('BLOB_UPLOAD_UNKNOWN', `unknown upload session: ${id}`);
      throw error;
    }
  }

  async function currentSize(repository: string, id: string): Promise<number> {
    try {
      return (await driver.stat(pathFor({ kind: 'uploadData', repository, id }))).size;
    } catch (error) {
      if (isPathNotFound(error)) return 0;
      throw error;
    }
  }

  /** Streams `body` onto the session's data file, feeding the running hash when it is in step. */
  async function write(key: string, repository: string, id: string, body: Readable, start: number | undefined, durable: boolean) {
    const writer = await driver.writer(pathFor({ kind: 'uploadData', repository, id }));
    const offset = writer.initialSize;
    if (start !== undefined && start !== offset) {
      await writer.close();
      throw rangeError(offset, `chunk starts at ${start} but the upload has ${offset} bytes`);
    }
    const running = hashes.get(key);
    const tracked = running && running.offset === offset ? running : undefined;
    if (!tracked) hashes.delete(key);
    let written = 0;
    const tap = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        tracked?.hash.update(chunk);
        written += chunk.length;
        callback(null, chunk);
      },
    });
    try {
      await pipeline(body, tap, writer.stream);
    } catch (error) {
      // Part of the chunk may be on disk: the offset reported next time tells the client where to resume.
      hashes.delete(key);
      await writer.close().catch(() => undefined);
      throw error;
    }
    await (durable ? writer.commit() : writer.close());
    if (tracked) tracked.offset = offset + written;
    return offset + written;
  }

  async function digestOfFile(repository: string, id: string, algorithm: string): Promise<string> {
    const hash = createHash(algorithm);
    const reader = await driver.reader(pathFor({ kind: 'uploadData', repository, id }));
    for await (const chunk of reader) hash.update(chunk as Buffer);
    return hash.digest('hex');
  }

  async function remove(key: string, repository: string, id: string): Promise<void> {
    hashes.delete(key);
    await driver.delete(pathFor({ kind: 'upload', repository, id }));
  }

  return {
    async start(repository) {
      const id = randomUUID();
      // startedat is written last-but-atomically: a session exists exactly when this file does.
      await driver.putContent(pathFor({ kind: 'uploadStartedAt', repository, id }), new Date().toISOString());
      // The session's folder makes the repository one (the catalog lists it, as the walk of the files does).
      await index.touchRepository(repository);
      hashes.set(`${repository}/${id}`, { hash: createHash('sha256'), offset: 0 });
      return { id, repository, offset: 0 };
    },

    async status(repository, id) {
      await assertExists(repository, id);
      return { id, repository, offset: await currentSize(repository, id) };
    },

    append(repository, id, body, start) {
      const key = `${repository}/${id}`;
      return exclusive(key, async () => {
        await assertExists(repository, id);
        const offset = await write(key, repository, id, body, start, false);
        return { id, repository, offset };
      });
    },

    complete(repository, id, digest, body, start) {
      const key = `${repository}/${id}`;
      return exclusive(key, async () => {
        await assertExists(repository, id);
        const size = body
          ? await write(key, repository, id, body, start, true)
          : await write(key, repository, id, emptyStream(), undefined, true);
        const running = hashes.get(key);
        const actual =
          running && running.offset === size && digest.algorithm === 'sha256'
            ? running.hash.digest('hex')
            : await digestOfFile(repository, id, digest.algorithm);
        if (actual !== digest.hex) {
          await remove(key, repository, id);
          throw new RegistryError('DIGEST_INVALID', `uploaded content has digest ${digest.algorithm}:${actual}, not ${digest.digest}`, {
            detail: { digest: digest.digest },
          });
        }
        await blobs.adopt(digest, pathFor({ kind: 'uploadData', repository, id }));
        await remove(key, repository, id);
        return { size };
      });
    },

    cancel(repository, id) {
      const key = `${repository}/${id}`;
      return exclusive(key, async () => {
        await assertExists(repository, id);
        await remove(key, repository, id);
      });
    },

    async purge(maxAgeMs, now = new Date()) {
      let purged = 0;
      for (const repository of await walkRepositories(driver)) {
        for (const id of await driver.list(pathFor({ kind: 'uploads', repository }))) {
          const startedAt = await driver
            .getContent(pathFor({ kind: 'uploadStartedAt', repository, id }))
            .then((bytes) => Date.parse(bytes.toString('utf8')))
            .catch(() => Number.NaN);
          // A session without a readable start time was cut off while being created: purge it too.
          if (Number.isNaN(startedAt) || now.getTime() - startedAt > maxAgeMs) {
            await exclusive(`${repository}/${id}`, () => remove(`${repository}/${id}`, repository, id));
            purged += 1;
          }
        }
      }
      return purged;
    },
  };
}

export function rangeError(offset: number, message: string): RegistryError {
  return new RegistryError('RANGE_INVALID', message, {
    headers: { Range: `0-${Math.max(offset - 1, 0)}` },
    detail: { offset },
  });
}

function emptyStream(): Readable {
  return Readable.from([]);
}
