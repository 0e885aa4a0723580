import { readFile } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import type { Logger } from '../log.js';
import type { Settings } from '../state/schema.js';
import { parseStateText } from '../state/secure-json-file.js';

/**
 * Live settings: watches `<dataDir>/state.json` so that a hand edit (or `berth` run in another terminal) takes
 * effect without a restart. Each change is parsed and validated with the state store's own rules; a file that
 * does not parse is reported and the settings in force are kept. The callback runs only when the `settings`
 * section really changed: the file is also rewritten for tokens, namespaces and jobs, which are not settings.
 * Both the desktop app and a headless server can use it (zot keeps its hot reload at this edge too).
 */

export interface SettingsWatcherOptions {
  /** The state file, `<dataDir>/state.json`. */
  path: string;
  /** Called with the new settings (and the ones they replace). Calls never overlap. */
  applySettings(settings: Settings, previous: Settings): void | Promise<void>;
  /** The file could not be read or validated, or applySettings threw. The old settings stay in force. */
  onError?(error: Error): void;
  logger?: Logger;
  /** Quiet time after the last change before the file is read: editors write in several steps. Default 200. */
  debounceMs?: number;
}

export interface SettingsWatcher {
  /** The settings last read successfully (the ones in force). */
  current(): Settings;
  /** Waits for a pending read and applySettings to finish (tests, orderly shutdown). */
  settled(): Promise<void>;
  close(): Promise<void>;
}

/** A stable text for comparing settings: key order in a hand-edited file must not count as a change. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, inner: unknown) => {
    if (typeof inner !== 'object' || inner === null || Array.isArray(inner)) return inner;
    const sorted: Record<string, unknown> = {};
    for (const key of Object.keys(inner).sort()) sorted[key] = (inner as Record<string, unknown>)[key];
    return sorted;
  });
}

/** The top-level settings keys whose values differ (added, removed or changed). */
export function changedSettingKeys(previous: Settings, next: Settings): string[] {
  const keys = new Set([...Object.keys(previous), ...Object.keys(next)]);
  return [...keys].filter((key) => canonicalJson(previous[key]) !== canonicalJson(next[key])).sort();
}

async function readSettings(path: string): Promise<Settings> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    // No file yet is a fresh data directory: the defaults are in force.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw error;
  }
  return parseStateText(text, path).settings;
}

/** Starts watching; resolves once the current settings are read and the watcher is ready for changes. */
export async function createSettingsWatcher(options: SettingsWatcherOptions): Promise<SettingsWatcher> {
  const path = resolve(options.path);
  const debounceMs = options.debounceMs ?? 200;
  const report = (error: unknown) => {
    const err = error instanceof Error ? error : new Error(String(error));
    options.logger?.warn({ err, path }, 'settings not applied; the previous settings stay in force');
    options.onError?.(err);
  };

  let current: Settings = {};
  try {
    current = await readSettings(path);
  } catch (error) {
    report(error);
  }
  let applied = canonicalJson(current);
  let timer: NodeJS.Timeout | undefined;
  let chain: Promise<void> = Promise.resolve();
  let closed = false;

  const check = async () => {
    if (closed) return;
    let next: Settings;
    try {
      next = await readSettings(path);
    } catch (error) {
      report(error);
      return;
    }
    const text = canonicalJson(next);
    if (text === applied) return;
    const previous = current;
    // Recorded before applying: a failing applySettings is reported once, not retried on every unrelated write.
    current = next;
    applied = text;
    options.logger?.info({ path, changed: changedSettingKeys(previous, next) }, 'settings changed');
    try {
      await options.applySettings(next, previous);
    } catch (error) {
      report(error);
    }
  };

  const schedule = () => {
    if (closed) return;
    clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      chain = chain.then(check);
    }, debounceMs);
  };

  // The directory is watched rather than the file: the state store replaces state.json by rename, and a
  // watch on the old inode would go quiet after the first write. Everything else in the directory is ignored.
  const dir = dirname(path);
  const name = basename(path);
  const watcher: FSWatcher = watch(dir, {
    ignoreInitial: true,
    depth: 0,
    ignored: (candidate: string) => candidate !== dir && basename(candidate) !== name,
  });
  watcher.on('all', (_event, changed) => {
    if (resolve(changed) === path) schedule();
  });
  watcher.on('error', (error) => report(error));
  await new Promise<void>((ready) => watcher.once('ready', () => ready()));

  return {
    current: () => current,
    async settled() {
      while (timer !== undefined) await new Promise((wait) => setTimeout(wait, debounceMs));
      await chain;
    },
    async close() {
      closed = true;
      clearTimeout(timer);
      timer = undefined;
      await watcher.close();
      await chain;
    },
  };
}
