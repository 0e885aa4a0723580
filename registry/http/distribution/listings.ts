import { parseDigest } from '../../core/digest.js';
import { RegistryError } from '../../core/errors.js';
import { mediaTypes } from '../../core/manifest.js';
import { sendJson, type DistributionDeps, type RequestContext } from './context.js';

/** Content discovery: tag lists, the catalog and the referrers API. */
export function createListingHandlers({ repositories, mirror }: DistributionDeps) {
  async function tags(ctx: RequestContext, name: string): Promise<void> {
    const all = mirror?.isMirrored(name) ? await mirror.tags(name) : await repositories.listTags(name);
    if (!all) throw new RegistryError('NAME_UNKNOWN', `repository unknown: ${name}`, { detail: { name } });
    const page = paginate(all, ctx.query);
    const link = page.next ? { Link: `</v2/${name}/tags/list?${nextQuery(page.n, page.next)}>; rel="next"` } : {};
    sendJson(ctx.res, 200, { name, tags: page.items }, link);
  }

  async function catalog(ctx: RequestContext): Promise<void> {
    const visible = (await repositories.listRepositories()).filter((name) => ctx.caller.can(name, 'pull'));
    const page = paginate(visible, ctx.query);
    const link = page.next ? { Link: `</v2/_catalog?${nextQuery(page.n, page.next)}>; rel="next"` } : {};
    sendJson(ctx.res, 200, { repositories: page.items }, link);
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

/** `n` and `last` pagination over a lexically sorted list. */
function paginate(sorted: string[], query: URLSearchParams): { items: string[]; n: number; next?: string } {
  const rawN = query.get('n');
  const last = query.get('last');
  let n = sorted.length;
  if (rawN !== null) {
    if (!/^\d{1,9}$/.test(rawN)) throw new RegistryError('PAGINATION_NUMBER_INVALID', `n must be a non-negative integer: ${rawN.slice(0, 20)}`);
    n = Number(rawN);
  }
  const after = last === null ? sorted : sorted.filter((item) => item > last);
  const items = after.slice(0, n);
  const more = rawN !== null && after.length > n && items.length > 0;
  return more ? { items, n, next: items[items.length - 1] as string } : { items, n };
}

function nextQuery(n: number, last: string): string {
  return new URLSearchParams({ n: String(n), last }).toString();
}
