import { createContext, useContext } from 'react';
import type { OverviewResponse } from './api/contract.js';

export interface AppInfo {
  overview: OverviewResponse | undefined;
  /** The `host:port` clients push to and pull from (`127.0.0.1:5000`), for every copy-paste command. */
  registryHost: string;
  reloadOverview: () => void;
}

export const AppInfoContext = createContext<AppInfo>({
  overview: undefined,
  registryHost: typeof window === 'undefined' ? 'localhost:5000' : window.location.host,
  reloadOverview: () => undefined,
});

export function useAppInfo(): AppInfo {
  return useContext(AppInfoContext);
}

/** Prefers what the server says clients should use; falls back to the listener URL, then to this page's host. */
export function registryHostOf(overview: OverviewResponse | undefined): string {
  if (overview?.registryHost) return overview.registryHost;
  const url = overview?.listeners.http ?? overview?.listeners.https;
  if (url) {
    try {
      return new URL(url).host;
    } catch {
      // fall through
    }
  }
  return window.location.host;
}
