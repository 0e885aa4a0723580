import { Router } from 'express';
import { namespaceOf } from '../../core/names.js';
import { addPin, checkPinTarget, listPins, removePin } from '../../lifecycle/pins.js';
import { runRetention, type RetentionRunOptions } from '../../lifecycle/retention-run.js';
import { checkScope, mirrorNamespaces, setRetentionRules } from '../../lifecycle/retention-rules.js';
import { effectiveRetentionEveryHours, maxRetentionEveryHours } from '../../lifecycle/retention-schedule.js';
import { AdminError, badRequest } from '../admin-error.js';
import {
  adminRoutes,
  type PinsResponse,
  type PinView,
  type RetentionPolicyView,
  type RetentionResponse,
  type RetentionRunResponse,
} from '../contract.js';
import type { AdminContext } from '../deps.js';
import { auditChange, bodyOf, clientOf, optionalInteger, queryParam, requiredString } from '../request-helpers.js';

/**
 * Retention policies (per namespace or repository), their schedule, "Preview" (a dry run) and "Run now", and pins.
 * A run goes through the server's retention queue when there is one, so it never overlaps the schedule's.
 */
export function retentionRoutes(ctx: AdminContext): Router {
  const router = Router();

  const run = (options: RetentionRunOptions) => {
    const scheduler = ctx.retention?.();
    if (scheduler) return scheduler.run(options);
    return runRetention({ repositories: ctx.registry.repositories, trash: ctx.registry.trash, pulls: ctx.registry.pulls, state: ctx.state, audit: ctx.audit }, options);
  };

  router.get(adminRoutes.retention, (_req, res) => {
    const state = ctx.state.read();
    const policies: RetentionPolicyView[] = state.policies
      .filter((record) => record.retention !== undefined)
      .map((record) => ({ scope: record.scope, retention: { ...record.retention }, updatedAt: record.updatedAt }))
      .sort((a, b) => (a.scope < b.scope ? -1 : 1));
    const body: RetentionResponse = {
      policies,
      everyHours: effectiveRetentionEveryHours(state.settings.retentionEveryHours),
      mirrorNamespaces: [...mirrorNamespaces(state)].sort(),
    };
    const last = ctx.retention?.()?.lastRunAt();
    if (last) body.lastRunAt = last.toISOString();
    res.json(body);
  });

  router.put(adminRoutes.retention, async (req, res) => {
    const body = bodyOf(req);
    const scope = checkScope(requiredString(body, 'scope'));
    let stored: RetentionPolicyView['retention'] | undefined;
    await ctx.state.update((draft) => {
      stored = setRetentionRules(draft, scope, body.retention)?.retention;
    });
    await auditChange(ctx, req, { action: 'retention.set', namespace: namespaceOf(scope), detail: { scope, retention: stored ?? null } });
    res.json({ scope, retention: stored ?? {} });
  });

  router.put(adminRoutes.retentionSchedule, async (req, res) => {
    const everyHours = optionalInteger(bodyOf(req), 'everyHours', 0, maxRetentionEveryHours);
    if (everyHours === undefined) throw badRequest(`"everyHours" is required: hours between scheduled runs, 0 to ${maxRetentionEveryHours} (0 turns them off)`);
    await ctx.state.update((draft) => {
      draft.settings.retentionEveryHours = everyHours;
    });
    await auditChange(ctx, req, { action: 'retention.schedule', detail: { everyHours } });
    res.json({ everyHours });
  });

  router.post(adminRoutes.retentionRun, async (req, res) => {
    const body = bodyOf(req);
    if (typeof body.dryRun !== 'boolean') throw badRequest('"dryRun" must be true (preview) or false (remove)');
    const scope = body.scope === undefined || body.scope === null || body.scope === '' ? undefined : checkScope(requiredString(body, 'scope'));
    const asOf = body.asOf === undefined || body.asOf === null ? undefined : new Date(typeof body.asOf === 'string' ? body.asOf : Number.NaN);
    if (asOf && Number.isNaN(asOf.getTime())) throw badRequest('"asOf" must be an ISO date or time, e.g. 2030-01-31T12:00:00Z');
    const report = await run({ dryRun: body.dryRun, ...(scope !== undefined ? { scope } : {}), ...(asOf ? { now: asOf } : {}), actor: 'admin', client: clientOf(req) });
    const answer: RetentionRunResponse = report;
    res.json(answer);
  });

  router.get(adminRoutes.pins, (req, res) => {
    const repository = queryParam(req, 'repository');
    const pins: PinView[] = listPins(ctx.state.read(), repository);
    const body: PinsResponse = { pins };
    res.json(body);
  });

  router.post(adminRoutes.pins, async (req, res) => {
    const body = bodyOf(req);
    const repository = requiredString(body, 'repository');
    const reference = requiredString(body, 'reference');
    checkPinTarget(repository, reference);
    let result: { pin: PinView; added: boolean } | undefined;
    await ctx.state.update((draft) => {
      result = addPin(draft, repository, reference, 'admin');
    });
    if (!result) throw new Error('the pin was not stored');
    if (result.added) await auditChange(ctx, req, { action: 'pin.add', namespace: namespaceOf(repository), repository, reference });
    res.status(result.added ? 201 : 200).json(result.pin);
  });

  router.delete(adminRoutes.pins, async (req, res) => {
    const repository = queryParam(req, 'repository') ?? '';
    const reference = queryParam(req, 'reference') ?? '';
    checkPinTarget(repository, reference);
    let removed = false;
    await ctx.state.update((draft) => {
      removed = removePin(draft, repository, reference);
    });
    if (!removed) throw new AdminError('BERTH_PIN_NOT_FOUND', 404, `${repository}${reference.includes(':') ? '@' : ':'}${reference} is not pinned`);
    await auditChange(ctx, req, { action: 'pin.remove', namespace: namespaceOf(repository), repository, reference });
    res.json({ repository, reference });
  });

  return router;
}
