import type { Readable, Writable } from 'node:stream';

/**
 * The one storage contract every Berth component goes through (after CNCF distribution's
 * storagedriver.go). Paths are absolute POSIX-style keys inside the driver (`/blobs/sha256/...`),
 * built only by storage/paths.ts. The filesystem driver implements it today; an S3-compatible
 * driver implements the same contract for scale-out, so nothing above this file may touch `fs`.
 */
export interface StorageDriver {
  readonly name: string;
  /** Reads a small object (link files, manifests) whole. Throws PathNotFoundError. */
  getContent(path: string): Promise<Buffer>;
  /** Writes a small object atomically: a reader sees the old content or the new, never a mix. */
  putContent(path: string, content: Uint8Array | string): Promise<void>;
  /** Streams `[start, end]` (inclusive, like HTTP ranges) of an object. Throws PathNotFoundError. */
  reader(path: string, range?: { start: number; end: number }): Promise<Readable>;
  /**
   * Writes `[start, end]` of an object into `destination` (an HTTP response) without ending it, with
   * bounded memory; resolves when every byte was handed over. The fast path for serving blobs: a
   * driver may reuse its buffers once `destination` reports them written. Throws PathNotFoundError.
   */
  copyTo(path: string, destination: Writable, range: { start: number; end: number }): Promise<void>;
  /**
   * Opens a writer that appends to `path` (creating it). Bytes become durable only after commit();
   * cancel() removes the file. Used for upload sessions, whose objects are never read as blobs.
   */
  writer(path: string): Promise<FileWriter>;
  /** Throws PathNotFoundError. */
  stat(path: string): Promise<FileInfo>;
  /**
   * Like stat, but the object as stored, not decoded: its stored size and age. For the garbage collector's sweep,
   * which needs only the age and a byte figure per blob; a layer that decodes (encryption at rest) would otherwise
   * read every blob's header. Absent: stat is already that.
   */
  statStored?(path: string): Promise<FileInfo>;
  /** Names of the direct children of a directory; [] when it does not exist. */
  list(path: string): Promise<string[]>;
  /**
   * Moves an object into place atomically, creating parents; replaces an existing target. Throws
   * PathNotFoundError when the source is missing.
   */
  move(source: string, destination: string): Promise<void>;
  /** Deletes an object or a whole subtree; deleting what does not exist is not an error. */
  delete(path: string): Promise<void>;
  /**
   * Removes a folder only if it is empty, atomically (a file being written into it keeps it); missing is fine.
   * Lets the garbage collector tidy a blob's folder without racing a push that writes into it. A no-op where
   * folders are not real (object stores).
   */
  removeEmptyFolder(path: string): Promise<void>;
  /** Removes what interrupted atomic writes left behind (older than `olderThanMs`); returns how many. */
  purgeLeftovers(olderThanMs: number): Promise<number>;
  /**
   * The total size and number of the committed objects below the directory `path`, read with bounded memory (one
   * directory, or one listing page of 1000 keys, at a time); a missing path counts nothing. The bytes of a writer
   * that was not committed may or may not count (a file has them, an S3 multipart upload is no object yet). Costs
   * a walk of the subtree, a listing of it on S3: callers cache the answer (metrics/storage-usage.ts).
   */
  usage(path: string): Promise<SpaceUsage>;
}

export interface SpaceUsage {
  readonly bytes: number;
  /** Objects (regular files) counted. */
  readonly files: number;
}

export interface FileInfo {
  readonly size: number;
  readonly modifiedAt: Date;
  readonly isDirectory: boolean;
}

export interface FileWriter {
  /** Pipe bytes into this stream; its `finish` does not make them durable, commit() does. */
  readonly stream: Writable;
  /** Size of the object when the writer was opened (the resume offset of an upload). */
  readonly initialSize: number;
  /** Ends the stream, flushes to stable storage (fsync) and closes. */
  commit(): Promise<void>;
  /** Closes without flushing; the bytes written so far stay (an interrupted PATCH can be resumed). */
  close(): Promise<void>;
}

/**
 * What a copy into a response (copyTo, a mirror fetch's follower) rejects with when the response closed before every
 * byte was handed over: the client went away. Its code is the one Node's own streams use, which the error writer
 * (http/error-response.ts) recognises as no fault of Berth's.
 */
export function destinationClosedError(): Error {
  return Object.assign(new Error('the client went away'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
}

export class PathNotFoundError extends Error {
  readonly path: string;
  constructor(path: string, options?: { cause?: unknown }) {
    super(`path not found: ${path}`, options);
    this.name = 'PathNotFoundError';
    this.path = path;
  }
}

export function isPathNotFound(error: unknown): error is PathNotFoundError {
  return error instanceof PathNotFoundError;
}

/** Whether `path` exists in the driver's namespace (a stat that tells "not found" from a real failure). */
export async function pathExists(driver: Pick<StorageDriver, 'stat'>, path: string): Promise<boolean> {
  try {
    await driver.stat(path);
    return true;
  } catch (error) {
    if (isPathNotFound(error)) return false;
    throw error;
  }
}

/**
 * Deletes a link file (`…/<hex>/link`) and then its folder, if that is empty: on the filesystem an unlink and an
 * rmdir, where deleting the folder as a subtree looks at it first (rm -r: lstat, rmdir, readdir, lstat, unlink,
 * rmdir). A folder that still holds something (a concurrent write's temp file) stays: that write then lands.
 */
export async function deleteLinkFile(driver: Pick<StorageDriver, 'delete' | 'removeEmptyFolder'>, linkPath: string): Promise<void> {
  await driver.delete(linkPath);
  await driver.removeEmptyFolder(linkPath.slice(0, linkPath.lastIndexOf('/')));
}
