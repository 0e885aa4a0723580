import { namespaceOf } from '../core/names.js';
import { immutablePatternsFor, tagPatternMatches } from './immutable-tags.js';
import { isVersionTag, newestFirst } from '../mirror/sync/tag-filter.js';
import type { State } from '../state/index.js';
import { policyFor } from './policies.js';
import { hasRules } from './retention-rules.js';

/**
 * What retention would remove, decided by one pure function from plain facts (policies, pins, tags with their push
 * and pull times, manifests with their platforms and subjects). The dry run prints this plan and the real run
 * carries out this same plan (lifecycle/retention-run.ts), so the two cannot disagree.
 *
 * The rules of a repository (its namespace's policy, overridden by its own; lifecycle/policies.ts) apply in order,
 * each to what the previous left:
 * 1. keep-newest N: tags beyond the newest N go; the manifest stays, pullable by digest. By push time, or by
 *    version (semver order): then only tags that read as versions compete, and `latest`, `main` and the like stay.
 * 2. unpulled-days D (mirror namespaces only): an image none of whose tags (nor its digest) was pulled, or stored,
 *    in the last D days is evicted: the manifest and every tag on it, with its platforms and referrers. A mirror
 *    whose upstream is offline evicts nothing: what it has could not be fetched again.
 * 3. untagged-days T: a manifest no tag points at (counting the tags removed by 1 and 2), that is neither a
 *    platform of a stored index nor a referrer of a stored manifest, pushed more than T days ago, goes, with its
 *    platforms and referrers. Ages count from the push (as registries' lifecycle rules do): a tag removed by rule 1
 *    can leave an old manifest that rule 3 removes in the same run.
 *
 * Never removed: pinned tags and digests (lifecycle/pins.ts), tags matching the policy's immutable patterns, and
 * the manifests they point at with their platforms. What a rule would have removed but could not is reported as
 * spared, with why.
 */

export const dayMs = 86_400_000;

export interface TagFacts {
  tag: string;
  digest: string;
  /** Epoch ms: when the tag got its current manifest. */
  pushedAt: number;
  /** Epoch ms of the newest pull by the tag or by its digest; absent when never pulled. */
  lastPulledAt?: number;
}

export interface ManifestFacts {
  digest: string;
  /** Epoch ms: when the revision was stored; absent when unknown (such a manifest is never old enough). */
  pushedAt?: number;
  /** Epoch ms of the newest pull by digest; absent when never pulled (or not asked: no unpulled rule). */
  lastPulledAt?: number;
  /** An index's platform manifests. */
  children: readonly string[];
  /** The manifest this one refers to (a signature, an SBOM). */
  subject?: string;
}

export interface RepositoryFacts {
  repository: string;
  tags: readonly TagFacts[];
  manifests: readonly ManifestFacts[];
}

export interface RetentionInput {
  /** Epoch ms the ages are measured from. */
  now: number;
  state: Pick<State, 'policies' | 'pins'>;
  /** Namespaces an upstream fills (lifecycle/retention-rules.ts mirrorNamespaces): where unpulled-days applies. */
  mirrors: ReadonlySet<string>;
  /** Mirror namespaces whose upstream is offline right now: nothing is evicted there. */
  offline?: ReadonlySet<string>;
  repositories: readonly RepositoryFacts[];
}

export type RetentionRule = 'keep-newest' | 'unpulled' | 'untagged';

export interface RetentionRemoval {
  repository: string;
  /** `tag`: just the tag (its manifest stays); `manifest`: the manifest and every tag still on it. */
  kind: 'tag' | 'manifest';
  /** The tag, or the manifest's digest. */
  reference: string;
  /** The manifest the tag points at, or the manifest itself. */
  digest: string;
  /** A manifest's tags that go with it. */
  tags?: string[];
  rule: RetentionRule;
  /** For people: which rule, and the facts that made it apply. */
  reason: string;
}

export interface RetentionSpared {
  repository: string;
  reference: string;
  digest: string;
  rule: RetentionRule;
  why: 'pinned' | 'immutable' | 'upstream offline';
}

export interface RetentionPlan {
  removals: RetentionRemoval[];
  spared: RetentionSpared[];
}

export function planRetention(input: RetentionInput): RetentionPlan {
  const plan: RetentionPlan = { removals: [], spared: [] };
  const repositories = [...input.repositories].sort((a, b) => compare(a.repository, b.repository));
  for (const facts of repositories) planRepository(input, facts, plan);
  return plan;
}

const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const iso = (epochMs: number): string => new Date(epochMs).toISOString().replace(/\.\d{3}Z$/, 'Z');
const short = (digest: string): string => digest.replace(/^(sha\d+:[0-9a-f]{12})[0-9a-f]*$/, '$1');
const days = (count: number): string => `${count} day${count === 1 ? '' : 's'}`;

function planRepository(input: RetentionInput, facts: RepositoryFacts, plan: RetentionPlan): void {
  const { repository } = facts;
  const policy = policyFor(input.state, repository);
  const rules = policy.retention;
  if (!hasRules(rules)) return;
  const namespace = namespaceOf(repository);
  const pinned = new Set(input.state.pins.filter((pin) => pin.repository === repository).map((pin) => pin.reference));
  // The same patterns the push path enforces (a repository's add to its namespace's).
  const immutable = immutablePatternsFor(input.state, repository);

  const tags = new Map([...facts.tags].sort((a, b) => compare(a.tag, b.tag)).map((tag) => [tag.tag, tag]));
  const manifests = new Map([...facts.manifests].sort((a, b) => compare(a.digest, b.digest)).map((manifest) => [manifest.digest, manifest]));

  const tagProtection = (tag: TagFacts): RetentionSpared['why'] | undefined =>
    pinned.has(tag.tag) || pinned.has(tag.digest) ? 'pinned' : immutable.some((pattern) => tagPatternMatches(pattern, tag.tag)) ? 'immutable' : undefined;
  // A protected manifest keeps its platforms too (pulling the pinned index must still work).
  const protectedManifests = new Map<string, RetentionSpared['why']>();
  const protect = (digest: string, why: RetentionSpared['why']) => {
    if (protectedManifests.has(digest)) return;
    protectedManifests.set(digest, why);
    for (const child of manifests.get(digest)?.children ?? []) protect(child, why);
  };
  for (const reference of pinned) if (manifests.has(reference)) protect(reference, 'pinned');
  for (const tag of tags.values()) {
    const why = tagProtection(tag);
    if (why) protect(tag.digest, why);
  }

  // Who points at what, kept up to date as the rules remove: a repository of thousands of tags stays linear.
  const tagsByDigest = new Map<string, Map<string, TagFacts>>();
  for (const tag of tags.values()) tagsByDigest.set(tag.digest, (tagsByDigest.get(tag.digest) ?? new Map()).set(tag.tag, tag));
  const parents = new Map<string, Set<string>>();
  const referrers = new Map<string, Set<string>>();
  for (const manifest of manifests.values()) {
    for (const child of manifest.children) parents.set(child, (parents.get(child) ?? new Set()).add(manifest.digest));
    if (manifest.subject !== undefined) referrers.set(manifest.subject, (referrers.get(manifest.subject) ?? new Set()).add(manifest.digest));
  }
  const tagsOn = (digest: string): TagFacts[] => [...(tagsByDigest.get(digest)?.values() ?? [])];
  const isChildOfStored = (digest: string) => (parents.get(digest)?.size ?? 0) > 0;
  const dropTag = (name: string) => {
    const tag = tags.get(name);
    if (!tag) return;
    tags.delete(name);
    tagsByDigest.get(tag.digest)?.delete(name);
  };
  const spare = (reference: string, digest: string, rule: RetentionRule, why: RetentionSpared['why']) =>
    plan.spared.push({ repository, reference, digest, rule, why });

  /** Removes a manifest, its tags, and the platforms and referrers nothing else keeps. */
  const removeManifest = (digest: string, rule: RetentionRule, reason: string) => {
    const names = tagsOn(digest).map((tag) => tag.tag);
    const manifest = manifests.get(digest);
    if (!manifest) return;
    manifests.delete(digest);
    for (const name of names) dropTag(name);
    for (const child of manifest.children) parents.get(child)?.delete(digest);
    const removal: RetentionRemoval = { repository, kind: 'manifest', reference: digest, digest, rule, reason };
    if (names.length > 0) removal.tags = names;
    plan.removals.push(removal);
    for (const child of manifest.children) {
      if (!manifests.has(child) || tagsOn(child).length > 0 || isChildOfStored(child) || protectedManifests.has(child)) continue;
      removeManifest(child, rule, `a platform of ${short(digest)}, removed with it`);
    }
    for (const referrer of referrers.get(digest) ?? []) {
      if (!manifests.has(referrer) || tagsOn(referrer).length > 0 || protectedManifests.has(referrer)) continue;
      removeManifest(referrer, rule, `refers to ${short(digest)}, removed with it`);
    }
  };

  if (rules.keepNewest !== undefined) {
    const keep = rules.keepNewest;
    const bySemver = rules.orderBy === 'semver';
    const ranked = bySemver
      ? [...tags.values()].filter((tag) => isVersionTag(tag.tag)).sort((a, b) => newestFirst(a.tag, b.tag))
      : [...tags.values()].sort((a, b) => b.pushedAt - a.pushedAt || compare(b.tag, a.tag));
    for (const tag of ranked.slice(keep)) {
      const why = tagProtection(tag);
      if (why) {
        spare(tag.tag, tag.digest, 'keep-newest', why);
        continue;
      }
      dropTag(tag.tag);
      const order = bySemver ? 'by version' : `by push time (pushed ${iso(tag.pushedAt)})`;
      plan.removals.push({ repository, kind: 'tag', reference: tag.tag, digest: tag.digest, rule: 'keep-newest', reason: `not among the newest ${keep} tags ${order}` });
    }
  }

  if (rules.unpulledDays !== undefined && input.mirrors.has(namespace)) {
    const limit = input.now - rules.unpulledDays * dayMs;
    // Images: what a tag points at, and untagged manifests that stand alone (pulled by digest through the mirror).
    const images = [...manifests.values()].filter((manifest) => tagsOn(manifest.digest).length > 0 || (!isChildOfStored(manifest.digest) && manifest.subject === undefined));
    for (const manifest of images) {
      if (!manifests.has(manifest.digest)) continue;
      const onIt = tagsOn(manifest.digest);
      const lastUsed = Math.max(manifest.pushedAt ?? input.now, manifest.lastPulledAt ?? 0, ...onIt.map((tag) => Math.max(tag.pushedAt, tag.lastPulledAt ?? 0)));
      if (lastUsed >= limit) continue;
      const reference = onIt[0]?.tag ?? manifest.digest;
      const why = protectedManifests.get(manifest.digest) ?? (input.offline?.has(namespace) ? 'upstream offline' : undefined);
      if (why) {
        spare(reference, manifest.digest, 'unpulled', why);
        continue;
      }
      removeManifest(manifest.digest, 'unpulled', `not pulled or stored since ${iso(lastUsed)} (unpulled after ${days(rules.unpulledDays)})`);
    }
  }

  if (rules.untaggedDays !== undefined) {
    const limit = input.now - rules.untaggedDays * dayMs;
    for (const manifest of [...manifests.values()]) {
      if (!manifests.has(manifest.digest) || tagsOn(manifest.digest).length > 0 || isChildOfStored(manifest.digest)) continue;
      if (manifest.subject !== undefined && manifests.has(manifest.subject)) continue;
      if (manifest.pushedAt === undefined || manifest.pushedAt >= limit) continue;
      const why = protectedManifests.get(manifest.digest);
      if (why) {
        spare(manifest.digest, manifest.digest, 'untagged', why);
        continue;
      }
      removeManifest(manifest.digest, 'untagged', `untagged, pushed ${iso(manifest.pushedAt)} (untagged after ${days(rules.untaggedDays)})`);
    }
  }
}
