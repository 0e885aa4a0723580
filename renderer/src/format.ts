/** Human units and times for the GUI. Pure functions: no React, no DOM. */

const byteUnits = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** 1536 → "1.5 KiB". Binary units, because layer sizes and disk quotas are binary everywhere else. */
export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) return '—';
  if (bytes < 1024) return `${bytes} B`;
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < byteUnits.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const digits = value >= 100 ? 0 : value >= 10 ? 1 : 2;
  // Strip trailing zeros after the point only ("1.50" → "1.5", "2.00" → "2"), never from "180".
  const text = value.toFixed(digits);
  return `${digits > 0 ? text.replace(/\.?0+$/, '') : text} ${byteUnits[unit]}`;
}

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
const steps: Array<[Intl.RelativeTimeFormatUnit, number]> = [
  ['second', 60],
  ['minute', 60],
  ['hour', 24],
  ['day', 7],
  ['week', 4.35],
  ['month', 12],
  ['year', Number.POSITIVE_INFINITY],
];

function toDate(value: string | number | Date): Date {
  return value instanceof Date ? value : new Date(value);
}

const relativeNumeric = new Intl.RelativeTimeFormat(undefined, { numeric: 'always' });

/**
 * "3 minutes ago", "in 6 days". `now` is a parameter so a ticking clock can re-render. `numeric: 'always'` says
 * "in 1 day" rather than "tomorrow", for a sentence that also gives the exact time.
 */
export function formatRelative(value: string | number | Date, now: number = Date.now(), numeric: 'auto' | 'always' = 'auto'): string {
  const date = toDate(value);
  if (Number.isNaN(date.getTime())) return '—';
  const format = numeric === 'always' ? relativeNumeric : relative;
  let amount = (date.getTime() - now) / 1000;
  if (Math.abs(amount) < 10) return 'just now';
  for (const [unit, size] of steps) {
    // Compared after rounding, so 23.99 hours reads "in 1 day", not "in 24 hours".
    if (Math.round(Math.abs(amount)) < size) return format.format(Math.round(amount), unit);
    amount /= size;
  }
  return format.format(Math.round(amount), 'year');
}

/** "2026-12-03 07:10" in local time: a moment to the minute, short enough for a sentence. */
export function formatMinute(value: string | number | Date): string {
  const date = toDate(value);
  if (Number.isNaN(date.getTime())) return String(value);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${two(date.getMonth() + 1)}-${two(date.getDate())} ${two(date.getHours())}:${two(date.getMinutes())}`;
}

const exact = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

/** The exact local time, for `title` tooltips next to relative times. */
export function formatExact(value: string | number | Date): string {
  const date = toDate(value);
  return Number.isNaN(date.getTime()) ? String(value) : exact.format(date);
}

/** "sha256:abcdef012345…" → "sha256:abcdef012345": enough to recognise a digest at a glance. */
export function shortDigest(digest: string, length = 12): string {
  const colon = digest.indexOf(':');
  return colon === -1 ? digest.slice(0, length) : `${digest.slice(0, colon + 1)}${digest.slice(colon + 1, colon + 1 + length)}`;
}

/** 42 → "42", 1234567 → "1,234,567". */
export function formatCount(value: number): string {
  return new Intl.NumberFormat().format(value);
}

/** Seconds → "every 6 hours" style text for sync intervals. */
export function formatInterval(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return 'on demand only';
  const units: Array<[string, number]> = [['day', 86400], ['hour', 3600], ['minute', 60], ['second', 1]];
  for (const [name, size] of units) {
    if (seconds >= size && seconds % size === 0) {
      const count = seconds / size;
      return count === 1 ? `every ${name}` : `every ${count} ${name}s`;
    }
  }
  return `every ${seconds} seconds`;
}

/** Percent 0–100 for progress bars; an unknown total reads as 0 rather than NaN. */
export function percent(done: number, total: number): number {
  if (!total || total <= 0) return 0;
  return Math.min(100, Math.max(0, (done / total) * 100));
}

const sizeUnits: Record<string, number> = {
  b: 1, k: 1e3, kb: 1e3, m: 1e6, mb: 1e6, g: 1e9, gb: 1e9, t: 1e12, tb: 1e12,
  kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, tib: 1024 ** 4,
};

/**
 * "10GiB", "500 MB", "1048576" → bytes; undefined when not a positive whole size. The same grammar as the CLI's
 * `--max-storage` (registry/core/byte-size.ts); the admin API checks the number again.
 */
export function parseSize(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  if (!match) return undefined;
  const unit = sizeUnits[(match[2] ?? '').toLowerCase() || 'b'];
  if (unit === undefined) return undefined;
  const bytes = Math.round(Number(match[1]) * unit);
  return Number.isSafeInteger(bytes) && bytes > 0 ? bytes : undefined;
}
