import { isRepositoryName } from '../../core/names.js';
import type { StateStore, SyncRuleRecord } from '../../state/index.js';
import { validateTagFilter } from './tag-filter.js';

export type SyncRuleInput = Omit<SyncRuleRecord, 'createdAt' | 'lastRunAt' | 'into' | 'paused' | 'platforms' | 'tags'> &
  Partial<Pick<SyncRuleRecord, 'into' | 'paused' | 'platforms' | 'tags'>>;

const ruleNameGrammar = /^[a-zA-Z0-9][a-zA-Z0-9._-]{0,63}$/;
const platformGrammar = /^[a-z0-9]+\/[a-z0-9_]+(\/[a-z0-9]+)?$/;

export class SyncRuleError extends Error {
  override readonly name = 'SyncRuleError';
  constructor(message: string, readonly code: 'BERTH_SYNC_RULE_INVALID' | 'BERTH_UPSTREAM_NOT_FOUND' = 'BERTH_SYNC_RULE_INVALID') {
    super(message);
  }
}

/** Checks a rule against the upstreams it may name; the one validation shared by the CLI and the admin API. */
export function validateSyncRule(rule: SyncRuleRecord, upstreams: readonly { name: string }[]): void {
  const fail = (message: string): never => {
    throw new SyncRuleError(message);
  };
  if (!ruleNameGrammar.test(rule.name)) fail(`invalid rule name "${rule.name.slice(0, 80)}": letters, digits, '.', '_' and '-', up to 64`);
  if (!upstreams.some((upstream) => upstream.name === rule.upstream)) {
    throw new SyncRuleError(`no upstream named "${rule.upstream.slice(0, 80)}": add it first with "berth upstream add"`, 'BERTH_UPSTREAM_NOT_FOUND');
  }
  if (rule.repositories.length === 0) fail('a sync rule needs at least one repository, e.g. library/redis or bitnami/*');
  for (const repository of rule.repositories) {
    const name = repository.endsWith('/*') ? repository.slice(0, -2) : repository;
    if (!isRepositoryName(name)) fail(`invalid repository "${repository.slice(0, 120)}": a name like library/redis, or a prefix like bitnami/*`);
  }
  if (!isRepositoryName(rule.into) || rule.into.includes('/')) fail(`invalid target namespace "${rule.into.slice(0, 80)}"`);
  for (const platform of rule.platforms) {
    if (!platformGrammar.test(platform)) fail(`invalid platform "${platform.slice(0, 40)}": os/arch or os/arch/variant, e.g. linux/arm64/v8`);
  }
  // Shorter intervals would hammer the upstream (and its rate limits) for no benefit.
  if (rule.everySeconds !== null && (!Number.isInteger(rule.everySeconds) || rule.everySeconds < 60)) fail('the interval must be at least one minute');
  try {
    validateTagFilter(rule.tags);
  } catch (error) {
    fail((error as Error).message);
  }
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
  await state.update((draft) => {
    validateSyncRule(rule, draft.upstreams);
    const index = draft.syncRules.findIndex((existing) => existing.name === rule.name);
    if (index !== -1 && !options.replace) throw new Error(`a sync rule named "${rule.name}" exists already`);
    if (index === -1) draft.syncRules.push(rule);
    else draft.syncRules[index] = { ...rule, createdAt: draft.syncRules[index]?.createdAt ?? rule.createdAt };
  });
  return rule;
}
