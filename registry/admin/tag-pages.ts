import type { RepositoryStore } from '../storage/repository-store.js';
import type { TagSort } from './contract.js';
import { tagComparator } from './tag-order.js';

export interface TagPageQuery {
  /** Absent: every matching tag. */
  n?: number;
  last?: string;
  filter?: string;
  sort: TagSort;
}

export interface TagPage {
  /** The page's tag names, in order. */
  tags: string[];
  /** Matching tags over all pages. */
  total: number;
  next?: string;
}

/**
 * One page of a repository's tag names in the GUI's orders. Today it lists every tag and sorts them (one stat per
 * tag for `pushed`): the names are cheap, what costs is inspecting each tag's image, which the caller does for the
 * page only. A metadata index can replace this function's body and keep its answers. Undefined: no repository.
 */
export async function pageOfTags(repositories: RepositoryStore, repository: string, query: TagPageQuery): Promise<TagPage | undefined> {
  const names = await repositories.listTags(repository);
  if (!names) return undefined;
  const needle = query.filter?.toLowerCase();
  const matching = needle ? names.filter((name) => name.toLowerCase().includes(needle)) : names;
  const times = new Map<string, number>();
  if (query.sort === 'pushed') {
    // One stat per tag, a few at a time: they are independent, and there may be 10,000.
    for (let start = 0; start < matching.length; start += 16) {
      const slice = matching.slice(start, start + 16);
      const stamps = await Promise.all(slice.map((name) => repositories.pushedAt(repository, name)));
      slice.forEach((name, index) => times.set(name, stamps[index]?.getTime() ?? 0));
    }
  }
  const compare = tagComparator(query.sort, (tag) => times.get(tag) ?? 0);
  const sorted = [...matching].sort(compare);
  let start = 0;
  if (query.last !== undefined) {
    const last = query.last;
    const at = sorted.indexOf(last);
    // Gone since the previous page: continue where it would sort (a push time it no longer has: from the top).
    start = at !== -1 ? at + 1 : query.sort === 'pushed' ? 0 : countBefore(sorted, (name) => compare(name, last) < 0);
  }
  const end = query.n === undefined ? sorted.length : Math.min(sorted.length, start + query.n);
  const tags = sorted.slice(start, end);
  const page: TagPage = { tags, total: sorted.length };
  if (end < sorted.length && tags.length > 0) page.next = tags[tags.length - 1];
  return page;
}

/** How many leading entries of a sorted array satisfy `before` (binary search). */
function countBefore(sorted: readonly string[], before: (name: string) => boolean): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const mid = (low + high) >> 1;
    if (before(sorted[mid] as string)) low = mid + 1;
    else high = mid;
  }
  return low;
}
