import type { TagSort } from './contract.js';

/**
 * The orders the GUI lists tags in. Tags are mostly versions (`1.2.10`, `v3`, `t100`, `7-alpine`), so digit runs
 * compare as numbers (t2 before t10); `latest` is what people look for first, so it leads every order.
 */

const chunks = /(\d+)|(\D+)/g;

/** A tag split into its digit and non-digit runs: the sort key compareNatural works on. */
export function naturalKey(tag: string): string[] {
  return tag.match(chunks) ?? [];
}

/** Natural ascending order: digit runs by value (leading zeros break ties), other runs by code point. */
export function compareNatural(a: string, b: string): number {
  return compareNaturalKeys(naturalKey(a), naturalKey(b));
}

function compareNaturalKeys(left: readonly string[], right: readonly string[]): number {
  for (let i = 0; i < Math.min(left.length, right.length); i++) {
    const x = left[i] as string;
    const y = right[i] as string;
    if (x === y) continue;
    const xDigits = /^\d/.test(x);
    const yDigits = /^\d/.test(y);
    if (xDigits && yDigits) {
      // Compare by value without Number(): a 40-digit run must not lose precision.
      const xs = x.replace(/^0+(?=\d)/, '');
      const ys = y.replace(/^0+(?=\d)/, '');
      if (xs.length !== ys.length) return xs.length - ys.length;
      if (xs !== ys) return xs < ys ? -1 : 1;
      return x.length - y.length;
    }
    // A number sorts before text in the same place (`1.0` before `1.0-rc`... is not semver, but it is predictable).
    if (xDigits !== yDigits) return xDigits ? -1 : 1;
    return x < y ? -1 : 1;
  }
  return left.length - right.length;
}

const pinned = 'latest';

/**
 * A comparator for `sort`; `pushedAt` (epoch ms) is consulted only by `pushed`. Keys are split once per tag and
 * remembered by the comparator, so sorting 10,000 tags does not split each name on every comparison.
 */
export function tagComparator(sort: TagSort, pushedAt: (tag: string) => number = () => 0): (a: string, b: string) => number {
  const keys = new Map<string, string[]>();
  const keyOf = (tag: string): string[] => {
    let key = keys.get(tag);
    if (!key) keys.set(tag, (key = naturalKey(tag)));
    return key;
  };
  const byName = (a: string, b: string) => compareNaturalKeys(keyOf(a), keyOf(b));
  const byVersion = (a: string, b: string) => byName(b, a);
  const inner =
    sort === 'name'
      ? byName
      : sort === 'pushed'
        ? (a: string, b: string) => pushedAt(b) - pushedAt(a) || byVersion(a, b)
        : byVersion;
  return (a, b) => {
    if (a === b) return 0;
    if (a === pinned) return -1;
    if (b === pinned) return 1;
    return inner(a, b);
  };
}
