import { isRepositoryName } from '../core/names.js';
import type { LifecyclePolicyRecord, RetentionRules, State } from '../state/index.js';
import { updatePolicy } from './policies.js';

/**
 * What a retention policy may say, checked once where it is saved (CLI and admin API alike), so the plan never
 * meets a rule it cannot apply.
 *
 * Days are whole days of at least 1: an untagged-days of 0 would race a multi-platform push, whose platform
 * manifests arrive untagged a moment before the index that names them.
 */
export const maxRetentionDays = 3650;
export const maxKeepNewest = 100_000;

export class RetentionRuleError extends Error {
  override readonly name = 'RetentionRuleError';
  readonly code = 'BERTH_RETENTION_INVALID';
}

/** A namespace (`team`) or a repository (`team/app`): the scopes a lifecycle policy applies to. */
export function checkScope(scope: string): string {
  if (!isRepositoryName(scope)) {
    throw new RetentionRuleError(`invalid scope "${scope.slice(0, 120)}": a namespace such as team or a repository such as team/app`);
  }
  return scope;
}

function wholeNumber(value: unknown, field: string, min: number, max: number): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new RetentionRuleError(`${field} must be a whole number from ${min} to ${max}, not ${JSON.stringify(value)?.slice(0, 40)}`);
  }
  return value;
}

/**
 * The rules as stored: only the fields that are set. `mirrors` are the mirror namespaces (mirrorNamespaces):
 * unpulled-days applies only there, so setting it elsewhere is refused rather than silently doing nothing.
 */
export function checkRetentionRules(raw: unknown, scope: string, mirrors: ReadonlySet<string>): RetentionRules {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new RetentionRuleError('the retention rules must be an object');
  const input = raw as Record<string, unknown>;
  for (const key of Object.keys(input)) {
    if (!['keepNewest', 'orderBy', 'untaggedDays', 'unpulledDays'].includes(key)) {
      throw new RetentionRuleError(`unknown retention rule "${key.slice(0, 40)}" (known: keepNewest, orderBy, untaggedDays, unpulledDays)`);
    }
  }
  const rules: RetentionRules = {};
  const keepNewest = wholeNumber(input.keepNewest, 'keep-newest', 1, maxKeepNewest);
  if (keepNewest !== undefined) rules.keepNewest = keepNewest;
  if (input.orderBy !== undefined && input.orderBy !== null) {
    if (input.orderBy !== 'pushed' && input.orderBy !== 'semver') throw new RetentionRuleError(`order must be pushed or semver, not ${JSON.stringify(input.orderBy)?.slice(0, 40)}`);
    rules.orderBy = input.orderBy;
  }
  const untaggedDays = wholeNumber(input.untaggedDays, 'untagged-days', 1, maxRetentionDays);
  if (untaggedDays !== undefined) rules.untaggedDays = untaggedDays;
  const unpulledDays = wholeNumber(input.unpulledDays, 'unpulled-days', 1, maxRetentionDays);
  if (unpulledDays !== undefined) {
    const namespace = scope.split('/')[0] as string;
    if (!mirrors.has(namespace)) {
      const known = [...mirrors].sort().join(', ') || 'none yet';
      throw new RetentionRuleError(`unpulled-days evicts mirrored images only, and "${namespace}" is not a mirror namespace (mirror namespaces: ${known})`);
    }
    rules.unpulledDays = unpulledDays;
  }
  return rules;
}

/** Namespaces whose content comes from an upstream: each upstream's pull-through namespace and each sync rule's target. */
export function mirrorNamespaces(state: Pick<State, 'upstreams' | 'syncRules'>): Set<string> {
  return new Set([...state.upstreams.map((upstream) => upstream.name), ...state.syncRules.map((rule) => rule.into)]);
}

/** True when the rules ask for anything (an empty record removes nothing and is not worth reading a repository for). */
export function hasRules(rules: RetentionRules | undefined): rules is RetentionRules {
  return rules !== undefined && (rules.keepNewest !== undefined || rules.untaggedDays !== undefined || rules.unpulledDays !== undefined);
}

/** `keep newest 5 (by semver), untagged after 7 days, unpulled after 30 days`: how CLI and GUI describe a policy. */
export function describeRules(rules: RetentionRules | undefined): string {
  if (!hasRules(rules)) return 'none';
  const parts: string[] = [];
  if (rules.keepNewest !== undefined) parts.push(`keep newest ${rules.keepNewest} (by ${rules.orderBy === 'semver' ? 'semver' : 'push time'})`);
  if (rules.untaggedDays !== undefined) parts.push(`untagged after ${rules.untaggedDays} day${rules.untaggedDays === 1 ? '' : 's'}`);
  if (rules.unpulledDays !== undefined) parts.push(`unpulled after ${rules.unpulledDays} day${rules.unpulledDays === 1 ? '' : 's'}`);
  return parts.join(', ');
}

/**
 * Replaces the retention rules of one scope inside a state update (checked there, against the mirrors the state
 * knows under its lock); empty or null rules remove them. Returns the scope's record afterwards, if it has one.
 */
export function setRetentionRules(draft: Pick<State, 'policies' | 'upstreams' | 'syncRules'>, scope: string, raw: unknown, now = new Date()): LifecyclePolicyRecord | undefined {
  checkScope(scope);
  const rules = raw === null || raw === undefined ? {} : checkRetentionRules(raw, scope, mirrorNamespaces(draft));
  return updatePolicy(draft, scope, { retention: Object.keys(rules).length > 0 ? rules : undefined }, now);
}
