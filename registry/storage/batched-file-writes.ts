import { writev as writevCallback } from 'node:fs';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';

const writevFd = promisify(writevCallback);

/**
 * A file write leaves the event loop only once this many bytes have gathered. Network bodies arrive in 64 KiB
 * socket reads, and fs.WriteStream hands each one to libuv's thread pool on its own whenever the previous write is
 * done (on the page cache, almost at once): one thread hand-off per 64 KiB. Gathering 1 MiB makes it one per 16.
 */
export const fileWriteBatchBytes = 1024 * 1024;

/**
 * A writable stream that appends to an open file descriptor in batches of `fileWriteBatchBytes` (one writev of the
 * gathered chunks, no copy into a bigger buffer). A write's callback comes at once while its batch is still
 * gathering, and only after the write when it completes a batch, so a writer that is faster than the disk is held
 * back with at most one batch in memory. `end()` writes what is left; `destroy()` drops it. The descriptor stays
 * open: its owner waits for 'close' (no write of the stream runs after it), then fsyncs and closes it.
 */
export function createBatchedFileWrites(fd: number, batchBytes = fileWriteBatchBytes): Writable {
  let gathered: Buffer[] = [];
  let gatheredBytes = 0;
  /** The batch being written, if any: a destroyed stream waits for it before it closes. */
  let writing: Promise<void> | undefined;

  const flush = (callback: (error?: Error | null) => void): void => {
    const buffers = gathered;
    gathered = [];
    gatheredBytes = 0;
    if (buffers.length === 0) {
      callback();
      return;
    }
    writing = writeAll(fd, buffers).finally(() => (writing = undefined));
    writing.then(() => callback(), callback);
  };

  return new Writable({
    // The stream's own queue holds chunks only while a batch is being written.
    highWaterMark: batchBytes,
    write(chunk: Buffer, _encoding, callback) {
      gathered.push(chunk);
      gatheredBytes += chunk.length;
      if (gatheredBytes < batchBytes) callback();
      else flush(callback);
    },
    final: flush,
    // A stream destroyed mid-batch (its source failed) emits 'close' only once the batch's writev is done: the
    // owner then reads the file's size as the resume offset and closes the descriptor, and a write landing after
    // that would move the offset under a resumed upload or, once the number is reused, go into another file.
    destroy(error, callback) {
      gathered = [];
      gatheredBytes = 0;
      if (writing === undefined) callback(error);
      else writing.then(() => callback(error), () => callback(error));
    },
  });
}

/** writev until every byte is in the file: a regular file may take fewer bytes than asked (a signal, a full disk). */
async function writeAll(fd: number, buffers: Buffer[]): Promise<void> {
  let rest = buffers;
  while (rest.length > 0) {
    const { bytesWritten } = await writevFd(fd, rest);
    rest = dropWritten(rest, bytesWritten);
  }
}

function dropWritten(buffers: Buffer[], bytesWritten: number): Buffer[] {
  let skip = bytesWritten;
  let index = 0;
  while (index < buffers.length && skip >= (buffers[index] as Buffer).length) skip -= (buffers[index++] as Buffer).length;
  const rest = buffers.slice(index);
  if (skip > 0 && rest.length > 0) rest[0] = (rest[0] as Buffer).subarray(skip);
  return rest;
}
