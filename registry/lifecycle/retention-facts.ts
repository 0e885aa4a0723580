import { parseManifest } from '../core/manifest.js';
import type { PullRecords } from '../pull-records.js';
import type { State } from '../state/index.js';
import type { RepositoryStore } from '../storage/repository-store.js';
import { policyFor } from './policies.js';
import type { ManifestFacts, RepositoryFacts, TagFacts } from './retention-plan.js';
import { hasRules } from './retention-rules.js';

/**
 * Reads what the retention plan decides from (retention-plan.ts) out of the registry's stores: every tag with its
 * push time (the metadata index), every manifest revision with its platforms, subject and store time, and, where an
 * unpulled rule needs them, the pull records. Only repositories in `scope` whose policy has rules are read; a
 * repository deleted while it is read drops out.
 */
export async function readRetentionFacts(
  stores: { repositories: RepositoryStore; pulls: PullRecords },
  state: Pick<State, 'policies'>,
  scope?: string,
): Promise<RepositoryFacts[]> {
  const { repositories, pulls } = stores;
  const result: RepositoryFacts[] = [];
  for (const repository of await repositories.listRepositories()) {
    if (scope !== undefined && repository !== scope && !repository.startsWith(`${scope}/`)) continue;
    const rules = policyFor(state, repository).retention;
    if (!hasRules(rules)) continue;
    const wantPulls = rules.unpulledDays !== undefined;
    const entries = await repositories.tagPage(repository, {});
    const digests = await repositories.listManifests(repository);
    if (!entries || !digests) continue;
    const tags: TagFacts[] = [];
    for (const entry of entries) {
      const tag: TagFacts = { tag: entry.tag, digest: entry.digest, pushedAt: entry.pushedAt.getTime() };
      if (wantPulls) {
        const usage = await pulls.tagUsage(repository, entry.tag, entry.digest);
        if (usage.lastPulledAt) tag.lastPulledAt = usage.lastPulledAt.getTime();
      }
      tags.push(tag);
    }
    const manifests: ManifestFacts[] = [];
    for (const digest of digests) {
      const stored = await repositories.getManifest(repository, digest);
      if (!stored) continue;
      const parsed = parseManifest(stored.bytes);
      const manifest: ManifestFacts = { digest, children: parsed.manifests.map((child) => child.digest) };
      if (parsed.subject) manifest.subject = parsed.subject.digest;
      const pushedAt = await repositories.pushedAt(repository, digest);
      if (pushedAt) manifest.pushedAt = pushedAt.getTime();
      if (wantPulls) {
        // Pulls by this digest only: a tag's own usage already counts pulls by its digest.
        const usage = await pulls.tagUsage(repository, digest, digest);
        if (usage.lastPulledAt) manifest.lastPulledAt = usage.lastPulledAt.getTime();
      }
      manifests.push(manifest);
    }
    result.push({ repository, tags, manifests });
  }
  return result;
}
