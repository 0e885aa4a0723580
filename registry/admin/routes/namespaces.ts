import { Router, type Request } from 'express';
import { isRepositoryName, namespaceOf } from '../../core/names.js';
import type { NamespaceRecord } from '../../state/index.js';
import { AdminError, badRequest } from '../admin-error.js';
import { lifecycleChecksOf } from '../../lifecycle/content-policy.js';
import { tagPatternsProblem } from '../../lifecycle/immutable-tags.js';
import { namespacePolicy, updatePolicy } from '../../lifecycle/policies.js';
import type { QuotaLimits } from '../../state/index.js';
import { adminRoutes, type Namespace, type NamespacesResponse } from '../contract.js';
import type { AdminContext } from '../deps.js';
import { auditChange, bodyOf, optionalBoolean, optionalStringArray, paramOf, requiredString, type JsonObject } from '../request-helpers.js';

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

  const view = async (record: NamespaceRecord, counts: Map<string, number>): Promise<Namespace> => {
    const policy = namespacePolicy(ctx.state.read(), record.name);
    const { storage } = lifecycleChecksOf(ctx.registry, () => ctx.state.read());
    return {
      name: record.name,
      anonymousPull: record.anonymousPull,
      createdAt: record.createdAt,
      repositories: counts.get(record.name) ?? 0,
      usage: { storageBytes: await storage.usage(record.name), pullBytesThisMonth: await ctx.registry.traffic.monthBytes(record.name) },
      quota: { ...policy?.quota },
      immutableTags: [...(policy?.immutableTags ?? [])],
    };
  };

  /** The namespace's record, or 404: quotas and patterns are set on namespaces that exist. */
  function recordOf(name: string): NamespaceRecord {
    const record = ctx.state.read().namespaces.find((ns) => ns.name === name);
    if (!record) throw notFound(name);
    return record;
  }

  router.get(adminRoutes.namespaces, async (_req, res) => {
    const counts = await repositoryCounts();
    const records = [...ctx.state.read().namespaces].sort((a, b) => a.name.localeCompare(b.name));
    const namespaces: Namespace[] = [];
    for (const record of records) namespaces.push(await view(record, counts));
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
    res.status(201).json(await view(record, await repositoryCounts()));
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
    res.json(await view(updated, await repositoryCounts()));
  });

  router.put(`${item}/quota`, async (req: Request, res) => {
    const name = paramOf(req, 'name');
    const record = recordOf(name);
    const body = bodyOf(req);
    const change: QuotaLimits = { ...namespacePolicy(ctx.state.read(), name)?.quota };
    for (const field of ['storageBytes', 'pullBytesPerMonth'] as const) {
      const value = quotaField(body, field);
      if (value === null) delete change[field];
      else if (value !== undefined) change[field] = value;
    }
    const was = namespacePolicy(ctx.state.read(), name)?.quota ?? {};
    await ctx.state.update((draft) => {
      updatePolicy(draft, name, { quota: Object.keys(change).length > 0 ? change : undefined });
    });
    await auditChange(ctx, req, { action: 'quota.update', namespace: name, detail: { quota: change, was } });
    ctx.hub.publish({ type: 'namespace.updated', name });
    res.json(await view(record, await repositoryCounts()));
  });

  router.put(`${item}/immutable-tags`, async (req: Request, res) => {
    const name = paramOf(req, 'name');
    const record = recordOf(name);
    const patterns = optionalStringArray(bodyOf(req), 'patterns');
    if (patterns === undefined) throw badRequest('"patterns" is required: an array of tag patterns such as ["v*", "release-*"], or [] for none');
    const problem = tagPatternsProblem(patterns);
    if (problem) throw badRequest(problem);
    const unique = [...new Set(patterns)];
    const was = namespacePolicy(ctx.state.read(), name)?.immutableTags ?? [];
    await ctx.state.update((draft) => {
      updatePolicy(draft, name, { immutableTags: unique.length > 0 ? unique : undefined });
    });
    await auditChange(ctx, req, { action: 'immutable.update', namespace: name, detail: { patterns: unique, was } });
    ctx.hub.publish({ type: 'namespace.updated', name });
    res.json(await view(record, await repositoryCounts()));
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

/** A quota field: absent (unchanged), null (no limit) or a whole number of bytes from 1. */
function quotaField(body: JsonObject, field: string): number | null | undefined {
  const value = body[field];
  if (value === undefined || value === null) return value;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw badRequest(`"${field}" must be a whole number of bytes from 1, or null for no limit`);
  }
  return value;
}
