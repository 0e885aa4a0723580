/**
 * Human durations as people type them on a command line: `90m`, `12h`, `30d`, `1y`, or several parts
 * (`1h30m`). Shared by token expiry (`berth token create --expires 30d`) and audit queries (`--since 24h`).
 */
const unitMs = {
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 7 * 86_400_000,
  // A calendar year varies; 365 days is what people mean by "a token valid for 1y".
  y: 365 * 86_400_000,
} as const;

type Unit = keyof typeof unitMs;

const wholeGrammar = /^(?:\d{1,6}[smhdwy])+$/;
const partGrammar = /(\d{1,6})([smhdwy])/g;

export class DurationError extends Error {
  readonly code = 'BERTH_DURATION_INVALID';
  constructor(readonly input: string) {
    super(`invalid duration "${input.slice(0, 40)}": use a number and a unit, e.g. 90m, 12h, 7d, 1y (units: s m h d w y)`);
    this.name = 'DurationError';
  }
}

/** Parses `30d` / `1h30m` into milliseconds. Throws DurationError on anything else (including zero). */
export function parseDuration(input: string): number {
  const text = input.trim().toLowerCase();
  if (!wholeGrammar.test(text)) throw new DurationError(input);
  let total = 0;
  for (const match of text.matchAll(partGrammar)) {
    total += Number(match[1]) * unitMs[match[2] as Unit];
  }
  if (total <= 0) throw new DurationError(input);
  return total;
}

/** Formats milliseconds back into the largest whole units (`90m` → `1h30m`), for messages and the CLI. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms <= 0) return '0s';
  let rest = Math.round(ms / 1000) * 1000;
  let out = '';
  for (const unit of ['y', 'd', 'h', 'm', 's'] as const) {
    const count = Math.floor(rest / unitMs[unit]);
    if (count > 0) {
      out += `${count}${unit}`;
      rest -= count * unitMs[unit];
    }
  }
  return out || '0s';
}

/**
 * A moment given as a duration back from `now` (`24h`, `7d`) or as an ISO date or date-time
 * (`2030-01-31`, `2030-01-31T12:00:00Z`): what `--since` and the audit API's `since` accept.
 */
export function parsePointInTime(text: string, now: number = Date.now()): Date {
  try {
    return new Date(now - parseDuration(text));
  } catch (error) {
    if (!(error instanceof DurationError)) throw error;
  }
  const date = /^\d{4}-\d{2}-\d{2}/.test(text) ? new Date(text) : undefined;
  if (!date || Number.isNaN(date.getTime())) {
    throw new DurationError(`"${text.slice(0, 40)}" is neither a duration such as 24h or 7d nor a date such as 2030-01-31`);
  }
  return date;
}
