import { Router, type Request } from 'express';
import { isRepositoryName } from '../../core/names.js';
import { defaultTrashDays, namespacePolicy } from '../../lifecycle/policies.js';
import { setTrashDays, maxTrashDays } from '../../lifecycle/trash-days.js';
import { isTrashEntryId, type TrashEntry } from '../../lifecycle/trash-store.js';
import { AdminError, badRequest } from '../admin-error.js';
import {
  adminRoutes,
  type EmptyTrashResponse,
  type RestoreTrashResponse,
  type TrashDaysRequest,
  type TrashDaysResponse,
  type TrashEntryView,
  type TrashResponse,
} from '../contract.js';
import type { AdminContext } from '../deps.js';
import { auditChange, bodyOf, optionalBoolean, optionalInteger, optionalString, paramOf, queryParam, requiredString } from '../request-helpers.js';

function namespaceParam(req: Request): string | undefined {
  const namespace = queryParam(req, 'namespace');
  if (namespace !== undefined && (namespace.includes('/') || !isRepositoryName(namespace))) {
    throw badRequest(`invalid namespace "${namespace.slice(0, 80)}"`, 'one name component such as team');
  }
  return namespace;
}

export function trashEntryView(entry: TrashEntry, now = Date.now()): TrashEntryView {
  return { ...entry, expired: Date.parse(entry.expiresAt) <= now };
}

/** The trash: list, restore, empty, and each namespace's trash days (lifecycle/trash.ts does the work). */
export function trashRoutes(ctx: AdminContext): Router {
  const router = Router();

  router.get(adminRoutes.trash, async (req, res) => {
    const entries = await ctx.registry.trash.list({ namespace: namespaceParam(req) });
    const body: TrashResponse = { entries: entries.map((entry) => trashEntryView(entry)) };
    res.json(body);
  });

  router.post(`${adminRoutes.trash}/:id/restore`, async (req, res) => {
    const id = paramOf(req, 'id');
    if (!isTrashEntryId(id)) throw new AdminError('BERTH_TRASH_ENTRY_NOT_FOUND', 404, `no trash entry "${id.slice(0, 40)}"`);
    const request = bodyOf(req);
    const as = optionalString(request, 'as');
    const force = optionalBoolean(request, 'force') ?? false;
    const result = await ctx.registry.trash.restore(id, { ...(as !== undefined ? { as } : {}), force });
    const { entry } = result;
    await auditChange(ctx, req, {
      action: 'trash.restore',
      namespace: entry.namespace,
      repository: entry.repository,
      ...(entry.deleted.kind === 'manifest' ? { digest: entry.deleted.digest } : {}),
      detail: { trashEntry: entry.id, tags: result.tags, manifestsRestored: result.manifestsRestored, force },
    });
    const body: RestoreTrashResponse = { id: entry.id, repository: entry.repository, tags: result.tags, manifestsRestored: result.manifestsRestored };
    res.json(body);
  });

  router.delete(adminRoutes.trash, async (req, res) => {
    const namespace = namespaceParam(req);
    const expiredOnly = queryParam(req, 'expiredOnly') === 'true';
    const removed = await ctx.registry.trash.empty({ ...(namespace !== undefined ? { namespace } : {}), expiredOnly });
    if (removed.length > 0) {
      await auditChange(ctx, req, { action: 'trash.empty', ...(namespace !== undefined ? { namespace } : {}), detail: { removed: removed.length, expiredOnly, entries: removed.slice(0, 100).map((entry) => entry.id) } });
    }
    const body: EmptyTrashResponse = { removed: removed.length };
    res.json(body);
  });

  router.get(adminRoutes.trashDays, (_req, res) => {
    const state = ctx.state.read();
    // Every namespace there is a setting for: those recorded (first push, berth namespace create), the mirrors', and
    // any with a policy of its own.
    const policyScopes = state.policies.map((policy) => policy.scope).filter((scope) => !scope.includes('/'));
    const names = [...new Set([...state.namespaces.map((ns) => ns.name), ...state.upstreams.map((upstream) => upstream.name), ...policyScopes])].sort();
    const body: TrashDaysResponse = {
      defaultDays: defaultTrashDays,
      namespaces: names.map((namespace) => {
        const days = namespacePolicy(state, namespace)?.trashDays;
        return { namespace, days: days ?? defaultTrashDays, isDefault: days === undefined };
      }),
    };
    res.json(body);
  });

  router.put(adminRoutes.trashDays, async (req, res) => {
    const request = bodyOf(req);
    const namespace = requiredString(request, 'namespace');
    const days = optionalInteger(request, 'days', 0, maxTrashDays);
    if (days === undefined) throw badRequest(`"days" is required: a whole number from 0 to ${maxTrashDays}`);
    const { was } = await setTrashDays(ctx.state, namespace, days);
    if (was !== days) await auditChange(ctx, req, { action: 'trash.days', namespace, detail: { days, was } });
    const body: TrashDaysRequest = { namespace, days };
    res.json(body);
  });
  return router;
}
