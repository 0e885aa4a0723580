import { EventEmitter } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import { Readable, Transform } from 'node:stream';
import type { ParsedDigest } from '../core/digest.js';
import type { Logger } from '../log.js';
import type { BlobStore } from '../storage/blob-store.js';
import { isPathNotFound, type StorageDriver } from '../storage/driver.js';
import { pathFor } from '../storage/paths.js';
import type { RepositoryStore } from '../storage/repository-store.js';
import type { UploadStore } from '../storage/upload-store.js';
import type { BlobDownload } from './upstream-client.js';

/** One upstream blob being fetched into the cache, readable by any number of clients meanwhile. */
export interface BlobFetch {
  /**
   * Resolves with the upstream's Content-Length (undefined when it sent none) once it answered with the blob;
   * rejects like `done` when it did not (not found, refused, unreachable), so that no 200 is sent for it.
   */
  readonly started: Promise<{ size: number | undefined }>;
  /** Resolves when the blob is verified, stored and linked; rejects when nothing was cached. */
  readonly done: Promise<void>;
  /** A stream of the blob's bytes for one client: from the upload file while it grows, then from the store. */
  follow(): Readable;
}

export interface BlobFetcher {
  /** The fetch of `digest`, started now or joined if one is running (each blob is fetched once). */
  fetch(local: string, digest: ParsedDigest, download: () => Promise<BlobDownload>): BlobFetch;
}

interface LiveFollower {
  queue: Buffer[];
  queued: number;
  wake?: () => void;
}

/** How far a client may fall behind the download before it reads from the upload file instead. */
const liveBufferBytes = 16 * 1024 * 1024;

/** Followers read in slices at least this big, so a fast download does not turn into tiny reads. */
const followSliceBytes = 1024 * 1024;

/**
 * Single-flight blob fetches (DESIGN: "a missing blob is fetched once, streamed to the client while
 * it is written, and committed only after its digest verifies"). The download goes through the
 * upload store, which hashes, fsyncs and verifies before the blob becomes visible, so a cut or
 * corrupt upstream stream never leaves a cached blob. Readers follow the growing upload file.
 */
export function createBlobFetcher(deps: {
  driver: StorageDriver;
  blobs: BlobStore;
  uploads: UploadStore;
  repositories: RepositoryStore;
  log: Logger;
}): BlobFetcher {
  const running = new Map<string, BlobFetch>();

  function start(local: string, digest: ParsedDigest, download: () => Promise<BlobDownload>): BlobFetch {
    const changes = new EventEmitter();
    changes.setMaxListeners(0);
    let received = 0;
    /** The upstream's Content-Length: a follower that has it all ends without waiting for fsync and commit. */
    let expectedSize: number | undefined;
    let finished = false;
    // Followers that have caught up get each chunk handed over in memory as it arrives instead of
    // re-reading it from disk; one whose client falls behind by liveBufferBytes goes back to the file.
    const live = new Set<LiveFollower>();
    const wakeLive = () => {
      for (const follower of live) follower.wake?.();
    };
    let failure: Error | undefined;
    let uploadPath: string | undefined;

    let announce!: (value: { size: number | undefined }) => void;
    let refuse!: (error: Error) => void;
    const started = new Promise<{ size: number | undefined }>((resolve, reject) => {
      announce = resolve;
      refuse = reject;
    });
    // A client joining a running fetch may never look at `started`; its failure is reported through `done`.
    started.catch(() => undefined);

    const done = (async () => {
      const session = await deps.uploads.start(local);
      uploadPath = pathFor({ kind: 'uploadData', repository: local, id: session.id });
      changes.emit('change');
      try {
        const upstream = await download();
        expectedSize = upstream.size;
        announce({ size: upstream.size });
        let sinceNotice = 0;
        const counter = new Transform({
          transform(chunk: Buffer, _encoding, callback) {
            received += chunk.length;
            for (const follower of live) {
              if (follower.queued + chunk.length > liveBufferBytes) {
                live.delete(follower);
              } else {
                follower.queue.push(chunk);
                follower.queued += chunk.length;
              }
              follower.wake?.();
            }
            sinceNotice += chunk.length;
            if (sinceNotice >= followSliceBytes) {
              sinceNotice = 0;
              changes.emit('change');
            }
            callback(null, chunk);
          },
        });
        upstream.stream.on('error', (error) => counter.destroy(error));
        await deps.uploads.complete(local, session.id, digest, upstream.stream.pipe(counter));
        await deps.repositories.linkBlob(local, digest);
      } catch (error) {
        await deps.uploads.cancel(local, session.id).catch(() => undefined);
        throw error;
      }
    })();
    done.then(
      () => {
        finished = true;
        changes.emit('change');
        wakeLive();
      },
      (error: Error) => {
        failure = error;
        finished = true;
        // No effect once the upstream answered (the stream broke later): then followers see `failure`.
        refuse(error);
        changes.emit('change');
        wakeLive();
        deps.log.warn({ digest: digest.digest, repository: local, err: error }, 'blob fetch from upstream failed: nothing cached');
      },
    );
    // Nobody may be listening when a fetch fails; the failure is logged above.
    done.catch(() => undefined);

    const nextChange = () => new Promise<void>((resolve) => changes.once('change', () => resolve()));

    async function* follow(): AsyncGenerator<Buffer> {
      const me: LiveFollower = { queue: [], queued: 0 };
      let offset = 0;
      try {
        for (;;) {
          if (failure) throw failure;
          const chunk = me.queue.shift();
          if (chunk) {
            me.queued -= chunk.length;
            offset += chunk.length;
            yield chunk;
            continue;
          }
          // Every byte is out: the client checks the digest itself; the cache commits only after ours.
          if (expectedSize !== undefined && offset >= expectedSize) return;
          if (finished) {
            for await (const rest of await deps.blobs.reader(digest, { start: offset, end: Number.MAX_SAFE_INTEGER })) {
              offset += (rest as Buffer).length;
              yield rest as Buffer;
            }
            return;
          }
          if (live.has(me)) {
            await new Promise<void>((resolve) => (me.wake = resolve));
            me.wake = undefined;
            continue;
          }
          if (uploadPath === undefined) {
            await Promise.race([nextChange(), done.catch(() => undefined)]);
            continue;
          }
          if (offset === received) {
            live.add(me);
            continue;
          }
          const before = offset;
          try {
            const file = await deps.driver.reader(uploadPath as string, { start: offset, end: received - 1 });
            for await (const part of file as AsyncIterable<Buffer>) {
              offset += part.length;
              yield part;
            }
          } catch (error) {
            // Not created yet, or just moved into the blob store: wait for the next step of the fetch.
            if (!isPathNotFound(error)) throw error;
          }
          // Bytes counted but not yet flushed to the file: wait a moment rather than spin.
          if (offset === before) await Promise.race([nextChange(), done.catch(() => undefined), delay(20)]);
        }
      } finally {
        live.delete(me);
      }
    }

    return { started, done, follow: () => Readable.from(follow(), { objectMode: false }) };
  }

  return {
    fetch(local, digest, download) {
      const existing = running.get(digest.digest);
      if (existing) return existing;
      const fetch = start(local, digest, download);
      running.set(digest.digest, fetch);
      void fetch.done.catch(() => undefined).finally(() => running.delete(digest.digest));
      return fetch;
    },
  };
}
