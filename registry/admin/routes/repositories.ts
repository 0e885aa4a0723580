import { Router, type Request } from 'express';
import { isDigest, parseDigest } from '../../core/digest.js';
import { isRepositoryName, isTag, namespaceOf } from '../../core/names.js';
import { AdminError, badRequest } from '../admin-error.js';
import {
  adminRoutes,
  type DeleteManifestResponse,
  type RepositoriesResponse,
  type RepositorySummary,
  type TagSummary,
  type TagsResponse,
} from '../contract.js';
import type { AdminContext } from '../deps.js';
import type { ImageInspector } from '../image-inspect.js';
import { clientOf, queryInteger, queryParam } from '../request-helpers.js';

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

function tagsPage(req: Request): { n?: number; last?: string; offset: number } {
  const last = queryParam(req, 'last');
  if (last !== undefined && !isTag(last)) throw badRequest(`"last" must be a tag, not "${last.slice(0, 120)}"`);
  const n = queryParam(req, 'n') === undefined ? undefined : queryInteger(req, 'n', 100, 1, 1000);
  return { n, last, offset: queryInteger(req, 'offset', 0, 0, 1_000_000) };
}

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
    const repositories: RepositorySummary[] = [];
    for (const name of await ctx.registry.repositories.listRepositories()) {
      if (namespace !== undefined && namespaceOf(name) !== namespace) continue;
      if (q !== undefined && !name.toLowerCase().includes(q)) continue;
      repositories.push({ name, namespace: namespaceOf(name), tagCount: await ctx.registry.repositories.countTags(name) });
    }
    const body: RepositoriesResponse = { repositories };
    res.json(body);
  });

  router.get(adminRoutes.tags, async (req, res) => {
    const repository = repositoryParam(req);
    const { n, last, offset } = tagsPage(req);
    // One more than asked says whether a next page exists.
    const entries = await ctx.registry.repositories.tagPage(repository, { last, offset, limit: n === undefined ? undefined : n + 1 });
    if (!entries) throw repositoryNotFound(repository);
    const shown = n === undefined ? entries : entries.slice(0, n);
    const tags: TagSummary[] = [];
    for (const entry of shown) {
      // By the digest the listing read: a tag moved or deleted since shows what it held, or drops out.
      const summary = await inspector.summary(repository, entry.tag, entry.digest);
      if (summary) tags.push({ ...summary, pushedAt: entry.pushedAt.toISOString() });
    }
    const body: TagsResponse = { repository, tags, total: await ctx.registry.repositories.countTags(repository) };
    const lastShown = shown[shown.length - 1];
    if (n !== undefined && entries.length > n && lastShown) body.next = lastShown.tag;
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
    let deleted: DeleteManifestResponse['deleted'];
    if (isDigest(reference)) {
      if (!(await ctx.registry.repositories.deleteManifest(repository, parseDigest(reference)))) throw manifestNotFound(repository, reference);
      ctx.registry.events.emit('manifest.deleted', { repository, digest: reference, actor: 'admin', client });
      deleted = 'manifest';
    } else {
      if (!(await ctx.registry.repositories.deleteTag(repository, reference))) throw manifestNotFound(repository, reference);
      ctx.registry.events.emit('tag.deleted', { repository, tag: reference, actor: 'admin', client });
      deleted = 'tag';
    }
    const body: DeleteManifestResponse = { deleted, repository, reference };
    res.json(body);
  });
  return router;
}
