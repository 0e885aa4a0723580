import { EventEmitter } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import type { Writable } from 'node:stream';
import { createLocalLocks, lockNames, type ClusterLock, type ClusterLocks } from '../cluster/cluster-locks.js';
import type { ParsedDigest } from '../core/digest.js';
import { createPendingWork } from '../core/concurrent.js';
import { isRegistryError } from '../core/errors.js';
import type { Logger } from '../log.js';
import type { BlobStore } from '../storage/blob-store.js';
import { destinationClosedError, isPathNotFound, type StorageDriver } from '../storage/driver.js';
import { pathFor } from '../storage/paths.js';
import type { StateStore } from '../state/index.js';
import type { RepositoryStore } from '../storage/repository-store.js';
import type { UploadStore } from '../storage/upload-store.js';
import { UpstreamUnavailableError } from './errors.js';
import { createSingleFlight } from './single-flight.js';
import type { UpstreamClient } from './upstream-client.js';

/** One upstream blob being fetched into the cache, readable by any number of clients meanwhile. */
export interface BlobFetch {
  /**
   * Resolves with the upstream's Content-Length (undefined when it sent none) once it answered with the blob;
   * rejects like `done` when it did not (not found, refused, unreachable), so that no 200 is sent for it.
   */
  readonly started: Promise<{ size: number | undefined }>;
  /** Resolves when the blob is verified, stored and linked; rejects when nothing was cached. */
  readonly done: Promise<void>;
  /**
   * Writes the blob's bytes into one client's response without ending it: from memory or the upload file while it
   * grows, then from the store. Its last bytes wait for Berth's own digest check, so a client never sees a clean
   * end of a blob that Berth did not verify: a cut, stalled or corrupt download rejects instead (the caller then
   * cuts the connection). They do not wait for the blob to be stored (fsync, commit, link): a verified blob is the
   * right answer even when storing it fails, and the next pull then fetches it again. Resolves once every byte was
   * handed to the response; `done` says whether it was cached.
   */
  sendTo(response: Writable): Promise<void>;
}

/** Where a blob comes from: which upstream, and which of its repositories is asked for it. */
export interface BlobSource {
  /** The upstream's name. Fetches are shared per (upstream, digest), never across upstreams. */
  readonly upstream: string;
  readonly client: Pick<UpstreamClient, 'getBlob' | 'health'>;
  /** The repository on the upstream (`library/redis`) whose blob this is. */
  readonly remote: string;
  /**
   * Whether a manifest of the asking repository, fetched from this upstream, lists the blob. Only then may the
   * request share a fetch started for another repository of the upstream; otherwise it gets a fetch of its own
   * from its own repository upstream (the upstream serving it is what confirms the blob belongs there).
   */
  readonly listed: boolean;
  /** Aborts the download (server shutdown); the fetch then fails for everyone sharing it. */
  readonly signal?: AbortSignal;
}

export interface BlobFetcher {
  /** The fetch of the blob, started now or joined if one that may be shared is running (see BlobSource). */
  fetch(local: string, digest: ParsedDigest, source: BlobSource): BlobFetch;
  /**
   * Links a stored blob into `local` without asking the upstream, when that upstream already served it to Berth
   * (fetched by this process, or linked in a repository of the upstream's namespace). The caller must have the
   * upstream's word that `local` references the blob (a manifest of `local` from that upstream lists it).
   * Resolves true when the blob is now linked in `local`.
   */
  linkIfKnown(local: string, digest: ParsedDigest, upstream: string): Promise<boolean>;
  /**
   * Resolves once every fetch whose blob verified is stored too (or failed to be). Its clients may already have
   * every byte and be gone, so no open connection holds a shutdown for it: the server waits for this instead before
   * it closes the stores. Fetches still downloading are not waited for.
   */
  whenStored(): Promise<void>;
}

/**
 * The slowest download kept going: at least `bytes` in every `perMs`. A minimum rate rather than an overall
 * deadline, because a 10 GB layer over a slow but working link may take hours and must still finish, while an
 * upstream that sends one byte every 20 s must not hold its clients for ever.
 */
export interface RateFloor {
  readonly bytes: number;
  readonly perMs: number;
}

/** 40 KiB per 20 s (about 2 KiB/s, slower than any usable link): a trickle fails within 20 s. */
export const defaultRateFloor: RateFloor = { bytes: 40 * 1024, perMs: 20_000 };

/** The floor is checked this many times per window; a fetch below its share in one check is not joined any more. */
const checksPerWindow = 4;

/** A chunk of the download kept in memory, and where it lies in the blob. */
interface RecentChunk {
  readonly offset: number;
  readonly bytes: Buffer;
}

/**
 * The longest a request waits for another node's download of its blob before this node downloads it too. The
 * waiting client gets no bytes meanwhile, and a connection silent for 2 minutes is closed (http/connection-policy.ts):
 * a big layer on a slow upstream is then fetched twice rather than failing its clients.
 */
const peerWaitLimitMs = 90_000;

/** How long a walk of the repositories answers "which upstream served this blob" before it is walked again. */
const walkTtlMs = 30_000;

/**
 * The last bytes of a download kept in memory, shared by every client of the fetch: a client within this distance
 * of the download reads from memory; one further behind reads the upload file until it is within it again.
 */
const recentBytesKept = 16 * 1024 * 1024;

/** Followers read in slices at least this big, so a fast download does not turn into tiny reads. */
const followSliceBytes = 1024 * 1024;

/** The most a follower hands its response in one go (one writev of the chunks that arrived meanwhile). */
const followBatchBytes = 4 * 1024 * 1024;

interface RunningFetch extends BlobFetch {
  /** False once the download fell below its share of the rate floor: new clients start a fresh fetch. */
  joinable(): boolean;
}

/**
 * Single-flight blob fetches (DESIGN: "a missing blob is fetched once, streamed to the client while it is
 * written, and committed only after its digest verifies"), shared by pull-through and sync. The download goes
 * through the upload store, which hashes, fsyncs and verifies before the blob becomes visible, so a cut or
 * corrupt upstream stream never leaves a cached blob. Readers follow the growing upload file.
 */
export function createBlobFetcher(deps: {
  driver: StorageDriver;
  blobs: BlobStore;
  uploads: UploadStore;
  repositories: RepositoryStore;
  log: Logger;
  rateFloor?: RateFloor;
  /**
   * The namespaces whose content came from an upstream: its own (pull-through) and the targets of its sync rules.
   * A blob linked there was served by that upstream, in this process or an earlier one. Default: its own.
   */
  namespacesOf?: (upstream: string) => readonly string[];
  /**
   * The locks shared with the other nodes of a cluster (cluster/cluster-locks.ts): a node downloads a blob only
   * under its `fetch:` lock, so each upstream blob leaves the upstream once for the whole cluster; a node that finds
   * the lock taken waits for the holder, then serves what it stored (or downloads itself when the holder failed or
   * died: the lock is free again then). Default: this process's own (the single-flight above is all there is).
   */
  locks?: ClusterLocks;
}): BlobFetcher {
  const rateFloor = deps.rateFloor ?? defaultRateFloor;
  const flights = createSingleFlight<RunningFetch>({ settled: (fetch) => fetch.done, joinable: (fetch) => fetch.joinable() });
  /** Digests each upstream served to this process, verified and stored. */
  const served = new Map<string, Set<string>>();
  const namespacesOf = deps.namespacesOf ?? ((upstream: string) => [upstream]);
  const locks = deps.locks ?? createLocalLocks();
  /** The fetches between their digest check and their end (see whenStored). */
  const storing = createPendingWork();

  const remember = (upstream: string, digest: string) => {
    let digests = served.get(upstream);
    if (!digests) served.set(upstream, (digests = new Set()));
    digests.add(digest);
  };

  /** Every repository, walked at most every walkTtlMs (only when a blob is not known otherwise). */
  let walked: { at: number; names: Promise<string[]> } | undefined;
  const allRepositories = (): Promise<string[]> => {
    if (!walked || Date.now() - walked.at > walkTtlMs) {
      const names = deps.repositories.listRepositories();
      walked = { at: Date.now(), names };
      names.catch(() => (walked = undefined));
    }
    return walked.names;
  };

  async function servedBy(upstream: string, digest: ParsedDigest, fresh = false): Promise<boolean> {
    if (served.get(upstream)?.has(digest.digest)) return true;
    const prefixes = namespacesOf(upstream).map((namespace) => `${namespace}/`);
    if (fresh) walked = undefined;
    for (const repository of await allRepositories()) {
      if (!prefixes.some((prefix) => repository.startsWith(prefix))) continue;
      if ((await deps.repositories.blobSize(repository, digest)) !== undefined) {
        remember(upstream, digest.digest);
        return true;
      }
    }
    return false;
  }

  /**
   * The cluster-wide claim on downloading the blob: `lock` to download it (release it when done), or the size of
   * the blob that another node of the cluster downloaded from this upstream while this one waited. Only a request
   * whose manifest lists the blob shares across nodes (as in this process). Waiting is bounded by the holder (the
   * lock is free again the moment its download ends, fails, or its node dies) and by peerWaitLimitMs.
   */
  async function claim(local: string, digest: ParsedDigest, source: BlobSource, onWait: () => void): Promise<{ lock?: ClusterLock; stored?: number }> {
    const name = lockNames.fetch(source.upstream, digest.digest);
    // A download of this process that new requests passed over (too slow) holds the claim: this one starts its own, as
    // the single-flight decided.
    if (!source.listed || locks.heldHere(name)) return {};
    let waited = false;
    const waitStartedAt = Date.now();
    for (let pauseMs = 50; ; pauseMs = Math.min(500, pauseMs * 2)) {
      source.signal?.throwIfAborted();
      if (waited && Date.now() - waitStartedAt > peerWaitLimitMs) {
        deps.log.warn({ digest: digest.digest, repository: local, upstream: source.upstream, waitedMs: Date.now() - waitStartedAt }, 'another node is still downloading this blob: downloading it here too');
        return {};
      }
      let lock: ClusterLock | undefined;
      try {
        lock = await locks.tryAcquire(name);
      } catch (error) {
        // The database is unreachable: this node downloads on its own rather than fail the pull.
        deps.log.warn({ err: error, digest: digest.digest, upstream: source.upstream }, 'claiming a blob download across the cluster failed: downloading without the claim');
        return {};
      }
      if (lock) {
        if (!waited) return { lock };
        // The other node is done: stored from this upstream (linked in one of its namespaces) unless it failed.
        const size = (await deps.repositories.blobSize(local, digest)) ?? ((await servedBy(source.upstream, digest, true)) ? await deps.blobs.size(digest) : undefined);
        if (size === undefined) return { lock };
        await lock.release();
        return { stored: size };
      }
      if (!waited) {
        waited = true;
        onWait();
        deps.log.info({ digest: digest.digest, repository: local, upstream: source.upstream }, 'another node is downloading this blob from the upstream: waiting for it');
      }
      await delay(pauseMs, undefined, { signal: source.signal }).catch(() => undefined);
    }
  }

  function start(local: string, digest: ParsedDigest, source: BlobSource): RunningFetch {
    const changes = new EventEmitter();
    changes.setMaxListeners(0);
    let received = 0;
    /** The upstream's Content-Length: a follower that has it all ends without waiting for more data. */
    let expectedSize: number | undefined;
    let finished = false;
    // The last recentBytesKept of the download, oldest first: followers near the download read each chunk from
    // here as it arrives instead of re-reading it from disk (open, read, close per catch-up).
    const recent: RecentChunk[] = [];
    let recentBytes = 0;
    let waiting: Array<() => void> = [];
    const wakeNow = () => {
      wakePending = undefined;
      const woken = waiting;
      waiting = [];
      for (const wake of woken) wake();
    };
    // Once per turn of the event loop, not per chunk: the socket hands over several 64 KiB reads in one turn, and a
    // follower woken after them sends them as one batch.
    let wakePending: NodeJS.Immediate | undefined;
    const wakeFollowers = () => {
      if (waiting.length > 0) wakePending ??= setImmediate(wakeNow);
    };
    let failure: Error | undefined;
    let uploadPath: string | undefined;
    let sinceNotice = 0;
    let joinable = true;
    /** While another node downloads the blob for the cluster: not slow, not stalled, just waiting its turn. */
    let waitingForPeer = false;
    /** Set when another node's download served this fetch: nothing left this node's upstream. */
    let fromPeer = false;
    /** Set once the upstream answered: breaks the download off (too slow). */
    let breakOff: ((error: Error) => void) | undefined;

    let announce!: (value: { size: number | undefined }) => void;
    let refuse!: (error: Error) => void;
    const started = new Promise<{ size: number | undefined }>((resolve, reject) => {
      announce = resolve;
      refuse = reject;
    });
    // A client joining a running fetch may never look at `started`; its failure is reported through `done`.
    started.catch(() => undefined);
    /** Resolves once the downloaded bytes matched the digest (or with `done`); rejects with `done`. */
    let markVerified!: () => void;
    let verifyFailed!: (error: Error) => void;
    const verified = new Promise<void>((resolve, reject) => {
      markVerified = resolve;
      verifyFailed = reject;
    });
    verified.catch(() => undefined);

    /** Called for every chunk, inside the upstream client's own pass over the bytes (no extra stream stage). */
    const onChunk = (chunk: Buffer) => {
      recent.push({ offset: received, bytes: chunk });
      recentBytes += chunk.length;
      received += chunk.length;
      while (recent.length > 1 && recentBytes - (recent[0] as RecentChunk).bytes.length >= recentBytesKept) recentBytes -= (recent.shift() as RecentChunk).bytes.length;
      wakeFollowers();
      sinceNotice += chunk.length;
      if (sinceNotice >= followSliceBytes) {
        sinceNotice = 0;
        changes.emit('change');
      }
    };

    // The rate floor: checked a few times per window; one slow check makes the fetch unjoinable, a slow window
    // ends it. Before the upstream answers, the transport's own timeouts apply.
    const checkEveryMs = rateFloor.perMs / checksPerWindow;
    const windowDeltas: number[] = [];
    let lastReceived = 0;
    const meter = setInterval(() => {
      if (waitingForPeer) return;
      const delta = received - lastReceived;
      lastReceived = received;
      const allIn = expectedSize !== undefined && received >= expectedSize;
      const wasJoinable = joinable;
      joinable = allIn || delta >= rateFloor.bytes / checksPerWindow;
      if (wasJoinable && !joinable) {
        deps.log.warn(
          { digest: digest.digest, repository: local, upstream: source.upstream, received, lastSeconds: checkEveryMs / 1000, bytes: delta },
          'blob download from upstream too slow: new requests start a fresh download',
        );
      }
      if (breakOff === undefined || allIn) return;
      windowDeltas.push(delta);
      if (windowDeltas.length > checksPerWindow) windowDeltas.shift();
      const window = windowDeltas.reduce((sum, value) => sum + value, 0);
      if (windowDeltas.length === checksPerWindow && window < rateFloor.bytes) {
        const perSecond = Math.round((rateFloor.bytes * 1000) / rateFloor.perMs);
        const error = new UpstreamUnavailableError(
          source.upstream,
          'timeout',
          `blob ${source.remote}@${digest.digest}: ${window} bytes in the last ${rateFloor.perMs / 1000} s, below the minimum of ${perSecond} bytes/s (after ${received} bytes)`,
        );
        source.client.health.failed(error);
        breakOff(error);
      }
    }, checkEveryMs);
    meter.unref();

    const startedAt = performance.now();
    const done = (async () => {
      const claimed = await claim(local, digest, source, () => (waitingForPeer = true));
      waitingForPeer = false;
      if (claimed.stored !== undefined) {
        await deps.repositories.linkBlob(local, digest);
        remember(source.upstream, digest.digest);
        fromPeer = true;
        expectedSize = claimed.stored;
        received = claimed.stored;
        announce({ size: claimed.stored });
        return;
      }
      try {
        await download();
      } finally {
        await claimed.lock?.release();
      }
    })();
    async function download(): Promise<void> {
      // Not capped: this session ends (complete or cancel) within this fetch, whatever clients do to the table.
      const session = await deps.uploads.start(local, { capped: false });
      uploadPath = pathFor({ kind: 'uploadData', repository: local, id: session.id });
      changes.emit('change');
      wakeFollowers();
      try {
        const upstream = await source.client.getBlob(source.remote, digest.digest, { verify: false, signal: source.signal, onChunk });
        // Listened to at once: the upstream can fail before the upload store starts reading (a reset right
        // after the headers); the upload store then sees the stream already destroyed with this error.
        upstream.stream.on('error', () => undefined);
        breakOff = (error) => upstream.stream.destroy(error);
        expectedSize = upstream.size;
        announce({ size: upstream.size });
        await deps.uploads.complete(local, session.id, digest, upstream.stream, { onVerified: markVerified });
        await deps.repositories.linkBlob(local, digest);
        remember(source.upstream, digest.digest);
      } catch (error) {
        await deps.uploads.cancel(local, session.id).catch(() => undefined);
        if (!(isRegistryError(error) && error.code === 'DIGEST_INVALID')) throw error;
        // The upload store's own check: the upstream sent other bytes than the digest names.
        const mismatch = new UpstreamUnavailableError(source.upstream, 'digest-mismatch', `blob ${source.remote}@${digest.digest}: ${error.message}`);
        source.client.health.failed(mismatch);
        throw mismatch;
      }
    }
    done.then(markVerified, verifyFailed);
    // Not returned: a failed store is the fetch's own failure, handled where `done` is.
    void verified.then(
      () => void storing.track(done),
      () => undefined,
    );
    done.then(
      () => {
        finished = true;
        recent.length = 0; // the blob is in the store now: followers read it there
        changes.emit('change');
        wakeFollowers();
        if (fromPeer) {
          deps.log.info({ upstream: source.upstream, repository: local, digest: digest.digest, size: received }, 'blob downloaded by another node: served from the store');
          return;
        }
        // One line per blob that left an upstream (joined and linked blobs are not fetches): what the mirror costs.
        deps.log.info(
          { upstream: source.upstream, repository: local, remote: source.remote, digest: digest.digest, size: received, durationMs: Math.round(performance.now() - startedAt) },
          'blob fetched from upstream',
        );
      },
      (error: Error) => {
        failure = error;
        finished = true;
        // No effect once the upstream answered (the stream broke later): then followers see `failure`.
        refuse(error);
        recent.length = 0;
        changes.emit('change');
        wakeFollowers();
        deps.log.warn({ digest: digest.digest, repository: local, upstream: source.upstream, err: error }, 'blob fetch from upstream failed: nothing cached');
      },
    );
    // Nobody may be listening when a fetch fails; the failure is logged above.
    done.catch(() => undefined).finally(() => clearInterval(meter));

    const nextChange = () => new Promise<void>((resolve) => changes.once('change', () => resolve()));
    /** The end of the blob is handed out only once Berth verified it: is this the end? */
    const isLast = (offset: number, length: number) => expectedSize !== undefined && offset + length >= expectedSize;

    /**
     * The bytes from `offset` on that are still in memory, as contiguous pieces of at most followBatchBytes in all;
     * empty when they are older (or not here yet).
     */
    const fromMemory = (offset: number): Buffer[] => {
      const first = recent[0];
      if (first === undefined || offset < first.offset || offset >= received) return [];
      // Chunks are contiguous: search by offset (followers are usually at the newest few).
      let index = recent.length - 1;
      while (index > 0 && (recent[index] as RecentChunk).offset > offset) index -= 1;
      const chunk = recent[index] as RecentChunk;
      const pieces = [offset === chunk.offset ? chunk.bytes : chunk.bytes.subarray(offset - chunk.offset)];
      let bytes = (pieces[0] as Buffer).length;
      for (index += 1; index < recent.length && bytes < followBatchBytes; index += 1) {
        const next = (recent[index] as RecentChunk).bytes;
        pieces.push(next);
        bytes += next.length;
      }
      return pieces;
    };

    async function sendTo(response: Writable): Promise<void> {
      let offset = 0;
      let gone = false;
      let wake: (() => void) | undefined;
      const onClose = () => {
        gone = true;
        wake?.();
      };
      const onDrain = () => wake?.();
      response.once('close', onClose);
      response.on('drain', onDrain);
      let lastWrite: Promise<void> = Promise.resolve();
      /** Hands `pieces` over as one write (corked: one writev), then waits while the response is full. */
      const send = async (pieces: readonly Buffer[]): Promise<void> => {
        if (gone) throw destinationClosedError();
        if (pieces.length > 1) response.cork();
        for (const piece of pieces) {
          lastWrite = new Promise<void>((resolve, reject) => response.write(piece, (error) => (error ? reject(error) : resolve())));
          lastWrite.catch(() => undefined);
          offset += piece.length;
        }
        if (pieces.length > 1) response.uncork();
        while (response.writableNeedDrain && !gone) await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
        if (gone) throw destinationClosedError();
      };
      try {
        for (;;) {
          if (failure) throw failure;
          if (expectedSize !== undefined && offset >= expectedSize) break;
          if (finished) {
            await done;
            // In the store now, verified: the rest as any cached blob is served (the driver's reused buffers).
            if (offset < received) await deps.blobs.copyTo(digest, response, { start: offset, end: received - 1 });
            offset = received;
            break;
          }
          const pieces = fromMemory(offset);
          if (pieces.length > 0) {
            const bytes = pieces.reduce((sum, piece) => sum + piece.length, 0);
            if (isLast(offset, bytes)) {
              // Everything but the last piece now; the last once the blob verified.
              const last = pieces.pop() as Buffer;
              if (pieces.length > 0) await send(pieces);
              await verified;
              await send([last]);
            } else {
              await send(pieces);
            }
            continue;
          }
          if (offset === received || uploadPath === undefined) {
            // Caught up (or not started): wait for the next chunks, the upload file, the end, or the client leaving
            // (a stalled upstream must not hold a departed client's request until the rate floor ends the fetch).
            await new Promise<void>((resolve) => {
              waiting.push(resolve);
              wake = resolve;
            });
            wake = undefined;
            if (gone) throw destinationClosedError();
            continue;
          }
          // Further behind than memory holds: read the upload file up to where memory starts.
          const before = offset;
          const until = (recent[0]?.offset ?? received) - 1;
          try {
            const file = await deps.driver.reader(uploadPath, { start: offset, end: until });
            try {
              for await (const part of file as AsyncIterable<Buffer>) {
                if (isLast(offset, part.length)) await verified;
                await send([part]);
              }
            } finally {
              file.destroy();
            }
          } catch (error) {
            // Not created yet, or just moved into the blob store: wait for the next step of the fetch.
            if (!isPathNotFound(error)) throw error;
          }
          // Bytes counted but not yet flushed to the file: wait a moment rather than spin.
          if (offset === before) await Promise.race([nextChange(), done.catch(() => undefined), delay(20)]);
        }
        await lastWrite;
      } finally {
        response.off('close', onClose);
        response.off('drain', onDrain);
      }
    }

    return { started, done, sendTo, joinable: () => joinable && !finished };
  }

  return {
    fetch(local, digest, source) {
      // A request whose repository's manifest does not list the blob shares only with its own repository.
      const key = source.listed ? `${source.upstream}\n${digest.digest}` : `${source.upstream}\n${digest.digest}\n${source.remote}`;
      return flights.run(key, () => start(local, digest, source));
    },

    async linkIfKnown(local, digest, upstream) {
      if ((await deps.repositories.blobSize(local, digest)) !== undefined) return true;
      if (!(await servedBy(upstream, digest))) return false;
      // False when collected by GC before the link was written: the link alone shows nothing, so fetch instead.
      return deps.repositories.linkBlob(local, digest);
    },

    whenStored: () => storing.settled(),
  };
}

/** An upstream's namespace and the target namespaces of its sync rules: where what it served is linked. */
export function upstreamNamespaces(state: Pick<StateStore, 'read'>, upstream: string): string[] {
  const targets = state.read().syncRules.filter((rule) => rule.upstream === upstream).map((rule) => rule.into);
  return [...new Set([upstream, ...targets])];
}
