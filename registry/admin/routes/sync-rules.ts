import { Router, type Request } from 'express';
import { SyncRuleError, validateSyncRule } from '../../mirror/sync/sync-rules.js';
import type { SyncRuleRecord } from '../../state/index.js';
import { AdminError, badRequest } from '../admin-error.js';
import { adminRoutes, type JobDetail, type JobsResponse, type JobView, type RunSyncRuleResponse, type SyncRuleTags, type SyncRulesResponse } from '../contract.js';
import type { AdminContext } from '../deps.js';
import {
  auditChange,
  clientOf,
  bodyOf,
  optionalBoolean,
  optionalInteger,
  optionalString,
  optionalStringArray,
  paramOf,
  queryInteger,
  requiredString,
  type JsonObject,
} from '../request-helpers.js';
import { jobDetailView, jobView, syncRuleView } from '../views.js';
import { mirrorUnavailable, upstreamNotFound } from './upstreams.js';

const jobNotFound = (id: string) => new AdminError('BERTH_JOB_NOT_FOUND', 404, `no sync job "${id.slice(0, 80)}"`, 'see GET /api/jobs for the job history');
const ruleNotFound = (name: string) => new AdminError('BERTH_SYNC_RULE_NOT_FOUND', 404, `no sync rule "${name.slice(0, 80)}"`);

function parseTags(value: unknown): SyncRuleTags {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw badRequest('"tags" must be an object: {include?, exclude?, semver?, newest?}');
  const body = value as JsonObject;
  const tags: SyncRuleTags = {};
  const include = optionalString(body, 'include');
  const exclude = optionalString(body, 'exclude');
  const semver = optionalString(body, 'semver')?.trim();
  const newest = optionalInteger(body, 'newest', 1, 10_000);
  if (include) tags.include = include;
  if (exclude) tags.exclude = exclude;
  if (semver) tags.semver = semver;
  if (newest !== undefined) tags.newest = newest;
  return tags;
}

/** Applies the body's fields to a rule (create and update share it); validateSyncRule then checks the whole. */
function applyFields(record: SyncRuleRecord, body: JsonObject): void {
  const upstream = optionalString(body, 'upstream');
  if (upstream !== undefined) record.upstream = upstream;
  const repositories = optionalStringArray(body, 'repositories');
  if (repositories !== undefined) record.repositories = repositories;
  if (body.tags !== undefined) record.tags = parseTags(body.tags);
  const platforms = optionalStringArray(body, 'platforms');
  if (platforms !== undefined) record.platforms = platforms;
  const into = optionalString(body, 'into');
  if (into !== undefined) record.into = into;
  if (body.everySeconds === null) record.everySeconds = null;
  else {
    const every = optionalInteger(body, 'everySeconds', 0);
    if (every !== undefined) record.everySeconds = every;
  }
  const paused = optionalBoolean(body, 'paused');
  if (paused !== undefined) record.paused = paused;
}

/** The shared validation, answered in the admin API's terms. */
function checkRule(record: SyncRuleRecord, upstreams: readonly { name: string }[]): void {
  try {
    validateSyncRule(record, upstreams);
  } catch (error) {
    if (!(error instanceof SyncRuleError)) throw error;
    throw error.code === 'BERTH_UPSTREAM_NOT_FOUND' ? upstreamNotFound(record.upstream) : badRequest(error.message);
  }
}

/** Scheduled mirroring rules (state), running one now, and the job history. */
export function syncRuleRoutes(ctx: AdminContext): Router {
  const router = Router();
  const item = `${adminRoutes.syncRules}/:name`;
  const changed = async () => {
    await ctx.mirror?.reload?.();
  };

  router.get(adminRoutes.syncRules, (_req, res) => {
    const { syncRules, settings } = ctx.state.read();
    const body: SyncRulesResponse = { syncRules: syncRules.map((rule) => syncRuleView(rule, settings.mirrorPaused === true)) };
    res.json(body);
  });

  router.post(adminRoutes.syncRules, async (req: Request, res) => {
    const body = bodyOf(req);
    const name = requiredString(body, 'name');
    const upstream = requiredString(body, 'upstream');
    const record: SyncRuleRecord = {
      name,
      upstream,
      repositories: [],
      tags: {},
      platforms: [],
      into: upstream,
      everySeconds: null,
      paused: false,
      createdAt: new Date().toISOString(),
      lastRunAt: null,
    };
    if (optionalStringArray(body, 'repositories') === undefined) throw badRequest('"repositories" is required, e.g. ["library/redis"]');
    applyFields(record, body);
    await ctx.state.update((draft) => {
      checkRule(record, draft.upstreams);
      if (draft.syncRules.some((rule) => rule.name === name)) {
        throw new AdminError('BERTH_SYNC_RULE_EXISTS', 409, `a sync rule named "${name}" already exists`, 'change it with PATCH instead');
      }
      draft.syncRules.push(record);
    });
    await auditChange(ctx, req, { action: 'sync.rule.create', namespace: record.into, detail: { name, upstream: record.upstream } });
    ctx.hub.publish({ type: 'syncRule.created', name });
    await changed();
    res.status(201).json(syncRuleView(record, ctx.state.read().settings.mirrorPaused === true));
  });

  router.patch(item, async (req: Request, res) => {
    const name = paramOf(req, 'name');
    const body = bodyOf(req);
    if (body.name !== undefined && body.name !== name) throw badRequest('a sync rule cannot be renamed: create a new one and delete this one');
    let updated: SyncRuleRecord | undefined;
    await ctx.state.update((draft) => {
      const record = draft.syncRules.find((rule) => rule.name === name);
      if (!record) throw ruleNotFound(name);
      applyFields(record, body);
      checkRule(record, draft.upstreams);
      updated = structuredClone(record);
    });
    if (!updated) throw ruleNotFound(name);
    await auditChange(ctx, req, { action: 'sync.rule.update', namespace: updated.into, detail: { name, fields: Object.keys(body) } });
    ctx.hub.publish({ type: 'syncRule.updated', name });
    await changed();
    res.json(syncRuleView(updated, ctx.state.read().settings.mirrorPaused === true));
  });

  router.delete(item, async (req: Request, res) => {
    const name = paramOf(req, 'name');
    await ctx.state.update((draft) => {
      const index = draft.syncRules.findIndex((rule) => rule.name === name);
      if (index === -1) throw ruleNotFound(name);
      draft.syncRules.splice(index, 1);
    });
    await auditChange(ctx, req, { action: 'sync.rule.delete', detail: { name } });
    ctx.hub.publish({ type: 'syncRule.deleted', name });
    await changed();
    res.status(204).end();
  });

  router.post(`${item}/run`, async (req: Request, res) => {
    const name = paramOf(req, 'name');
    if (!ctx.state.read().syncRules.some((rule) => rule.name === name)) throw ruleNotFound(name);
    if (!ctx.mirror) throw mirrorUnavailable();
    // Audited by the scheduler when the run ends, with its outcome: queueing it is not yet a success.
    const { jobId } = await ctx.mirror.runSyncRule(name, { actor: 'admin', client: clientOf(req) });
    const body: RunSyncRuleResponse = { jobId };
    res.status(202).json(body);
  });

  router.get(adminRoutes.jobs, (req, res) => {
    const limit = queryInteger(req, 'limit', 50, 1, 500);
    const jobs = [...ctx.state.read().jobs].sort((a, b) => (a.queuedAt < b.queuedAt ? 1 : a.queuedAt > b.queuedAt ? -1 : 0)).slice(0, limit);
    const body: JobsResponse = { jobs: jobs.map(jobView) };
    res.json(body);
  });

  const job = `${adminRoutes.jobs}/:id`;
  router.get(job, (req, res) => {
    const id = paramOf(req, 'id');
    const live = ctx.mirror?.job?.(id);
    const saved = ctx.state.read().jobs.find((record) => record.id === id);
    if (!live && !saved) throw jobNotFound(id);
    const body: JobDetail = live ?? jobDetailView(saved as NonNullable<typeof saved>);
    res.json(body);
  });

  router.post(`${job}/cancel`, async (req: Request, res) => {
    const id = paramOf(req, 'id');
    if (!ctx.mirror?.cancelJob) throw mirrorUnavailable();
    // Audited by the scheduler as the run's outcome (sync.run, status cancelled).
    const body: JobView = await ctx.mirror.cancelJob(id, { actor: 'admin', client: clientOf(req) });
    res.json(body);
  });

  router.post(`${job}/retry`, async (req: Request, res) => {
    const id = paramOf(req, 'id');
    if (!ctx.mirror?.retryJob) throw mirrorUnavailable();
    const body: RunSyncRuleResponse = await ctx.mirror.retryJob(id, { actor: 'admin', client: clientOf(req) });
    res.status(202).json(body);
  });
  return router;
}
