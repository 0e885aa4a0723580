import type { RegistryEvents } from '../events.js';

/**
 * Pushes under way in this process: repositories that received blobs (uploaded or mounted) since their last manifest.
 * A client links every layer before it sends the manifest that uses them, so until that manifest arrives the layers
 * look unused to garbage collection. The grace period covers them in the periodic collection; "reclaim now" (which
 * skips it) asks here first and refuses while any push is pending, so it never takes a layer from a push that is
 * still going on. An entry older than `forgetAfterMs` (the grace period) is dropped: the periodic collection would
 * free those layers by then anyway, so a client that crashed mid-push does not block "reclaim now" forever.
 *
 * Only this process is seen: a push to the same data directory through another Berth process is not (the grace
 * period still covers it in the periodic collection).
 */
export interface PendingPushes {
  /** Repositories with blobs newer than their last manifest, oldest first, with when the first of them arrived. */
  list(now?: number): Array<{ repository: string; since: string }>;
  close(): void;
}

export function trackPendingPushes(events: RegistryEvents, forgetAfterMs: () => number): PendingPushes {
  const pending = new Map<string, number>();
  const blobArrived = ({ repository }: { repository: string }) => {
    if (!pending.has(repository)) pending.set(repository, Date.now());
  };
  const manifestArrived = ({ repository }: { repository: string }) => {
    pending.delete(repository);
  };
  events.on('blob.pushed', blobArrived);
  events.on('blob.mounted', blobArrived);
  events.on('manifest.pushed', manifestArrived);
  return {
    list(now = Date.now()) {
      for (const [repository, since] of pending) if (now - since > forgetAfterMs()) pending.delete(repository);
      return [...pending]
        .sort((a, b) => a[1] - b[1])
        .map(([repository, since]) => ({ repository, since: new Date(since).toISOString() }));
    },
    close() {
      events.off('blob.pushed', blobArrived);
      events.off('blob.mounted', blobArrived);
      events.off('manifest.pushed', manifestArrived);
    },
  };
}
