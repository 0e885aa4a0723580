import type { MetadataBackend } from '../state/metadata-backend.js';

/**
 * Named locks shared by every process of an instance: the nodes of a cluster (PostgreSQL advisory locks, see
 * postgres-locks.ts) or the one process of a desktop Berth (an in-memory set). What they guard:
 *
 * - `gc-scheduler`, `sync-scheduler`: which node runs the scheduled garbage collection and the sync schedule
 *   (leadership.ts: held for as long as the node lives, taken over by another within seconds when it dies);
 * - `gc`: one garbage collection at a time, scheduled or manual (`berth gc`, the GUI's "reclaim now");
 * - `sync-rule:<name>`: one run of a sync rule at a time;
 * - `upload:<id>`: one request at a time on an upload session (two PATCHes of one upload must not interleave);
 * - `fetch:<upstream>\n<digest>`: one node downloads a blob from its upstream, the others wait for it;
 * - `encryption-decision`: nodes starting together on a new storage decide its encryption once
 *   (storage/encryption/new-deployment.ts).
 *
 * A lock is held by its process until released, or until the process dies or loses its database connection: the
 * database then releases it at once, so no lock outlives its holder and nothing needs a heartbeat or a timeout.
 */
export interface ClusterLock {
  readonly name: string;
  /** Aborted when the lock was lost without a release (the database connection dropped): stop what it guards. */
  readonly lost: AbortSignal;
  /** Idempotent. */
  release(): Promise<void>;
}

/** Who holds a lock, for `berth status` and messages: the holding node's name (`host/127.0.0.1:5000 pid 42`). */
export interface LockHolder {
  readonly lock: string;
  readonly node: string;
  /** When the holder's connection started (the node's start, roughly); absent for the in-process locks. */
  readonly since?: string;
}

export interface ClusterLocks {
  /**
   * Whether other processes see these locks (the database's): only then does a free lock prove that whoever held it
   * is gone. The in-process locks of a desktop Berth say nothing about a `berth sync run` in another process.
   */
  readonly crossProcess: boolean;
  /** The lock, or undefined when another process (or another caller in this one) holds it. Never waits. */
  tryAcquire(name: string): Promise<ClusterLock | undefined>;
  /** Whether a caller in this process holds (or is taking) the lock. */
  heldHere(name: string): boolean;
  /** Waits until the lock is free and takes it; rejects with the signal's reason when it aborts first. */
  acquire(name: string, options?: { signal?: AbortSignal }): Promise<ClusterLock>;
  /** Who holds these locks now, anywhere in the cluster (locks nobody holds are left out). */
  holders(names: readonly string[]): Promise<LockHolder[]>;
  /** Releases every lock this process holds and ends its connection. */
  close(): Promise<void>;
}

/** A lock is taken by someone else (see `ClusterLocks`): the message names the holder when it is known. */
export class ClusterLockBusyError extends Error {
  override readonly name = 'ClusterLockBusyError';
  readonly code = 'BERTH_CLUSTER_LOCK_BUSY';
  constructor(
    readonly lock: string,
    readonly holder: string | undefined,
    message: string,
  ) {
    super(message);
  }
}

export function isClusterLockBusy(error: unknown): error is ClusterLockBusyError {
  return error instanceof ClusterLockBusyError;
}

/** The lock names, in one place. */
export const lockNames = {
  gcScheduler: 'gc-scheduler',
  syncScheduler: 'sync-scheduler',
  gc: 'gc',
  syncRule: (rule: string) => `sync-rule:${rule}`,
  upload: (id: string) => `upload:${id}`,
  fetch: (upstream: string, digest: string) => `fetch:${upstream}\n${digest}`,
  encryptionDecision: 'encryption-decision',
} as const;

/** The locks `berth status` reports. */
export const schedulerLockNames = [lockNames.gcScheduler, lockNames.syncScheduler, lockNames.gc] as const;

/**
 * Runs `work` holding `name`; throws ClusterLockBusyError (saying `what` runs on which node) when it is taken.
 * The work is given the lock's `lost` signal.
 */
export async function runExclusive<T>(locks: ClusterLocks, name: string, what: string, work: (lost: AbortSignal) => Promise<T>): Promise<T> {
  const lock = await locks.tryAcquire(name);
  if (!lock) {
    const holder = (await locks.holders([name]).catch(() => []))[0]?.node;
    throw new ClusterLockBusyError(name, holder, `${what} is already running${holder ? ` on ${holder}` : ''}: try again when it has finished`);
  }
  try {
    return await work(lock.lost);
  } finally {
    await lock.release();
  }
}

/** How often `acquire` asks again, at first and at most (it backs off in between). */
export const acquirePollMs = { first: 50, max: 500 } as const;

/** The locks of a single process (the desktop default): a set of names, no database. */
export function createLocalLocks(node = 'this process'): ClusterLocks {
  const held = new Set<string>();
  const take = (name: string): ClusterLock | undefined => {
    if (held.has(name)) return undefined;
    held.add(name);
    let released = false;
    return {
      name,
      lost: new AbortController().signal,
      async release() {
        if (released) return;
        released = true;
        held.delete(name);
      },
    };
  };
  return {
    crossProcess: false,
    tryAcquire: (name) => Promise.resolve(take(name)),
    heldHere: (name) => held.has(name),
    acquire: (name, options) => pollUntilAcquired((candidate) => Promise.resolve(take(candidate)), name, options?.signal),
    holders: (names) => Promise.resolve(names.filter((name) => held.has(name)).map((lock) => ({ lock, node }))),
    async close() {
      held.clear();
    },
  };
}

/** `acquire` over `tryAcquire`: asks again with a growing pause until it gets the lock or the signal aborts. */
export async function pollUntilAcquired(
  tryAcquire: (name: string) => Promise<ClusterLock | undefined>,
  name: string,
  signal: AbortSignal | undefined,
): Promise<ClusterLock> {
  let pauseMs: number = acquirePollMs.first;
  for (;;) {
    signal?.throwIfAborted();
    const lock = await tryAcquire(name);
    if (lock) {
      if (signal?.aborted) {
        await lock.release();
        signal.throwIfAborted();
      }
      return lock;
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, pauseMs);
      function done() {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        resolve();
      }
      signal?.addEventListener('abort', done, { once: true });
    });
    pauseMs = Math.min(acquirePollMs.max, pauseMs * 2);
  }
}

export interface OpenClusterLocksOptions {
  /** This process's name as other nodes and `berth status` see it; asked when the connection opens. */
  readonly node: () => string;
}

/** The one place the lock backend is chosen: the database's advisory locks with a shared database, else in-process. */
export async function openClusterLocks(metadata: MetadataBackend, options: OpenClusterLocksOptions): Promise<ClusterLocks> {
  if (metadata.kind === 'file') return createLocalLocks(options.node());
  // Loaded only here: the desktop default never loads the PostgreSQL client.
  const { createPostgresLocks } = await import('./postgres-locks.js');
  return createPostgresLocks(metadata.target, options);
}
