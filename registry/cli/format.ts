import { formatDuration } from '../core/duration.js';

/** How the CLI shows quantities to people. */
export { formatBytes } from '../core/byte-size.js';

/** How long something took: `0.4s` under ten seconds, else the largest whole units (`1m12s`, `2h5m`). */
export function formatElapsed(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '-';
  if (ms < 10_000) return `${(ms / 1000).toFixed(1)}s`;
  return formatDuration(ms);
}

/** A setting in seconds as people write it (`86400` → `1d`, `300` → `5m`, `0` → `0s`). */
export function formatSeconds(seconds: number): string {
  return formatDuration(seconds * 1000);
}

/** `sha256:0123456789ab`: enough of a digest to tell images apart in a table (the JSON has it whole). */
export function shortDigest(digest: string): string {
  const colon = digest.indexOf(':');
  return colon === -1 ? digest.slice(0, 12) : digest.slice(0, colon + 13);
}
