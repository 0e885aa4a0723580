/**
 * The garbage-collection settings of state.json as the registry uses them: hours between scheduled runs (0: none) and
 * the grace period, with the defaults when absent or unusable. One place, so the admin API, the server and the GUI's
 * defaults agree.
 */
export const defaultGcEveryHours = 24;
export const maxGcEveryHours = 24 * 30;
export const defaultGcGraceMinutes = 60;
/** A week: a push that has not sent its manifest by then is not coming back. */
export const maxGcGraceMinutes = 7 * 24 * 60;

export interface GcSchedule {
  /** Between scheduled runs; undefined: no scheduled runs. */
  intervalMs?: number;
  graceMs: number;
}

const minute = 60_000;

export function effectiveGcEveryHours(value: unknown): number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= maxGcEveryHours ? value : defaultGcEveryHours;
}

export function effectiveGcGraceMinutes(value: unknown): number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= maxGcGraceMinutes ? value : defaultGcGraceMinutes;
}

export function gcScheduleOf(settings: { gcEveryHours?: unknown; gcGraceMinutes?: unknown }): GcSchedule {
  const hours = effectiveGcEveryHours(settings.gcEveryHours);
  return { ...(hours > 0 ? { intervalMs: hours * 60 * minute } : {}), graceMs: effectiveGcGraceMinutes(settings.gcGraceMinutes) * minute };
}
