import { useCallback, useEffect, useRef, useState } from 'react';
import { ApiError } from './client.js';
import { onReachableAgain } from './connection.js';

export interface Resource<T> {
  data: T | undefined;
  /** Why the last load failed; not set when Berth did not answer but earlier data is still there to show. */
  error: unknown;
  loading: boolean;
  /** Loads again, keeping the current data on screen until the new data arrives (no flicker on live updates). */
  reload: () => void;
}

/**
 * Loads something once per `key` and on demand. Late answers from an earlier key are dropped, so typing in a
 * search box never shows results for an older query. A load that failed because Berth did not answer runs again
 * by itself when Berth answers again.
 */
export function useResource<T>(load: (signal: AbortSignal) => Promise<T>, key: string): Resource<T> {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<unknown>();
  const [loading, setLoading] = useState(true);
  const [generation, setGeneration] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;

  useEffect(() => {
    const controller = new AbortController();
    setLoading(true);
    loadRef
      .current(controller.signal)
      .then((value) => {
        if (controller.signal.aborted) return;
        setData(value);
        setError(undefined);
      })
      .catch((reason: unknown) => {
        if (controller.signal.aborted) return;
        setError(reason);
      })
      .finally(() => {
        if (!controller.signal.aborted) setLoading(false);
      });
    return () => controller.abort();
  }, [key, generation]);

  const reload = useCallback(() => setGeneration((value) => value + 1), []);
  const unreachable = error instanceof ApiError && error.unreachable;
  useEffect(() => (unreachable ? onReachableAgain(reload) : undefined), [unreachable, reload]);
  // Berth gone for a moment: keep showing what was loaded (the shell says Berth is not answering) until it is back.
  return { data, error: unreachable && data !== undefined ? undefined : error, loading, reload };
}
