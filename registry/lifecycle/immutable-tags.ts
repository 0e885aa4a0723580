import { RegistryError } from '../core/errors.js';
import type { LifecyclePolicyRecord } from '../state/index.js';

/**
 * Immutable tags: a tag matching one of a scope's patterns (`v*`, `release-*`, `*`), once pushed, cannot be moved
 * to another digest or deleted. Re-pushing the same digest is fine (idempotent), and mirror namespaces are exempt
 * (their tags follow the upstream). The matcher is exported for the retention helper, which skips such tags.
 */

/** A pattern is a tag with `*` wildcards: the tag grammar's characters and `*`, at most 128. */
const patternGrammar = /^[a-zA-Z0-9_*][a-zA-Z0-9._*-]{0,127}$/;

export function isTagPattern(pattern: string): boolean {
  return patternGrammar.test(pattern);
}

/** `*` matches any run of characters (none included); everything else matches itself. */
export function tagPatternMatches(pattern: string, tag: string): boolean {
  const parts = pattern.split('*');
  if (parts.length === 1) return pattern === tag;
  const first = parts[0] as string;
  const last = parts[parts.length - 1] as string;
  if (tag.length < first.length + last.length || !tag.startsWith(first) || !tag.endsWith(last)) return false;
  let at = first.length;
  const end = tag.length - last.length;
  for (const middle of parts.slice(1, -1)) {
    const found = tag.indexOf(middle, at);
    if (found === -1 || found + middle.length > end) return false;
    at = found + middle.length;
  }
  return true;
}

/** The first of the policy's patterns that `tag` matches, or undefined when the tag is mutable. */
export function immutablePatternOf(policy: Pick<LifecyclePolicyRecord, 'immutableTags'>, tag: string): string | undefined {
  return policy.immutableTags?.find((pattern) => tagPatternMatches(pattern, tag));
}

export function isImmutableTag(policy: Pick<LifecyclePolicyRecord, 'immutableTags'>, tag: string): boolean {
  return immutablePatternOf(policy, tag) !== undefined;
}

/** The refusal, in the protocol's terms (DENIED, 403), naming the tag, the pattern and what would have happened. */
export function immutableTagDenied(repository: string, tag: string, pattern: string, attempt: 'move' | 'delete', current?: string): RegistryError {
  const what = attempt === 'move' ? `cannot be moved${current ? ` off ${current}` : ''}` : 'cannot be deleted';
  return new RegistryError('DENIED', `tag ${repository}:${tag} is immutable (pattern "${pattern}") and ${what}: push a new tag instead`, {
    detail: { repository, tag, pattern, reason: 'immutable tag' },
  });
}

/** At most this many patterns per scope: each is tried against every tag a push or delete names. */
export const maxTagPatterns = 100;

/** What is wrong with a list of patterns, or undefined when every one is valid. */
export function tagPatternsProblem(patterns: readonly string[]): string | undefined {
  const bad = patterns.find((pattern) => !isTagPattern(pattern));
  if (bad !== undefined) return `invalid tag pattern "${bad.slice(0, 140)}": tag characters (a-z A-Z 0-9 _ . -) and * wildcards, at most 128, not starting with . or -`;
  if (new Set(patterns).size > maxTagPatterns) return `at most ${maxTagPatterns} tag patterns per scope`;
  return undefined;
}

/**
 * The patterns that hold in `repository`: its namespace's and its own together. Unlike the other policy fields
 * (where a repository's record overrides its namespace's), protection adds up: a repository's own patterns never
 * make a tag its namespace protects mutable again.
 */
export function immutablePatternsFor(state: { policies: readonly LifecyclePolicyRecord[] }, repository: string): string[] {
  const slash = repository.indexOf('/');
  const namespace = slash === -1 ? repository : repository.slice(0, slash);
  const patterns = new Set<string>();
  for (const record of state.policies) {
    if (record.scope === namespace || record.scope === repository) for (const pattern of record.immutableTags ?? []) patterns.add(pattern);
  }
  return [...patterns];
}
