import { Router, type Request } from 'express';
import { isRepositoryName } from '../../core/names.js';
import { validateUpstream } from '../../mirror/upstream.js';
import type { UpstreamRecord } from '../../state/index.js';
import { AdminError, badRequest } from '../admin-error.js';
import { adminRoutes, type UpstreamTestResponse, type UpstreamsResponse } from '../contract.js';
import type { AdminContext } from '../deps.js';
import {
  auditChange,
  bodyOf,
  nullableString,
  optionalBoolean,
  optionalInteger,
  optionalStringArray,
  paramOf,
  requiredString,
  type JsonObject,
} from '../request-helpers.js';
import { upstreamView } from '../views.js';

export const defaultTagTtlSeconds = 300;
const maxTtlSeconds = 7 * 24 * 60 * 60;

export const upstreamNotFound = (name: string) => new AdminError('BERTH_UPSTREAM_NOT_FOUND', 404, `no upstream "${name.slice(0, 80)}"`);
export const mirrorUnavailable = () =>
  new AdminError(
    'BERTH_MIRROR_UNAVAILABLE',
    503,
    'the mirror service is not running in this Berth process',
    'restart Berth; see its log for why the mirror did not start',
  );

/** The upstream's name is its pull-through namespace (`hub/library/redis`), so it follows the namespace grammar. */
function checkName(name: string): string {
  if (name.includes('/') || !isRepositoryName(name)) {
    throw badRequest(`invalid upstream name "${name.slice(0, 80)}"`, 'one lowercase name component such as hub or ghcr (a-z 0-9 . _ -)');
  }
  return name;
}

/** Applies the mirror module's own rules (URL shape, no credentials over plain HTTP, insecure only on loopback). */
function validate(record: UpstreamRecord): void {
  validateUpstream({
    name: record.name,
    url: record.url,
    aliases: record.aliases,
    username: record.username,
    // Only whether there is one matters here; the sealed text stands in for it.
    password: record.passwordSealed,
    caPem: record.caPem,
    insecure: record.insecure,
  });
  for (const alias of record.aliases) {
    if (!/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:\d{1,5})?$/i.test(alias)) {
      throw badRequest(`invalid alias "${alias.slice(0, 80)}": a host name such as docker.io`);
    }
  }
}

/** Applies the body's fields (create and update share it); `password` is sealed and never kept in clear. */
function applyFields(ctx: AdminContext, record: UpstreamRecord, body: JsonObject): void {
  if (body.url !== undefined) record.url = requiredString(body, 'url').trim().replace(/\/+$/, '');
  const aliases = optionalStringArray(body, 'aliases');
  if (aliases !== undefined) record.aliases = aliases.map((alias) => alias.trim().toLowerCase()).filter(Boolean);
  const isDefault = optionalBoolean(body, 'isDefault');
  if (isDefault !== undefined) record.isDefault = isDefault;
  const insecure = optionalBoolean(body, 'insecure');
  if (insecure !== undefined) record.insecure = insecure;
  const ttl = optionalInteger(body, 'tagTtlSeconds', 0, maxTtlSeconds);
  if (ttl !== undefined) record.tagTtlSeconds = ttl;
  const username = nullableString(body, 'username');
  if (username === null || username === '') delete record.username;
  else if (username !== undefined) record.username = username;
  const password = nullableString(body, 'password');
  if (password === null || password === '') delete record.passwordSealed;
  else if (password !== undefined) record.passwordSealed = ctx.sealSecret(password);
  const caPem = nullableString(body, 'caPem');
  if (caPem === null || caPem === '') delete record.caPem;
  else if (caPem !== undefined) {
    if (!caPem.includes('-----BEGIN CERTIFICATE-----')) throw badRequest('"caPem" must be a PEM certificate (-----BEGIN CERTIFICATE-----)');
    record.caPem = caPem;
  }
}

/** Upstream registries (state), their health, and a connection test through the mirror service. */
export function upstreamRoutes(ctx: AdminContext): Router {
  const router = Router();
  const item = `${adminRoutes.upstreams}/:name`;
  const changed = async () => {
    await ctx.mirror?.reload?.();
  };

  router.get(adminRoutes.upstreams, (_req, res) => {
    const body: UpstreamsResponse = { upstreams: ctx.state.read().upstreams.map((record) => upstreamView(record, ctx.mirror)) };
    res.json(body);
  });

  router.post(adminRoutes.upstreams, async (req: Request, res) => {
    const body = bodyOf(req);
    const name = checkName(requiredString(body, 'name'));
    const record: UpstreamRecord = {
      name,
      url: requiredString(body, 'url'),
      aliases: [],
      isDefault: false,
      insecure: false,
      tagTtlSeconds: defaultTagTtlSeconds,
      createdAt: new Date().toISOString(),
    };
    applyFields(ctx, record, body);
    validate(record);
    await ctx.state.update((draft) => {
      if (draft.upstreams.some((upstream) => upstream.name === name)) {
        throw new AdminError('BERTH_UPSTREAM_EXISTS', 409, `an upstream named "${name}" already exists`, 'change it with PATCH instead');
      }
      // At most one upstream receives requests with no known namespace (Docker's registry-mirrors).
      if (record.isDefault) for (const upstream of draft.upstreams) upstream.isDefault = false;
      draft.upstreams.push(record);
    });
    await auditChange(ctx, req, { action: 'upstream.create', detail: { name, url: record.url } });
    ctx.hub.publish({ type: 'upstream.created', name });
    await changed();
    res.status(201).json(upstreamView(record, ctx.mirror));
  });

  router.patch(item, async (req: Request, res) => {
    const name = paramOf(req, 'name');
    const body = bodyOf(req);
    if (body.name !== undefined && body.name !== name) throw badRequest('an upstream cannot be renamed: create a new one and delete this one');
    let updated: UpstreamRecord | undefined;
    await ctx.state.update((draft) => {
      const record = draft.upstreams.find((upstream) => upstream.name === name);
      if (!record) throw upstreamNotFound(name);
      applyFields(ctx, record, body);
      validate(record);
      if (record.isDefault) for (const upstream of draft.upstreams) if (upstream !== record) upstream.isDefault = false;
      updated = { ...record };
    });
    if (!updated) throw upstreamNotFound(name);
    const fields = Object.keys(body).filter((key) => key !== 'password' && key !== 'name');
    await auditChange(ctx, req, { action: 'upstream.update', detail: { name, fields, passwordChanged: body.password !== undefined } });
    ctx.hub.publish({ type: 'upstream.updated', name });
    await changed();
    res.json(upstreamView(updated, ctx.mirror));
  });

  router.delete(item, async (req: Request, res) => {
    const name = paramOf(req, 'name');
    await ctx.state.update((draft) => {
      const index = draft.upstreams.findIndex((upstream) => upstream.name === name);
      if (index === -1) throw upstreamNotFound(name);
      const users = draft.syncRules.filter((rule) => rule.upstream === name).map((rule) => rule.name);
      if (users.length > 0) {
        const message = `sync rules use upstream "${name}": ${users.slice(0, 10).join(', ')}`;
        throw new AdminError('BERTH_UPSTREAM_IN_USE', 409, message, 'delete those rules first');
      }
      draft.upstreams.splice(index, 1);
    });
    await auditChange(ctx, req, { action: 'upstream.delete', detail: { name } });
    ctx.hub.publish({ type: 'upstream.deleted', name });
    await changed();
    res.status(204).end();
  });

  router.post(`${item}/test`, async (req: Request, res) => {
    const name = paramOf(req, 'name');
    if (!ctx.state.read().upstreams.some((upstream) => upstream.name === name)) throw upstreamNotFound(name);
    if (!ctx.mirror) throw mirrorUnavailable();
    const result = await ctx.mirror.testUpstream(name);
    const body: UpstreamTestResponse = { ok: result.ok, message: result.message };
    if (result.latencyMs !== undefined) body.latencyMs = result.latencyMs;
    res.json(body);
  });
  return router;
}
