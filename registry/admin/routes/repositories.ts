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
import { clientOf, queryParam } from '../request-helpers.js';

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
      const tags = await ctx.registry.repositories.listTags(name);
      repositories.push({ name, namespace: namespaceOf(name), tagCount: tags?.length ?? 0 });
    }
    const body: RepositoriesResponse = { repositories };
    res.json(body);
  });

  router.get(adminRoutes.tags, async (req, res) => {
    const repository = repositoryParam(req);
    const names = await ctx.registry.repositories.listTags(repository);
    if (!names) throw repositoryNotFound(repository);
    const tags: TagSummary[] = [];
    for (const tag of names) {
      // A tag deleted between the listing and the read just drops out of the answer.
      const summary = await inspector.summary(repository, tag);
      if (summary) tags.push(summary);
    }
    const body: TagsResponse = { repository, tags };
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
