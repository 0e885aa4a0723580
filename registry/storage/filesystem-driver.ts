import {
  close as closeCallback,
  createReadStream,
  fstat as fstatCallback,
  open as openCallback,
  read as readCallback,
  readdir as readdirCallback,
  readdirSync,
  readFileSync,
  stat as statCallback,
  statSync,
  type Stats,
} from 'node:fs';
import { promisify } from 'node:util';
import { lstat, mkdir, open, opendir, rename, rm, rmdir, stat, unlink } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { dirname, join, resolve, sep } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { privateDirMode, privateFileMode } from '../config/private-modes.js';
import { createBatchedFileWrites } from './batched-file-writes.js';
import { destinationClosedError, PathNotFoundError, type FileInfo, type FileWriter, type SpaceUsage, type StorageDriver } from './driver.js';

/**
 * 1 MiB read chunks: measured on the target machine, fs streams with the default 64 KiB chunks
 * deliver ~620 MiB/s, with 1 MiB ~1.6 GiB/s (on par with distribution's Go server).
 */
const readChunkBytes = 1024 * 1024;
const openFd = promisify(openCallback);
const closeFd = promisify(closeCallback);
const readFd = promisify(readCallback);
// The metadata walks (index verify, garbage collection) make tens of thousands of stat, readdir and small reads: the
// callback forms cost about half the CPU of node:fs/promises per call (measured: 10,000 stats 95 vs 164 ms CPU;
// a 70-byte link file read as open+fstat+read+close 29 us vs readFile's 58 us).
const statPath = promisify(statCallback);
const statFd = promisify(fstatCallback);
const readFolder = promisify(readdirCallback) as (path: string) => Promise<string[]>;
/** Buffers in flight per copy: enough to keep the socket busy while the next chunk is read. */
const copyBuffers = 4;

/**
 * Reads into a small ring of buffers and writes each to `destination`, reusing a buffer only once the
 * destination's write callback says it has been written. Measured against fs streams (which allocate
 * a fresh 1 MiB buffer per chunk for the garbage collector to reclaim): ~1.2 vs ~2.1 GB/s on loopback.
 */
async function copyRange(fd: number, destination: Writable, range: { start: number; end: number }): Promise<void> {
  const free: Buffer[] = Array.from({ length: copyBuffers }, () => Buffer.allocUnsafeSlow(readChunkBytes));
  let waiter: (() => void) | undefined;
  let failure: Error | undefined;
  const wake = () => {
    const resolve = waiter;
    waiter = undefined;
    resolve?.();
  };
  const onClose = () => {
    failure ??= destinationClosedError();
    wake();
  };
  destination.once('close', onClose);
  try {
    let position = range.start;
    while (position <= range.end) {
      while (free.length === 0 && !failure) await new Promise<void>((resolve) => (waiter = resolve));
      if (failure) throw failure;
      const buffer = free.pop() as Buffer;
      const { bytesRead } = await readFd(fd, buffer, 0, Math.min(buffer.length, range.end - position + 1), position);
      if (bytesRead === 0) throw new Error(`object ended ${range.end - position + 1} bytes early`);
      position += bytesRead;
      destination.write(bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead), (error) => {
        if (error) failure ??= error;
        free.push(buffer);
        wake();
      });
    }
    // Every buffer back means every byte was written.
    while (free.length < copyBuffers && !failure) await new Promise<void>((resolve) => (waiter = resolve));
    if (failure) throw failure;
  } finally {
    destination.off('close', onClose);
  }
}

/** The whole of an open file (small objects: links, manifests), read at the size fstat gives and then to its end. */
async function readWhole(fd: number): Promise<Buffer> {
  const { size } = await statFd(fd);
  const chunks: Buffer[] = [];
  let total = 0;
  // One read for a file that did not change size; more only when it grew between the fstat and the read.
  for (let want = Math.max(size, 1); ; want = 64 * 1024) {
    const buffer = Buffer.allocUnsafe(want);
    const { bytesRead } = await readFd(fd, buffer, 0, want, total);
    if (bytesRead === 0) break;
    chunks.push(bytesRead === want ? buffer : buffer.subarray(0, bytesRead));
    total += bytesRead;
    if (bytesRead < want) break;
  }
  return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, total);
}

/** A `.` or `..` segment: refused in every storage path. */
const dotSegment = /(?:^|\/)\.\.?(?:\/|$)/;
/** `/a/b/c`: a leading slash and no empty segment. */
const plainPath = /^(?:\/[^/]+)+$/;

/** How often a write retries after its parent folder vanished under it (a concurrent delete of the folder). */
const parentRetries = 5;

/**
 * Runs `operation` (which creates `target`), and when it fails with ENOENT creates `target`'s parent folders and runs
 * it again: the parent may never have existed, or been removed in between (a DELETE of a blob link, or the garbage
 * collector tidying an empty blob folder, removes folders that another request is about to write into; without the
 * retry that request failed with a bare ENOENT, a 500). The parent is made only after a miss: `mkdir -p` of a folder
 * that exists costs two calls (mkdir, then a stat to see it is a folder), and most moves go into one that does (the
 * collector's quarantine moves, restores, re-encryption); a write into a new folder pays one failed call instead.
 * `sourceExists` tells a missing parent from a missing source (rename); it throws when the source is gone, which
 * ends the retries.
 */
async function inParent<T>(target: string, operation: () => Promise<T>, sourceExists?: () => Promise<void>): Promise<T> {
  for (let attempt = 0; ; attempt += 1) {
    try {
      // Inside the try: `mkdir -p` itself fails with ENOENT when a folder it just made is removed under it.
      if (attempt > 0) await mkdir(dirname(target), { recursive: true, mode: privateDirMode });
      return await operation();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || attempt > parentRetries) throw error;
      await sourceExists?.();
    }
  }
}

/** The reads of the metadata paths (stat, list, getContent), on the thread pool or on the calling thread. */
interface MetadataReads {
  stat(path: string): Promise<Stats>;
  readdir(path: string): Promise<string[]>;
  /** A small file whole (links, manifests). */
  readFile(path: string): Promise<Buffer>;
}

const pooledReads: MetadataReads = {
  stat: statPath,
  readdir: readFolder,
  async readFile(path) {
    const fd = await openFd(path, 'r');
    try {
      return await readWhole(fd);
    } finally {
      await closeFd(fd);
    }
  },
};

// Async functions, so a failure is a rejection like the pool's.
const inlineReads: MetadataReads = {
  stat: async (path) => statSync(path),
  readdir: async (path) => readdirSync(path),
  readFile: async (path) => readFileSync(path),
};

export interface FilesystemDriverOptions {
  /**
   * stat, list and getContent run on the calling thread (the fs.*Sync calls) instead of libuv's thread pool: for a
   * process that does nothing else while it reads tens of thousands of link files and folders (`berth gc`), where the
   * hand-off to a pool thread and back costs more than the stat of a cached inode (10,000 stats: 8 us each inline, 16-19
   * us through the pool at 16 in flight; gc's index check of 1,000 repositories 0.58 -> 0.31-0.36 s). Never in the server:
   * each such call stops every request meanwhile. Writes, renames and deletes stay on the pool either way: they wait on
   * the file system's journal, and the pool runs several side by side (2,000 unlink + rmdir: 0.5-1.2 s one by one,
   * 0.25-0.4 s at 4-16 in flight).
   */
  readonly inlineReads?: boolean;
}

/**
 * StorageDriver over a local directory. Every path is confined to `root`. Folders are created 0700 and files 0600
 * (explicitly, so the umask does not matter): image content is for the data directory's owner only.
 */
export function createFilesystemDriver(root: string, options: FilesystemDriverOptions = {}): StorageDriver {
  const base = resolve(root);
  const reads = options.inlineReads ? inlineReads : pooledReads;

  const inside = base.endsWith(sep) ? base : base + sep;
  // What paths.ts builds (`/a/b`, no empty segment) maps by concatenation where the separator is `/`; anything else
  // is normalised by join. The garbage collector maps tens of thousands of paths: split-filter-join cost 0.1 s CPU.
  const concatenates = sep === '/';
  const prefix = base.endsWith(sep) ? base.slice(0, -1) : base;

  function full(path: string): string {
    // Paths come from storage/paths.ts, built from validated names; this is the last line of defence.
    if (!path.startsWith('/') || dotSegment.test(path)) throw new Error(`illegal storage path: ${path}`);
    const target = concatenates && plainPath.test(path) ? prefix + path : join(base, ...path.split('/').filter(Boolean));
    if (target !== base && !target.startsWith(inside)) throw new Error(`illegal storage path: ${path}`);
    return target;
  }

  function notFound(path: string, error: unknown): never {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ENOTDIR') {
      throw new PathNotFoundError(path, { cause: error });
    }
    throw error;
  }

  async function writeAtomically(target: string, content: Uint8Array | string): Promise<void> {
    // The temp file sits beside the target: a delete of the folder takes it too, so a retry starts over.
    await inParent(target, async () => {
      const temp = `${target}.${randomBytes(6).toString('hex')}.tmp`;
      // Outside the try: when the folder is missing (inParent then makes it) there is no temp file to remove.
      const handle = await open(temp, 'w', privateFileMode);
      try {
        try {
          await handle.writeFile(content);
          await handle.sync();
        } finally {
          await handle.close();
        }
        await rename(temp, target);
      } catch (error) {
        await rm(temp, { force: true });
        throw error;
      }
    });
  }

  return {
    name: 'filesystem',

    async getContent(path) {
      return reads.readFile(full(path)).catch((error: unknown) => notFound(path, error));
    },

    putContent(path, content) {
      return writeAtomically(full(path), content);
    },

    async reader(path, range) {
      const target = full(path);
      // Open first so a missing file is a PathNotFoundError here, not a stream error later. A numeric fd,
      // not a FileHandle: streams over FileHandle read through promises, ~25% slower on large blobs.
      const fd = await openFd(target, 'r').catch((error: unknown) => notFound(path, error));
      return createReadStream('', {
        fd,
        autoClose: true,
        highWaterMark: readChunkBytes,
        ...(range ? { start: range.start, end: range.end } : {}),
      }) as Readable;
    },

    async copyTo(path, destination, range) {
      const fd = await openFd(full(path), 'r').catch((error: unknown) => notFound(path, error));
      try {
        await copyRange(fd, destination, range);
      } finally {
        await closeFd(fd);
      }
    },

    async writer(path) {
      const target = full(path);
      const handle = await inParent(target, () => open(target, 'a', privateFileMode));
      const initialSize = (await handle.stat()).size;
      // We own the handle (fsync before close): the stream gets the bare fd, since a FileHandle given to a
      // stream stays referenced until the stream closes it, and handle.close() would then wait forever.
      const stream = createBatchedFileWrites(handle.fd);
      let closed = false;
      const closeOnce = async (sync: boolean): Promise<void> => {
        if (closed) return;
        closed = true;
        try {
          if (!stream.writableFinished && !stream.destroyed) stream.end();
          // Also when the stream was destroyed (its source failed): its 'close' waits for a write still running, so
          // the size a resumed upload starts from is final and nothing writes to the descriptor once it is closed.
          await finished(stream).catch(() => undefined);
          if (sync) await handle.sync();
        } finally {
          await handle.close();
        }
      };
      return {
        stream,
        initialSize,
        commit: () => closeOnce(true),
        close: () => closeOnce(false),
      } satisfies FileWriter;
    },

    async stat(path): Promise<FileInfo> {
      try {
        const info = await reads.stat(full(path));
        return { size: info.size, modifiedAt: info.mtime, isDirectory: info.isDirectory() };
      } catch (error) {
        return notFound(path, error);
      }
    },

    async list(path) {
      try {
        return await reads.readdir(full(path));
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'ENOTDIR') return [];
        throw error;
      }
    },

    async move(source, destination) {
      const from = full(source);
      try {
        await inParent(full(destination), () => rename(from, full(destination)), () => stat(from).then(() => undefined));
      } catch (error) {
        notFound(source, error);
      }
    },

    async delete(path) {
      const target = full(path);
      // Most deletes are of one file (a link, a quarantined blob): one unlink, where rm looks first (lstat) and then
      // removes. A folder (EISDIR on Linux, EPERM on macOS) goes as a subtree.
      try {
        await unlink(target);
        return;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      }
      // Retried: a write into the subtree while it is being removed makes its last rmdir fail with ENOTEMPTY.
      await rm(target, { recursive: true, force: true, maxRetries: 5, retryDelay: 5 });
    },

    async removeEmptyFolder(path) {
      try {
        await rmdir(full(path));
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT' && code !== 'ENOTEMPTY' && code !== 'EEXIST' && code !== 'ENOTDIR') throw error;
      }
    },

    async purgeLeftovers(olderThanMs) {
      // putContent's temp files (`<name>.<random>.tmp`) survive a kill -9 between write and rename.
      let purged = 0;
      const cutoff = Date.now() - olderThanMs;
      for await (const entry of await opendir(base, { recursive: true })) {
        if (!entry.isFile() || !entry.name.endsWith('.tmp')) continue;
        const path = join(entry.parentPath ?? (entry as unknown as { path: string }).path, entry.name);
        const info = await stat(path).catch(() => undefined);
        if (info && info.mtimeMs < cutoff) {
          await rm(path, { force: true });
          purged += 1;
        }
      }
      return purged;
    },

    usage: (path) => walkUsage(full(path)),
  };
}

/** Sums the regular files below `dir` with opendir (one directory handle at a time, no full listing in memory). */
async function walkUsage(dir: string): Promise<SpaceUsage> {
  let bytes = 0;
  let files = 0;
  async function visit(path: string): Promise<void> {
    let handle;
    try {
      handle = await opendir(path);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      // Deleted under us (garbage collection, an upload's temp dir) or never created: nothing to count.
      if (code === 'ENOENT' || code === 'ENOTDIR') return;
      throw error;
    }
    for await (const entry of handle) {
      const child = join(path, entry.name);
      if (entry.isDirectory()) {
        await visit(child);
      } else if (entry.isFile()) {
        const info = await lstat(child).catch(() => undefined);
        if (info) {
          bytes += info.size;
          files += 1;
        }
      }
    }
  }
  await visit(dir);
  return { bytes, files };
}
