import type { AuditLog } from '../auth/audit-log.js';
import { isRegistryError } from '../core/errors.js';
import { namespaceOf } from '../core/names.js';
import type { PullRecords } from '../pull-records.js';
import type { State } from '../state/index.js';
import type { RepositoryStore } from '../storage/repository-store.js';
import { readRetentionFacts } from './retention-facts.js';
import { planRetention, type RetentionRemoval, type RetentionSpared } from './retention-plan.js';
import { mirrorNamespaces } from './retention-rules.js';
import type { Trash } from './trash.js';
import type { TrashEntry } from './trash-store.js';

/**
 * One retention run: read the facts, plan (retention-plan.ts), and, unless it is a dry run, carry out exactly that
 * plan. A dry run and a real run over the same content therefore list the same removals.
 *
 * Removals go through the registry's one way to delete (lifecycle/trash.ts: into the trash, restorable until it
 * expires, and refused for an immutable tag), tags first, then manifests, each audited as `retention.remove` with its rule and
 * reason. What changed between the plan and the removal (a tag moved, a manifest tagged again by a push) is left
 * alone and reported as skipped: retention never removes what it did not plan to.
 */

export interface RetentionRunDeps {
  repositories: RepositoryStore;
  trash: Pick<Trash, 'moveTag' | 'moveManifest'>;
  pulls: PullRecords;
  state: { read(): Pick<State, 'policies' | 'pins' | 'upstreams' | 'syncRules'> };
  audit: AuditLog;
  /** Mirror namespaces whose upstream is offline now (evict nothing there). */
  offline?: () => ReadonlySet<string>;
}

export interface RetentionRunOptions {
  dryRun: boolean;
  /** A namespace or repository; every repository with a policy when absent. */
  scope?: string;
  now?: Date;
  /** Who runs it, for the audit trail: 'retention' (the schedule, the default) or 'admin' (CLI, GUI). */
  actor?: string;
  /** 'local' (the server's schedule, the default), 'cli', or the GUI's address. */
  client?: string;
}

export interface RetentionSkipped extends RetentionRemoval {
  why: string;
}

export interface RetentionReport {
  dryRun: boolean;
  ranAt: string;
  scope?: string;
  /** Removed (or, in a dry run, to be removed), in the order they were (would be) carried out. */
  removals: RetentionRemoval[];
  /** What a rule would have removed but pins, immutable patterns or an offline upstream keep. */
  spared: RetentionSpared[];
  /** Planned but changed before its removal, so left alone (real runs only). */
  skipped: RetentionSkipped[];
}

export async function runRetention(deps: RetentionRunDeps, options: RetentionRunOptions): Promise<RetentionReport> {
  const now = options.now ?? new Date();
  const who = { actor: options.actor ?? 'retention', client: options.client ?? 'local' };
  const state = deps.state.read();
  const repositories = await readRetentionFacts(deps, state, options.scope);
  const plan = planRetention({ now: now.getTime(), state, mirrors: mirrorNamespaces(state), offline: deps.offline?.() ?? new Set(), repositories });
  // Tags before manifests: the tag removals of rule 1 and the manifest removals of rules 2 and 3 are independent,
  // and a crash half-way leaves untagged manifests (removed next run), never a tag to nothing.
  const ordered = [...plan.removals.filter((removal) => removal.kind === 'tag'), ...plan.removals.filter((removal) => removal.kind === 'manifest')];
  const report: RetentionReport = { dryRun: options.dryRun, ranAt: now.toISOString(), removals: [], spared: plan.spared, skipped: [] };
  if (options.scope !== undefined) report.scope = options.scope;
  if (options.dryRun) {
    report.removals = ordered;
    return report;
  }

  // What each repository's tags point at now, read once per repository just before its removals.
  const current = new Map<string, Map<string, string>>();
  const tagsNow = async (repository: string) => {
    let tags = current.get(repository);
    if (!tags) {
      tags = new Map(((await deps.repositories.tagPage(repository, {})) ?? []).map((entry) => [entry.tag, entry.digest]));
      current.set(repository, tags);
    }
    return tags;
  };
  for (const removal of ordered) {
    const tags = await tagsNow(removal.repository);
    const why = changedSincePlan(removal, tags);
    if (why) {
      report.skipped.push({ ...removal, why });
      continue;
    }
    let removed: TrashEntry | undefined;
    try {
      const by = { actor: who.actor };
      removed =
        removal.kind === 'tag'
          ? await deps.trash.moveTag(removal.repository, removal.reference, by)
          : await deps.trash.moveManifest(removal.repository, removal.digest, by);
    } catch (error) {
      // A rule that the trash refuses (an immutable tag pattern set since the plan): left alone, with the reason.
      if (!isRegistryError(error)) throw error;
      report.skipped.push({ ...removal, why: error.message });
      continue;
    }
    if (!removed) {
      report.skipped.push({ ...removal, why: 'already gone' });
      continue;
    }
    if (removal.kind === 'tag') tags.delete(removal.reference);
    else for (const [tag, digest] of tags) if (digest === removal.digest) tags.delete(tag);
    report.removals.push(removal);
    await deps.audit.record({
      action: 'retention.remove',
      ...who,
      outcome: 'success',
      namespace: namespaceOf(removal.repository),
      repository: removal.repository,
      ...(removal.kind === 'tag' ? { reference: removal.reference } : {}),
      digest: removal.digest,
      detail: { kind: removal.kind, rule: removal.rule, reason: removal.reason, ...(removal.tags ? { tags: removal.tags } : {}) },
    });
  }
  if (report.removals.length + report.skipped.length > 0) {
    await deps.audit.record({
      action: 'retention.run',
      ...who,
      outcome: 'success',
      ...(options.scope !== undefined ? { namespace: namespaceOf(options.scope) } : {}),
      detail: { removed: report.removals.length, skipped: report.skipped.length, spared: report.spared.length, ...(options.scope !== undefined ? { scope: options.scope } : {}) },
    });
  }
  return report;
}

/** Why a planned removal no longer holds, or undefined when it does. */
function changedSincePlan(removal: RetentionRemoval, tags: ReadonlyMap<string, string>): string | undefined {
  if (removal.kind === 'tag') {
    const digest = tags.get(removal.reference);
    if (digest === undefined) return 'already gone';
    return digest === removal.digest ? undefined : `the tag moved to ${digest} since the plan`;
  }
  const planned = new Set(removal.tags ?? []);
  for (const [tag, digest] of tags) {
    if (digest === removal.digest && !planned.has(tag)) return `tagged ${tag} since the plan`;
  }
  return undefined;
}
