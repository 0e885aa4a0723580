import { useSyncExternalStore } from 'react';

/**
 * Whether Berth answers at all. Every request and the event stream report here: a request that gets no HTTP answer
 * marks Berth unreachable, any answer (even an error status) or a reopened event stream marks it back. The shell
 * shows one notice while it is unreachable, instead of every panel showing the same red box, and whatever failed to
 * load loads again by itself once Berth is back (`onReachableAgain`).
 */
let reachable = true;
const changeListeners = new Set<() => void>();
const backListeners = new Set<() => void>();

function set(value: boolean): void {
  if (reachable === value) return;
  reachable = value;
  for (const listener of changeListeners) listener();
  if (value) for (const listener of backListeners) listener();
}

export function reportUnreachable(): void {
  set(false);
}

export function reportReachable(): void {
  set(true);
}

export function isReachable(): boolean {
  return reachable;
}

/** Calls `listener` each time Berth answers again after being unreachable. */
export function onReachableAgain(listener: () => void): () => void {
  backListeners.add(listener);
  return () => backListeners.delete(listener);
}

function subscribe(listener: () => void): () => void {
  changeListeners.add(listener);
  return () => changeListeners.delete(listener);
}

export function useReachable(): boolean {
  return useSyncExternalStore(subscribe, isReachable);
}
