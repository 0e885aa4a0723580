import { createRequire } from 'node:module';
import type Semver from 'semver';
import type { SyncRuleRecord } from '../../state/index.js';

// semver (about 1 MiB of heap with its ranges and classes) is required at the first tag filtered or ordered, not
// with the CLI: an idle `berth serve` and most commands never compare versions. It is a CommonJS package, hence require.
let loaded: typeof Semver | undefined;
function semverLib(): typeof Semver {
  loaded ??= createRequire(import.meta.url)('semver') as typeof Semver;
  return loaded;
}

/**
 * The tags a sync rule takes, in this order: include regex, exclude regex, semver range, newest N.
 * "Newest" orders semver tags by version (a `v` prefix allowed), then everything else lexically;
 * registries keep no push dates we could trust, so versions are the honest order.
 */
export function selectTags(tags: readonly string[], filter: SyncRuleRecord['tags']): string[] {
  const include = filter.include ? new RegExp(`^(?:${filter.include})$`) : undefined;
  const exclude = filter.exclude ? new RegExp(`^(?:${filter.exclude})$`) : undefined;
  let selected = tags.filter((tag) => (!include || include.test(tag)) && !(exclude && exclude.test(tag)));
  if (filter.semver) {
    const range = filter.semver;
    selected = selected.filter((tag) => {
      const version = semverLib().valid(tag.replace(/^v/, ''), { loose: true });
      return version !== null && semverLib().satisfies(version, range, { includePrerelease: false, loose: true });
    });
  }
  if (filter.newest !== undefined) selected = [...selected].sort(newestFirst).slice(0, filter.newest);
  return selected.sort();
}

/** Whether a tag reads as a semantic version (`1.2.3`, `v2.0.0-rc.1`), as the ordering below takes it. */
export function isVersionTag(tag: string): boolean {
  return semverLib().valid(tag.replace(/^v/, ''), { loose: true }) !== null;
}

/** A sort comparator, newest first: semver tags by version (a `v` prefix allowed), then the rest lexically descending. Retention's semver order uses it too. */
export function newestFirst(a: string, b: string): number {
  const va = semverLib().valid(a.replace(/^v/, ''), { loose: true });
  const vb = semverLib().valid(b.replace(/^v/, ''), { loose: true });
  if (va && vb) return semverLib().rcompare(va, vb, true);
  if (va) return -1;
  if (vb) return 1;
  return a < b ? 1 : a > b ? -1 : 0;
}

/** Checks a rule's patterns up front, so a bad regex or range is refused when the rule is saved. */
export function validateTagFilter(filter: SyncRuleRecord['tags']): void {
  for (const [flag, pattern] of [['--tags', filter.include], ['--exclude', filter.exclude]] as const) {
    if (pattern === undefined) continue;
    try {
      new RegExp(pattern);
    } catch (error) {
      // V8's message repeats the pattern ("Invalid regular expression: /(/: Unterminated group"): keep the reason only.
      const reason = (error as Error).message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /s, '');
      throw new Error(`invalid ${flag} pattern "${pattern.slice(0, 100)}": ${reason}`);
    }
  }
  if (filter.semver !== undefined && semverLib().validRange(filter.semver, { loose: true }) === null) {
    throw new Error(`invalid semver range "${filter.semver.slice(0, 100)}" (examples: ">=1.2 <2", "^3", "~1.4")`);
  }
  if (filter.newest !== undefined && (!Number.isInteger(filter.newest) || filter.newest < 1)) {
    throw new Error(`--newest must be a positive whole number, not ${filter.newest}`);
  }
}
