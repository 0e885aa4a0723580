import type { Logger } from '../log.js';
import type { Settings } from '../state/schema.js';
import type { StateStore } from '../state/state-store.js';
import { canonicalJson, changedSettingKeys, type SettingsWatcher } from './settings-watcher.js';

/**
 * Live settings for a node whose state is in a shared database: there is no file to watch, and the settings can
 * change through another node's GUI or a `berth ca rotate` run anywhere. The store's snapshot already follows the
 * database (LISTEN/NOTIFY), so this looks at it once per interval and calls `applySettings` when the settings
 * section really changed: what settings-watcher.ts does for state.json, with the same callback.
 */

export interface SettingsFollowerOptions {
  readonly state: Pick<StateStore, 'read'>;
  /** Called with the new settings (and the ones they replace). Calls never overlap. */
  applySettings(settings: Settings, previous: Settings): void | Promise<void>;
  onError?(error: Error): void;
  logger?: Logger;
  /** Default 1000 ms: a read of the in-memory snapshot, so cheap. */
  intervalMs?: number;
}

export function createSettingsFollower(options: SettingsFollowerOptions): SettingsWatcher {
  let current: Settings = options.state.read().settings;
  let applied = canonicalJson(current);
  let chain: Promise<void> = Promise.resolve();
  let closed = false;

  const check = async (): Promise<void> => {
    if (closed) return;
    const next = options.state.read().settings;
    const text = canonicalJson(next);
    if (text === applied) return;
    const previous = current;
    // Recorded before applying: a failing applySettings is reported once, not retried every interval.
    current = next;
    applied = text;
    options.logger?.info({ changed: changedSettingKeys(previous, next) }, 'settings changed');
    try {
      await options.applySettings(next, previous);
    } catch (error) {
      const err = error instanceof Error ? error : new Error(String(error));
      options.logger?.warn({ err }, 'settings not applied; the previous settings stay in force');
      options.onError?.(err);
    }
  };

  const timer = setInterval(() => {
    chain = chain.then(check);
  }, options.intervalMs ?? 1000);
  timer.unref();

  return {
    current: () => current,
    settled: () => chain,
    async close() {
      closed = true;
      clearInterval(timer);
      await chain;
    },
  };
}
