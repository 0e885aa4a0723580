import { isRepositoryName } from '../../core/names.js';
import type { StateStore, SyncRuleRecord } from '../../state/index.js';
import { validateTagFilter } from './tag-filter.js';

export type SyncRuleInput = Omit<SyncRuleRecord, 'createdAt' | 'lastRunAt' | 'into' | 'paused' | 'platforms' | 'tags'> &
  Partial<Pick<SyncRuleRecord, 'into' | 'paused' | 'platforms' | 'tags'>>;

const ruleNameGrammar = /^[a-zA-Z0-9][a-zA-Z0-9._-]{0,63}$/;
const platformGrammar = /^[a-z0-9]+\/[a-z0-9]+(\/[a-z0-9]+)?$/;

/** Checks a rule against the upstreams it names; the one validation shared by the CLI and the admin API. */
export function validateSyncRule(rule: SyncRuleRecord, state: StateStore): void {
  if (!ruleNameGrammar.test(rule.name)) throw new Error(`invalid rule name "${rule.name}": letters, digits, '.', '_' and '-', up to 64`);
  if (!state.read().upstreams.some((upstream) => upstream.name === rule.upstream)) {
    throw new Error(`no upstream named "${rule.upstream}": add it first with "berth upstream add"`);
  }
  if (rule.repositories.length === 0) throw new Error('a sync rule needs at least one repository (--repo)');
  for (const repository of rule.repositories) {
    const name = repository.endsWith('/*') ? repository.slice(0, -2) : repository;
    if (!isRepositoryName(name)) throw new Error(`invalid repository "${repository}": a name like library/redis, or a prefix like bitnami/*`);
  }
  if (!isRepositoryName(rule.into) || rule.into.includes('/')) throw new Error(`invalid target namespace "${rule.into}"`);
  for (const platform of rule.platforms) {
    if (!platformGrammar.test(platform)) throw new Error(`invalid platform "${platform}": os/arch or os/arch/variant, e.g. linux/arm64`);
  }
  if (rule.everySeconds !== null && (!Number.isInteger(rule.everySeconds) || rule.everySeconds < 60)) {
    throw new Error('the interval must be at least one minute');
  }
  validateTagFilter(rule.tags);
}

/** Adds or replaces a rule (by name) in the state file. */
export async function saveSyncRule(state: StateStore, input: SyncRuleInput, options: { replace: boolean }): Promise<SyncRuleRecord> {
  const rule: SyncRuleRecord = {
    ...input,
    into: input.into ?? input.upstream,
    paused: input.paused ?? false,
    platforms: input.platforms ?? [],
    tags: input.tags ?? {},
    createdAt: new Date().toISOString(),
    lastRunAt: null,
  };
  validateSyncRule(rule, state);
  await state.update((draft) => {
    const index = draft.syncRules.findIndex((existing) => existing.name === rule.name);
    if (index !== -1 && !options.replace) throw new Error(`a sync rule named "${rule.name}" exists already`);
    if (index === -1) draft.syncRules.push(rule);
    else draft.syncRules[index] = { ...rule, createdAt: draft.syncRules[index]?.createdAt ?? rule.createdAt };
  });
  return rule;
}
