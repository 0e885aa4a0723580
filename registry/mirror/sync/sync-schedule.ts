import type { SyncRuleRecord } from '../../state/index.js';

/**
 * When a rule's schedule next starts it, in epoch milliseconds; null for an on-demand rule. One interval after the
 * last run, or, for a rule that never ran, one interval after it was saved: a new rule does not start the moment
 * it is saved (the user may still be checking it), it waits for its first interval or a deliberate "Run now".
 * Pauses are the caller's business (the scheduler and the API views both check them).
 */
export function nextScheduledRun(rule: Pick<SyncRuleRecord, 'everySeconds' | 'lastRunAt' | 'createdAt'>): number | null {
  if (rule.everySeconds === null) return null;
  const since = Date.parse(rule.lastRunAt ?? rule.createdAt);
  // An unreadable time (a hand-edited state file) makes the rule due rather than never running again.
  return (Number.isNaN(since) ? 0 : since) + rule.everySeconds * 1000;
}
