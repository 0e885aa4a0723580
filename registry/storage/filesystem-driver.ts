import { createReadStream, createWriteStream, open as openCallback } from 'node:fs';
import { promisify } from 'node:util';
import { mkdir, open, opendir, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { dirname, join, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { PathNotFoundError, type FileInfo, type FileWriter, type StorageDriver } from './driver.js';

/**
 * 1 MiB read chunks: measured on the target machine, fs streams with the default 64 KiB chunks
 * deliver ~620 MiB/s, with 1 MiB ~1.6 GiB/s (on par with distribution's Go server).
 */
const readChunkBytes = 1024 * 1024;
const openFd = promisify(openCallback);

/** StorageDriver over a local directory. Every path is confined to `root`. */
export function createFilesystemDriver(root: string): StorageDriver {
  const base = resolve(root);

  function full(path: string): string {
    // Paths come from storage/paths.ts, built from validated names; this is the last line of defence.
    if (!path.startsWith('/') || path.split('/').some((part) => part === '..' || part === '.')) {
      throw new Error(`illegal storage path: ${path}`);
    }
    const target = join(base, ...path.split('/').filter(Boolean));
    if (target !== base && !target.startsWith(base + sep)) throw new Error(`illegal storage path: ${path}`);
    return target;
  }

  function notFound(path: string, error: unknown): never {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ENOTDIR') {
      throw new PathNotFoundError(path, { cause: error });
    }
    throw error;
  }

  async function writeAtomically(target: string, content: Uint8Array | string): Promise<void> {
    await mkdir(dirname(target), { recursive: true });
    const temp = `${target}.${randomBytes(6).toString('hex')}.tmp`;
    const handle = await open(temp, 'w', 0o644);
    try {
      await handle.writeFile(content);
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      await rename(temp, target);
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
  }

  return {
    name: 'filesystem',

    async getContent(path) {
      try {
        return await readFile(full(path));
      } catch (error) {
        return notFound(path, error);
      }
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

    async writer(path) {
      const target = full(path);
      await mkdir(dirname(target), { recursive: true });
      const handle = await open(target, 'a', 0o644);
      const initialSize = (await handle.stat()).size;
      // We own the handle (fsync before close): the stream gets the bare fd, since a FileHandle given to a
      // stream stays referenced until the stream closes it, and handle.close() would then wait forever.
      const stream = createWriteStream('', { fd: handle.fd, autoClose: false, emitClose: false, highWaterMark: readChunkBytes });
      let closed = false;
      const closeOnce = async (sync: boolean): Promise<void> => {
        if (closed) return;
        closed = true;
        try {
          if (!stream.writableFinished && !stream.destroyed) {
            stream.end();
            await finished(stream).catch(() => undefined);
          }
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
        const info = await stat(full(path));
        return { size: info.size, modifiedAt: info.mtime, isDirectory: info.isDirectory() };
      } catch (error) {
        return notFound(path, error);
      }
    },

    async list(path) {
      try {
        return await readdir(full(path));
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'ENOTDIR') return [];
        throw error;
      }
    },

    async move(source, destination) {
      const target = full(destination);
      await mkdir(dirname(target), { recursive: true });
      try {
        await rename(full(source), target);
      } catch (error) {
        notFound(source, error);
      }
    },

    async delete(path) {
      await rm(full(path), { recursive: true, force: true });
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
  };
}
