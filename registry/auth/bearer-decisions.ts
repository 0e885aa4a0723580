import type { AccessNeed, Caller } from '../http/access.js';

/**
 * Bearer requests the gate let through, remembered while nothing the decision rests on can have changed: the same
 * Authorization header asking for the same access, the same state snapshot, and a time before both the JWT's and
 * the access token's expiry. The StateStore hands out a new frozen snapshot on every change (this process's or,
 * within its refresh interval, another's), so a revocation, a scope edit or a namespace closed to anonymous pulls
 * misses at once. Only successes are remembered: a refusal has side effects (audit, metrics) and a challenge that
 * names the listener. A client sends the same JWT with every request of a pull, and deciding afresh each time
 * (the token's record, its scopes, the anonymous policy, the JWT's access claim) cost a tenth of a manifest GET.
 */
export interface BearerDecisions {
  /** The caller decided for this header and these needs, if that decision still holds. */
  recall(header: string, needs: readonly AccessNeed[], snapshot: object, nowMs: number): Caller | undefined;
  remember(header: string, needs: readonly AccessNeed[], snapshot: object, validUntilMs: number, caller: Caller): void;
}

interface HeaderEntry {
  snapshot: object;
  validUntilMs: number;
  byNeeds: Map<string, Caller>;
}

/** Headers remembered at most (the oldest forgotten first); a header keeps at most this many needs. */
const maxHeaders = 1000;
const maxNeedsPerHeader = 64;

export function createBearerDecisions(): BearerDecisions {
  const byHeader = new Map<string, HeaderEntry>();
  return {
    recall(header, needs, snapshot, nowMs) {
      const entry = byHeader.get(header);
      if (entry === undefined) return undefined;
      if (entry.snapshot !== snapshot || nowMs >= entry.validUntilMs) {
        byHeader.delete(header);
        return undefined;
      }
      return entry.byNeeds.get(needsKey(needs));
    },
    remember(header, needs, snapshot, validUntilMs, caller) {
      let entry = byHeader.get(header);
      if (entry === undefined || entry.snapshot !== snapshot) {
        if (entry === undefined && byHeader.size >= maxHeaders) byHeader.delete(byHeader.keys().next().value as string);
        entry = { snapshot, validUntilMs, byNeeds: new Map() };
        byHeader.set(header, entry);
      }
      entry.validUntilMs = Math.min(entry.validUntilMs, validUntilMs);
      if (entry.byNeeds.size >= maxNeedsPerHeader) entry.byNeeds.clear();
      entry.byNeeds.set(needsKey(needs), caller);
    },
  };
}

/** `team/app:pull,push team/base:pull`: repository names hold no spaces or colons, so this is unambiguous. */
function needsKey(needs: readonly AccessNeed[]): string {
  let key = '';
  for (const need of needs) key += `${need.repository}:${need.actions.join(',')} `;
  return key;
}
