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
 * One page of a repository's tag names in the GUI's orders (natural version order is not an order the index keeps,
 * so every name is sorted here: for 10,000 tags a few milliseconds). What costs is inspecting each tag's image,
 * which the caller does for the page only. Undefined: no repository.
 */
export async function pageOfTags(repositories: RepositoryStore, repository: string, query: TagPageQuery): Promise<TagPage | undefined> {
  // Every tag with its push time: one indexed query once the index is built (the files until then).
  const entries = await repositories.tagPage(repository, {});
  if (!entries) return undefined;
  const needle = query.filter?.toLowerCase();
  const matching = (needle ? entries.filter((entry) => entry.tag.toLowerCase().includes(needle)) : entries).map((entry) => entry.tag);
  const times = new Map(entries.map((entry) => [entry.tag, entry.pushedAt.getTime()]));
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
