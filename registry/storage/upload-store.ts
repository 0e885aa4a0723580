import { createHash, randomUUID, type Hash } from 'node:crypto';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createLocalLocks, lockNames, type ClusterLocks } from '../cluster/cluster-locks.js';
import { RegistryError } from '../core/errors.js';
import type { ParsedDigest } from '../core/digest.js';
import type { BlobStore } from './blob-store.js';
import { isPathNotFound, type StorageDriver } from './driver.js';
import { pathFor } from './paths.js';
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
  /**
   * Opens a session. Past the limits (UploadLimits) it throws TOOMANYREQUESTS (429); `capped: false` is for
   * Berth's own writers that finish or cancel within the same call chain (mirror fetches), so a client that
   * fills the table cannot stop pulls through the mirror.
   */
  start(repository: string, options?: { capped?: boolean }): Promise<UploadStatus>;
  /** Sessions open now, in all and in `repository` (for the limits; counts what this process started or saw). */
  openSessions(repository?: string): number;
  /** Throws BLOB_UPLOAD_UNKNOWN. */
  status(repository: string, id: string): Promise<UploadStatus>;
  /**
   * Appends a chunk. `start`, when given (Content-Range), must equal the current offset: 416 otherwise. With `limit`,
   * nothing past `limit.maxSize` bytes of session data is written and the call fails with `limit.refuse(size)` once the
   * body is read (a quota); what was written before stays until the caller cancels the session.
   */
  append(repository: string, id: string, body: Readable, start?: number, limit?: SizeLimit): Promise<UploadStatus>;
  /** Appends an optional last chunk, verifies the digest, stores the blob and ends the session. */
  complete(repository: string, id: string, digest: ParsedDigest, body?: Readable, options?: CompleteOptions): Promise<{ size: number }>;
  cancel(repository: string, id: string): Promise<void>;
  /** Deletes sessions started more than `maxAgeMs` ago; returns how many. */
  purge(maxAgeMs: number, now?: Date): Promise<number>;
}

/**
 * How many upload sessions may be open at once. Each open session costs a directory on disk until it is
 * finished, cancelled or purged (by age), and a running sha256 state in memory (a few hundred bytes: the limits
 * bound that too). A push opens one session per layer at a time (docker: 3 or 5 in parallel per image), so the
 * defaults leave room for many concurrent pushes and some abandoned sessions while a client looping on POST
 * stops at a fixed cost.
 */
export interface UploadLimits {
  /** Per repository. Default 100. */
  readonly perRepository: number;
  /** Across all repositories. Default 1000. */
  readonly total: number;
}

/** The most a session may hold, and the error that cuts a stream going past it. */
export interface SizeLimit {
  readonly maxSize: number;
  refuse(size: number): Error;
}

export interface CompleteOptions {
  /** Where the last chunk starts (Content-Range), as for append. */
  readonly start?: number;
  /** As for append. */
  readonly limit?: SizeLimit;
  /**
   * Called once the digest matched, before the data is flushed to stable storage and moved into the blob store:
   * a mirror releases the last bytes of a verified blob to its clients without making them wait for the fsync and
   * the commit (on S3, the multipart completion and the copy into place). A later failure still rejects `complete`.
   */
  readonly onVerified?: () => void;
}

export const defaultUploadLimits: UploadLimits = { perRepository: 100, total: 1000 };

const uploadIdGrammar = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface RunningHash {
  hash: Hash;
  offset: number;
}

/**
 * `locks`: shared with the other nodes of a cluster (cluster/cluster-locks.ts), so that requests on one session
 * take turns across nodes too (a PATCH may land on any node); default this process's own.
 */
export function createUploadStore(driver: StorageDriver, blobs: BlobStore, limits: UploadLimits = defaultUploadLimits, locks: ClusterLocks = createLocalLocks()): UploadStore {
  const hashes = new Map<string, RunningHash>();
  /** The last operation queued on each session in this process. */
  const running = new Map<string, Promise<unknown>>();
  /** Open sessions per repository (id -> when this process first counted it), for the limits. */
  const open = new Map<string, Map<string, number>>();
  let openTotal = 0;

  function track(repository: string, id: string): void {
    let sessions = open.get(repository);
    if (!sessions) open.set(repository, (sessions = new Map()));
    if (sessions.has(id)) return;
    sessions.set(id, Date.now());
    openTotal += 1;
  }

  function untrack(repository: string, id: string): void {
    const sessions = open.get(repository);
    if (!sessions?.delete(id)) return;
    openTotal -= 1;
    if (sessions.size === 0) open.delete(repository);
  }

  /** Refuses a new session past the limits, in the client's terms: what is full, and how to make room. */
  function assertRoom(repository: string): void {
    const inRepository = open.get(repository)?.size ?? 0;
    if (inRepository >= limits.perRepository) {
      throw new RegistryError(
        'TOOMANYREQUESTS',
        `too many open upload sessions in ${repository} (${inRepository}, the limit is ${limits.perRepository}): finish or cancel (DELETE) one first; abandoned sessions are purged by age`,
        { detail: { repository, open: inRepository, limit: limits.perRepository } },
      );
    }
    if (openTotal >= limits.total) {
      throw new RegistryError(
        'TOOMANYREQUESTS',
        `too many open upload sessions in this registry (${openTotal}, the limit is ${limits.total}): finish or cancel (DELETE) one first; abandoned sessions are purged by age`,
        { detail: { open: openTotal, limit: limits.total } },
      );
    }
  }

  /**
   * Serializes operations on one session: two PATCHes must not interleave their bytes. In this process they queue
   * here; across nodes the session's lock makes them take turns (a second node waits for the first node's request
   * to end, then finds the offset moved and answers as the protocol says: 416 for a chunk that no longer fits).
   */
  function exclusive<T>(key: string, id: string, work: () => Promise<T>): Promise<T> {
    const underLock = async () => {
      const lock = await locks.acquire(lockNames.upload(id));
      try {
        return await work();
      } finally {
        await lock.release();
      }
    };
    const previous = running.get(key) ?? Promise.resolve();
    const next = previous.then(underLock, underLock);
    const settled = next.catch(() => undefined);
    running.set(key, settled);
    void settled.then(() => {
      if (running.get(key) === settled) running.delete(key);
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
  async function write(
    key: string,
    repository: string,
    id: string,
    body: Readable,
    options: { start?: number | undefined; limit?: SizeLimit | undefined; durable: boolean; beforeCommit?: (size: number) => void },
  ) {
    const { start, limit, durable } = options;
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
    let refusedAt: number | undefined;
    const tap = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        // Past the limit the rest of the body is read and dropped, not written: cutting the stream would reset the
        // connection before the client could read why.
        if (refusedAt !== undefined || (limit && offset + written + chunk.length > limit.maxSize)) {
          refusedAt = (refusedAt ?? offset + written) + chunk.length;
          callback();
          return;
        }
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
    if (refusedAt !== undefined && limit) {
      hashes.delete(key);
      await writer.close();
      throw limit.refuse(refusedAt);
    }
    const size = offset + written;
    if (tracked) tracked.offset = size;
    try {
      options.beforeCommit?.(size);
      await (durable ? writer.commit() : writer.close());
    } catch (error) {
      hashes.delete(key);
      await writer.close().catch(() => undefined);
      throw error;
    }
    return size;
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
    untrack(repository, id);
  }

  return {
    async start(repository, options = {}) {
      if (options.capped !== false) assertRoom(repository);
      const id = randomUUID();
      // Counted before the first await, so concurrent POSTs cannot all slip under the limit.
      track(repository, id);
      try {
        // startedat is written last-but-atomically: a session exists exactly when this file does.
        await driver.putContent(pathFor({ kind: 'uploadStartedAt', repository, id }), new Date().toISOString());
      } catch (error) {
        untrack(repository, id);
        throw error;
      }
      hashes.set(`${repository}/${id}`, { hash: createHash('sha256'), offset: 0 });
      return { id, repository, offset: 0 };
    },

    openSessions(repository) {
      return repository === undefined ? openTotal : open.get(repository)?.size ?? 0;
    },

    async status(repository, id) {
      await assertExists(repository, id);
      return { id, repository, offset: await currentSize(repository, id) };
    },

    append(repository, id, body, start, limit) {
      const key = `${repository}/${id}`;
      return exclusive(key, id, async () => {
        await assertExists(repository, id);
        const offset = await write(key, repository, id, body, { start, limit, durable: false });
        return { id, repository, offset };
      });
    },

    complete(repository, id, digest, body, options = {}) {
      const key = `${repository}/${id}`;
      return exclusive(key, id, async () => {
        await assertExists(repository, id);
        /** The digest of what was written, from the running hash when it followed every byte. */
        let actual: string | undefined;
        const checkRunningHash = (size: number) => {
          const running = hashes.get(key);
          if (!running || running.offset !== size || digest.algorithm !== 'sha256') return;
          hashes.delete(key); // a digested hash takes no more bytes
          actual = running.hash.digest('hex');
          if (actual === digest.hex) options.onVerified?.();
        };
        // Without a body there is no chunk whose start could be checked (Content-Range on an empty PUT is ignored).
        const start = body ? options.start : undefined;
        const size = await write(key, repository, id, body ?? emptyStream(), { start, limit: options.limit, durable: true, beforeCommit: checkRunningHash });
        if (actual === undefined) {
          actual = await digestOfFile(repository, id, digest.algorithm);
          if (actual === digest.hex) options.onVerified?.();
        }
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
      return exclusive(key, id, async () => {
        await assertExists(repository, id);
        await remove(key, repository, id);
      });
    },

    async purge(maxAgeMs, now = new Date()) {
      let purged = 0;
      // The walk also brings the counts for the limits in line with the disk: sessions left by an earlier run are
      // counted from the first purge (at start), and sessions that vanished without this store (a data directory
      // edited by hand) stop counting. What was started during the walk is left alone.
      // (A minute of slack: a session whose start was still being written when its folder was listed is not dropped.)
      const walkStartedAt = Date.now() - 60_000;
      const seen = new Set<string>();
      for (const repository of await walkRepositories(driver)) {
        for (const id of await driver.list(pathFor({ kind: 'uploads', repository }))) {
          seen.add(`${repository}/${id}`);
          const startedAt = await driver
            .getContent(pathFor({ kind: 'uploadStartedAt', repository, id }))
            .then((bytes) => Date.parse(bytes.toString('utf8')))
            .catch(() => Number.NaN);
          // A session without a readable start time was cut off while being created: purge it too.
          if (Number.isNaN(startedAt) || now.getTime() - startedAt > maxAgeMs) {
            await exclusive(`${repository}/${id}`, id, () => remove(`${repository}/${id}`, repository, id));
            purged += 1;
          } else if (uploadIdGrammar.test(id)) {
            track(repository, id);
          }
        }
      }
      for (const [repository, sessions] of [...open]) {
        for (const [id, countedAt] of [...sessions]) {
          if (countedAt < walkStartedAt && !seen.has(`${repository}/${id}`)) {
            hashes.delete(`${repository}/${id}`);
            untrack(repository, id);
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
