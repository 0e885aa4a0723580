import { Router, type Request } from 'express';
import { forEachConcurrently } from '../../core/concurrent.js';
import { isDigest, parseDigest } from '../../core/digest.js';
import { isRepositoryName, isTag, namespaceOf } from '../../core/names.js';
import { AdminError, badRequest } from '../admin-error.js';
import {
  adminRoutes,
  tagSorts,
  type DeleteManifestResponse,
  type DeleteRepositoryResponse,
  type RepositoriesResponse,
  type RepositorySummary,
  type TagSort,
  type TagSummary,
  type TagsResponse,
  type UntaggedResponse,
} from '../contract.js';
import type { AdminContext } from '../deps.js';
import type { ImageInspector } from '../image-inspect.js';
import { auditChange, clientOf, queryInteger, queryParam } from '../request-helpers.js';
import { pageOfTags } from '../tag-pages.js';

function repositoryParam(req: Request): string {
  const repository = queryParam(req, 'repository');
  if (!repository) throw badRequest('the query parameter "repository" is required, e.g. ?repository=team/app');
  if (!isRepositoryName(repository)) throw badRequest(`invalid repository name "${repository.slice(0, 120)}"`);
  return repository;
}

function referenceParam(req: Request): string {
  const reference = queryParam(req, 'reference');
  if (!reference) throw badRequest('the query parameter "reference" (a tag or a digest) is required');
  if (!isTag(reference) && !isDigest(reference)) throw badRequest(`"${reference.slice(0, 120)}" is neither a tag nor a digest`);
  return reference;
}

function sortParam(req: Request): TagSort {
  const sort = queryParam(req, 'sort') ?? 'version';
  if (!(tagSorts as readonly string[]).includes(sort)) throw badRequest(`"sort" must be one of ${tagSorts.join(', ')}`);
  return sort as TagSort;
}

/**
 * Tag summaries read at once by one tag listing: each waits mostly on the thread pool (4 threads), so a few more
 * than the pool keeps it busy; a 10,000-tag listing without `n` is otherwise 10,000 reads in a row.
 */
const summaryConcurrency = 8;

const repositoryNotFound = (repository: string) => new AdminError('BERTH_REPOSITORY_NOT_FOUND', 404, `no repository "${repository.slice(0, 120)}"`);
const manifestNotFound = (repository: string, reference: string) =>
  new AdminError('BERTH_MANIFEST_NOT_FOUND', 404, `no manifest "${reference.slice(0, 120)}" in ${repository.slice(0, 120)}`);

/**
 * Browsing and deleting content, straight from the registry's stores. Deletions emit the same registry events as
 * a DELETE over /v2 (actor `admin`), so the audit trail, metrics and live views treat both alike.
 */
export function repositoryRoutes(ctx: AdminContext, inspector: ImageInspector): Router {
  const router = Router();

  router.get(adminRoutes.repositories, async (req, res) => {
    const namespace = queryParam(req, 'namespace');
    const q = queryParam(req, 'q')?.toLowerCase();
    // An upstream's name is its pull-through namespace (see CreateUpstreamRequest): what lives there is mirrored.
    const upstreams = new Set(ctx.state.read().upstreams.map((upstream) => upstream.name));
    const repositories: RepositorySummary[] = [];
    // From the index in one query once it is built. Until then, and for a repository without tags (whose last push
    // is a manifest's, which the index does not date), each repository's manifests are read.
    const usages = await ctx.registry.repositories.usages();
    for (const name of await ctx.registry.repositories.listRepositories()) {
      if (namespace !== undefined && namespaceOf(name) !== namespace) continue;
      if (q !== undefined && !name.toLowerCase().includes(q)) continue;
      let indexed = usages?.get(name);
      if (indexed?.tags === 0) indexed = undefined;
      const facts = indexed ? { size: indexed.bytes, lastPushedAt: indexed.lastTagPushedAt } : await inspector.repositoryFacts(name);
      // Deleted between the walk and the read: it is gone, leave it out.
      if (!facts) continue;
      const usage = await ctx.registry.pulls.repositoryUsage(name);
      const summary: RepositorySummary = {
        name,
        namespace: namespaceOf(name),
        tagCount: indexed ? indexed.tags : await ctx.registry.repositories.countTags(name),
        size: facts.size,
        source: 'pushed',
        pullsLast7Days: usage.pullsLast7Days,
        pullCount: usage.pullCount,
      };
      if (facts.lastPushedAt) summary.lastPushedAt = facts.lastPushedAt.toISOString();
      if (usage.lastPulledAt) summary.lastPulledAt = usage.lastPulledAt.toISOString();
      if (upstreams.has(summary.namespace)) {
        summary.source = 'mirror';
        summary.upstream = summary.namespace;
      }
      repositories.push(summary);
    }
    const body: RepositoriesResponse = { repositories };
    res.json(body);
  });

  router.get(adminRoutes.tags, async (req, res) => {
    const repository = repositoryParam(req);
    const n = queryParam(req, 'n') === undefined ? undefined : queryInteger(req, 'n', 100, 1, 1000);
    const page = await pageOfTags(ctx.registry.repositories, repository, {
      n,
      last: queryParam(req, 'last'),
      filter: queryParam(req, 'filter'),
      sort: sortParam(req),
    });
    if (!page) throw repositoryNotFound(repository);
    // Each summary is a few reads (link, manifest, config, usage), mostly in the thread pool: several at once, in
    // the page's order. A tag deleted between the listing and the read just drops out of the answer.
    const summaries: Array<TagSummary | undefined> = new Array(page.tags.length);
    await forEachConcurrently(page.tags.keys(), summaryConcurrency, async (index) => {
      summaries[index] = await inspector.summary(repository, page.tags[index] as string);
    });
    const tags = summaries.filter((summary): summary is TagSummary => summary !== undefined);
    const body: TagsResponse = { repository, tags, total: page.total };
    if (page.next !== undefined) body.next = page.next;
    res.json(body);
  });

  router.delete(adminRoutes.repositories, async (req, res) => {
    const repository = repositoryParam(req);
    const moved = await ctx.registry.trash.moveRepository(repository, { actor: 'admin' });
    if (!moved) throw repositoryNotFound(repository);
    const { entry, ...deleted } = moved;
    await ctx.registry.pulls.forget(repository);
    await auditChange(ctx, req, { action: 'repository.delete', namespace: namespaceOf(repository), repository, detail: { ...deleted, trashEntry: entry.id } });
    ctx.hub.publish({ type: 'repository.deleted', repository, actor: 'admin' });
    const body: DeleteRepositoryResponse = { repository, ...deleted, trashEntry: entry.id, expiresAt: entry.expiresAt };
    res.json(body);
  });

  router.get(adminRoutes.untagged, async (req, res) => {
    const repository = repositoryParam(req);
    const manifests = await inspector.untagged(repository);
    if (!manifests) throw repositoryNotFound(repository);
    const body: UntaggedResponse = { repository, manifests };
    res.json(body);
  });

  router.get(adminRoutes.manifests, async (req, res) => {
    const repository = repositoryParam(req);
    const reference = referenceParam(req);
    const detail = await inspector.detail(repository, reference);
    if (!detail) throw manifestNotFound(repository, reference);
    res.json(detail);
  });

  router.delete(adminRoutes.manifests, async (req, res) => {
    const repository = repositoryParam(req);
    const reference = referenceParam(req);
    const client = clientOf(req);
    const by = { actor: 'admin' };
    const deleted: DeleteManifestResponse['deleted'] = isDigest(reference) ? 'manifest' : 'tag';
    const entry = deleted === 'manifest' ? await ctx.registry.trash.moveManifest(repository, parseDigest(reference).digest, by) : await ctx.registry.trash.moveTag(repository, reference, by);
    if (!entry) throw manifestNotFound(repository, reference);
    if (deleted === 'manifest') ctx.registry.events.emit('manifest.deleted', { repository, digest: reference, actor: 'admin', client, trashEntry: entry.id });
    else ctx.registry.events.emit('tag.deleted', { repository, tag: reference, actor: 'admin', client, trashEntry: entry.id });
    const body: DeleteManifestResponse = { deleted, repository, reference, trashEntry: entry.id, expiresAt: entry.expiresAt };
    res.json(body);
  });
  return router;
}
