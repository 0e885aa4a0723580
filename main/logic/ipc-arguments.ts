import { isWebUrl } from './navigation.js';

/**
 * Checks of what the renderer sends over IPC: the renderer is web content, so every argument is untrusted and
 * checked at the boundary before the main process acts on it.
 */

/** Enough for any command or digest list; a renderer must not make the main process copy megabytes. */
export const maxClipboardText = 64 * 1024;

export function clipboardTextArgument(value: unknown): string {
  if (typeof value !== 'string') throw new TypeError('text must be a string');
  if (value.length > maxClipboardText) throw new RangeError(`text is longer than ${maxClipboardText} characters`);
  return value;
}

/** Only http(s) URLs reach `shell.openExternal`: other schemes can launch local programs. */
export function externalUrlArgument(value: unknown): string {
  if (typeof value !== 'string' || !isWebUrl(value)) throw new TypeError('only http: and https: URLs can be opened');
  return new URL(value).href;
}
