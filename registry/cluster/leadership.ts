import type { Logger } from '../log.js';
import type { ClusterLock, ClusterLocks } from './cluster-locks.js';

/**
 * Which node runs a scheduler: the one holding its lock. Every node asks for the lock at start and again every
 * `retryMs` while another holds it; the holder keeps it for as long as it lives. When the holder dies (SIGKILL,
 * a crash, a lost database connection) the database releases the lock and the next node to ask becomes the
 * leader, within `retryMs`. With the in-process locks of a desktop Berth the process is the leader at once.
 */
export interface Leadership {
  readonly lock: string;
  isLeader(): boolean;
  /** Called with true when this node becomes the leader, false when it stops being one. */
  onChange(listener: (leader: boolean) => void): void;
  /** Gives the lock up (another node takes over at its next retry). */
  close(): Promise<void>;
}

/** Default pause between attempts of a node that is not the leader. */
export const defaultLeadershipRetryMs = 2000;

export async function createLeadership(options: { locks: ClusterLocks; lock: string; log: Logger; retryMs?: number }): Promise<Leadership> {
  const { locks, lock: name, log } = options;
  const retryMs = options.retryMs ?? defaultLeadershipRetryMs;
  const listeners: Array<(leader: boolean) => void> = [];
  let held: ClusterLock | undefined;
  let closed = false;
  let attempt: Promise<void> = Promise.resolve();

  const notify = (leader: boolean) => {
    for (const listener of listeners) {
      try {
        listener(leader);
      } catch (error) {
        log.error({ err: error, lock: name }, 'a leadership listener failed');
      }
    }
  };

  async function tryLead(): Promise<void> {
    if (closed || held) return;
    let lock: ClusterLock | undefined;
    try {
      lock = await locks.tryAcquire(name);
    } catch (error) {
      log.warn({ err: error, lock: name }, 'asking for a scheduler lock failed: trying again');
      return;
    }
    if (!lock) return;
    if (closed) {
      await lock.release();
      return;
    }
    held = lock;
    // Worth a line only in a cluster: a desktop Berth always runs its own schedules.
    log[locks.crossProcess ? 'info' : 'debug']({ lock: name }, `this node now holds the ${name} lock and runs that schedule`);
    lock.lost.addEventListener(
      'abort',
      () => {
        if (held !== lock) return;
        held = undefined;
        log.warn({ lock: name, err: lock.lost.reason }, `lost the ${name} lock: another node may take over`);
        notify(false);
      },
      { once: true },
    );
    notify(true);
  }

  await tryLead();
  const timer = setInterval(() => {
    attempt = attempt.then(tryLead);
  }, retryMs);
  timer.unref();

  return {
    lock: name,
    isLeader: () => held !== undefined,
    onChange(listener) {
      listeners.push(listener);
    },
    async close() {
      closed = true;
      clearInterval(timer);
      await attempt;
      const lock = held;
      held = undefined;
      if (lock) {
        await lock.release();
        notify(false);
      }
    },
  };
}
