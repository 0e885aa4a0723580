import { namespaceOf } from '../core/names.js';
import type { LifecyclePolicyRecord, State } from '../state/index.js';

/** The trash keeps deleted content this long unless a policy says otherwise. */
export const defaultTrashDays = 30;

/** What applies to one repository: its namespace's record, overridden field by field by its own record. */
export type EffectivePolicy = Omit<LifecyclePolicyRecord, 'scope' | 'updatedAt'> & { trashDays: number };

export function policyFor(state: Pick<State, 'policies'>, repository: string): EffectivePolicy {
  const namespaceRecord = state.policies.find((record) => record.scope === namespaceOf(repository));
  const repositoryRecord = state.policies.find((record) => record.scope === repository);
  const merged: EffectivePolicy = { trashDays: defaultTrashDays };
  for (const record of [namespaceRecord, repositoryRecord]) {
    if (!record) continue;
    const { scope: _scope, updatedAt: _updatedAt, ...fields } = record;
    for (const [key, value] of Object.entries(fields)) if (value !== undefined) (merged as Record<string, unknown>)[key] = value;
  }
  return merged;
}

/** The record of one namespace only (quotas are per namespace), or undefined. */
export function namespacePolicy(state: Pick<State, 'policies'>, namespace: string): LifecyclePolicyRecord | undefined {
  return state.policies.find((record) => record.scope === namespace);
}

/**
 * Changes one scope's record inside a state update (`state.update((draft) => updatePolicy(draft, 'team', {...}))`).
 * A field set to undefined is removed; a record left with no fields is dropped.
 */
export function updatePolicy(
  draft: Pick<State, 'policies'>,
  scope: string,
  change: Partial<Omit<LifecyclePolicyRecord, 'scope' | 'updatedAt'>>,
  now = new Date(),
): LifecyclePolicyRecord | undefined {
  let record = draft.policies.find((candidate) => candidate.scope === scope);
  if (!record) {
    record = { scope, updatedAt: now.toISOString() };
    draft.policies.push(record);
  }
  for (const [key, value] of Object.entries(change)) {
    if (value === undefined) delete (record as unknown as Record<string, unknown>)[key];
    else (record as unknown as Record<string, unknown>)[key] = value;
  }
  record.updatedAt = now.toISOString();
  if (Object.keys(record).every((key) => key === 'scope' || key === 'updatedAt')) {
    draft.policies.splice(draft.policies.indexOf(record), 1);
    return undefined;
  }
  return record;
}
