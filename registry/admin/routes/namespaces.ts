import { Router, type Request } from 'express';
import { isRepositoryName, namespaceOf } from '../../core/names.js';
import type { NamespaceRecord } from '../../state/index.js';
import { AdminError, badRequest } from '../admin-error.js';
import { adminRoutes, type Namespace, type NamespacesResponse } from '../contract.js';
import type { AdminContext } from '../deps.js';
import { auditChange, bodyOf, optionalBoolean, paramOf, requiredString } from '../request-helpers.js';

/** A namespace is one path component of the repository grammar: `team`, `my-org`, never `a/b`. */
function checkName(name: string): string {
  if (name.includes('/') || !isRepositoryName(name)) {
    throw badRequest(`invalid namespace "${name.slice(0, 80)}"`, 'one lowercase name component such as team or my-org (a-z 0-9 . _ -)');
  }
  return name;
}

const notFound = (name: string) => new AdminError('BERTH_NAMESPACE_NOT_FOUND', 404, `no namespace "${name.slice(0, 80)}"`);

/** Namespace settings (state), as `berth namespace` manages them. Deleting one keeps its images. */
export function namespaceRoutes(ctx: AdminContext): Router {
  const router = Router();
  const item = `${adminRoutes.namespaces}/:name`;

  async function repositoryCounts(): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    for (const repository of await ctx.registry.repositories.listRepositories()) {
      const namespace = namespaceOf(repository);
      counts.set(namespace, (counts.get(namespace) ?? 0) + 1);
    }
    return counts;
  }

  const view = (record: NamespaceRecord, counts: Map<string, number>): Namespace => ({
    name: record.name,
    anonymousPull: record.anonymousPull,
    createdAt: record.createdAt,
    repositories: counts.get(record.name) ?? 0,
  });

  router.get(adminRoutes.namespaces, async (_req, res) => {
    const counts = await repositoryCounts();
    const namespaces = [...ctx.state.read().namespaces].sort((a, b) => a.name.localeCompare(b.name)).map((ns) => view(ns, counts));
    const body: NamespacesResponse = { namespaces };
    res.json(body);
  });

  router.post(adminRoutes.namespaces, async (req: Request, res) => {
    const body = bodyOf(req);
    const name = checkName(requiredString(body, 'name'));
    const record: NamespaceRecord = { name, anonymousPull: optionalBoolean(body, 'anonymousPull') ?? false, createdAt: new Date().toISOString() };
    await ctx.state.update((draft) => {
      if (draft.namespaces.some((ns) => ns.name === name)) {
        throw new AdminError('BERTH_NAMESPACE_EXISTS', 409, `namespace "${name}" already exists`, 'change it with PATCH instead');
      }
      draft.namespaces.push(record);
    });
    await auditChange(ctx, req, { action: 'namespace.create', namespace: name, detail: { anonymousPull: record.anonymousPull } });
    ctx.hub.publish({ type: 'namespace.created', name });
    res.status(201).json(view(record, await repositoryCounts()));
  });

  router.patch(item, async (req: Request, res) => {
    const name = paramOf(req, 'name');
    const anonymousPull = optionalBoolean(bodyOf(req), 'anonymousPull');
    let updated: NamespaceRecord | undefined;
    let before: boolean | undefined;
    await ctx.state.update((draft) => {
      const record = draft.namespaces.find((ns) => ns.name === name);
      if (!record) throw notFound(name);
      before = record.anonymousPull;
      if (anonymousPull !== undefined) record.anonymousPull = anonymousPull;
      updated = { ...record };
    });
    if (!updated) throw notFound(name);
    if (before !== updated.anonymousPull) {
      await auditChange(ctx, req, { action: 'namespace.update', namespace: name, detail: { anonymousPull: updated.anonymousPull, was: before } });
      ctx.hub.publish({ type: 'namespace.updated', name });
    }
    res.json(view(updated, await repositoryCounts()));
  });

  router.delete(item, async (req: Request, res) => {
    const name = paramOf(req, 'name');
    let removed: NamespaceRecord | undefined;
    await ctx.state.update((draft) => {
      const index = draft.namespaces.findIndex((ns) => ns.name === name);
      if (index === -1) throw notFound(name);
      [removed] = draft.namespaces.splice(index, 1);
    });
    await auditChange(ctx, req, { action: 'namespace.delete', namespace: name, detail: { anonymousPull: removed?.anonymousPull ?? false } });
    ctx.hub.publish({ type: 'namespace.deleted', name });
    res.status(204).end();
  });
  return router;
}
