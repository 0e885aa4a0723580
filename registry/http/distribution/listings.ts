import { parseDigest } from '../../core/digest.js';
import { RegistryError } from '../../core/errors.js';
import { mediaTypes } from '../../core/manifest.js';
import { sendJson, type DistributionDeps, type RequestContext } from './context.js';

/** Content discovery: tag lists, the catalog and the referrers API. */
export function createListingHandlers({ repositories, mirror }: DistributionDeps) {
  async function tags(ctx: RequestContext, name: string): Promise<void> {
    const { n, last } = pageParams(ctx.query);
    let page: Page | undefined;
    if (mirror?.isMirrored(name)) {
      const all = await mirror.tags(name);
      if (all) page = paginate(all, n, last);
    } else {
      // One more than asked tells whether a next page exists: one indexed query per page.
      const names = await repositories.listTags(name, { last, limit: n === undefined ? undefined : n + 1 });
      if (names) page = pageFrom(names, n);
    }
    if (!page) throw new RegistryError('NAME_UNKNOWN', `repository unknown: ${name}`, { detail: { name } });
    const link = page.next ? { Link: `</v2/${name}/tags/list?${nextQuery(page.n, page.next)}>; rel="next"` } : {};
    sendJson(ctx.res, 200, { name, tags: page.items }, link);
  }

  async function catalog(ctx: RequestContext): Promise<void> {
    const { n, last } = pageParams(ctx.query);
    const visible = await visibleRepositories(ctx, n === undefined ? undefined : n + 1, last);
    const page = pageFrom(visible, n);
    const link = page.next ? { Link: `</v2/_catalog?${nextQuery(page.n, page.next)}>; rel="next"` } : {};
    sendJson(ctx.res, 200, { repositories: page.items }, link);
  }

  /**
   * Up to `wanted` repositories after `last` that the caller may pull, read in chunks so a page costs what it shows
   * plus what the caller may not see, never the whole store.
   */
  async function visibleRepositories(ctx: RequestContext, wanted: number | undefined, last: string | undefined): Promise<string[]> {
    if (wanted === undefined) return (await repositories.repositoryPage({ last })).filter((name) => ctx.caller.can(name, 'pull'));
    const visible: string[] = [];
    let cursor = last;
    while (visible.length < wanted) {
      const chunk = await repositories.repositoryPage({ last: cursor, limit: Math.max(wanted, catalogChunk) });
      for (const name of chunk) {
        if (visible.length < wanted && ctx.caller.can(name, 'pull')) visible.push(name);
      }
      if (chunk.length < Math.max(wanted, catalogChunk)) break;
      cursor = chunk[chunk.length - 1];
    }
    return visible;
  }

  async function referrers(ctx: RequestContext, name: string, rawDigest: string): Promise<void> {
    const subject = parseDigest(rawDigest);
    const artifactType = ctx.query.get('artifactType');
    let manifests = await repositories.referrers(name, subject);
    if (artifactType) manifests = manifests.filter((descriptor) => descriptor.artifactType === artifactType);
    sendJson(ctx.res, 200, { schemaVersion: 2, mediaType: mediaTypes.ociIndex, manifests }, {
      'Content-Type': mediaTypes.ociIndex,
      ...(artifactType ? { 'OCI-Filters-Applied': 'artifactType' } : {}),
    });
  }

  return { tags, catalog, referrers };
}

/** Repositories read per query while filling a catalog page with those the caller may see. */
const catalogChunk = 256;

interface Page {
  items: string[];
  n: number;
  next?: string;
}

/** `n` (a non-negative integer, all when absent) and `last` (exclusive) of a listing request. */
function pageParams(query: URLSearchParams): { n?: number; last?: string } {
  const rawN = query.get('n');
  const last = query.get('last') ?? undefined;
  if (rawN === null) return { last };
  if (!/^\d{1,9}$/.test(rawN)) throw new RegistryError('PAGINATION_NUMBER_INVALID', `n must be a non-negative integer: ${rawN.slice(0, 20)}`);
  return { n: Number(rawN), last };
}

/** A page from up to n + 1 items that follow `last`: the extra one only says that a next page exists. */
function pageFrom(following: string[], n: number | undefined): Page {
  if (n === undefined) return { items: following, n: following.length };
  const items = following.slice(0, n);
  const more = following.length > n && items.length > 0;
  return more ? { items, n, next: items[items.length - 1] as string } : { items, n };
}

/** `n` and `last` pagination over a lexically sorted list held in memory (a mirror's upstream tag list). */
function paginate(sorted: string[], n: number | undefined, last: string | undefined): Page {
  const after = last === undefined ? sorted : sorted.filter((item) => item > last);
  return pageFrom(n === undefined ? after : after.slice(0, n + 1), n);
}

function nextQuery(n: number, last: string): string {
  return new URLSearchParams({ n: String(n), last }).toString();
}
