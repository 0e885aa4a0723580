import { Router, type Request } from 'express';
import { isLoopback } from '../../config/listen-address.js';
import {
  addUpstream,
  isUpstreamChangeError,
  removeUpstream,
  repositoryCounter,
  updateUpstream,
  type UpstreamInput,
  type UpstreamPatch,
} from '../../mirror/upstream-changes.js';
import { AdminError, badRequest } from '../admin-error.js';
import { adminRoutes, type UpstreamTestResponse, type UpstreamsResponse } from '../contract.js';
import type { AdminContext } from '../deps.js';
import {
  auditChange,
  bodyOf,
  nullableString,
  optionalBoolean,
  optionalString,
  optionalStringArray,
  paramOf,
  requiredString,
  type JsonObject,
} from '../request-helpers.js';
import type { UpstreamRecord } from '../../state/index.js';
import { upstreamView } from '../views.js';

export const upstreamNotFound = (name: string) => new AdminError('BERTH_UPSTREAM_NOT_FOUND', 404, `no upstream "${name.slice(0, 80)}"`);
export const mirrorUnavailable = () =>
  new AdminError(
    'BERTH_MIRROR_UNAVAILABLE',
    503,
    'the mirror service is not running in this Berth process',
    'restart Berth; see its log for why the mirror did not start',
  );

/** The shared upstream rules' refusals in the admin API's terms (status, contract code, what to do). */
function asAdminError(error: unknown, name: string): unknown {
  if (!isUpstreamChangeError(error)) return error;
  const { message } = error;
  switch (error.code) {
    case 'BERTH_UPSTREAM_NAME_INVALID':
      // The contract's code for any name that breaks its grammar.
      return badRequest(message);
    case 'BERTH_UPSTREAM_CONFIG_INVALID':
      // A mirror module code the contract lets pass through unchanged (400, see mapAdminError).
      return error;
    case 'BERTH_UPSTREAM_EXISTS':
      return new AdminError('BERTH_UPSTREAM_EXISTS', 409, message, 'change it with PATCH instead');
    case 'BERTH_UPSTREAM_NOT_FOUND':
      return upstreamNotFound(name);
    case 'BERTH_UPSTREAM_IN_USE':
      return new AdminError('BERTH_UPSTREAM_IN_USE', 409, message, 'delete those sync rules first');
    case 'BERTH_UPSTREAM_HOST_TAKEN':
      return new AdminError('BERTH_UPSTREAM_HOST_TAKEN', 409, message, `one host, one upstream: use another URL or alias, or change upstream "${error.details.upstream ?? ''}" first`);
    case 'BERTH_NAMESPACE_HAS_CONTENT':
      return new AdminError(
        'BERTH_NAMESPACE_HAS_CONTENT',
        409,
        message,
        'pick another name, or send "adopt": true if that content is an earlier cache of this upstream',
      );
  }
}

/** A JSON `tagTtlSeconds`: its type is the request's business, its range the shared rules'. */
function tagTtlOf(body: JsonObject): number | undefined {
  const value = body.tagTtlSeconds;
  if (value === undefined) return undefined;
  if (typeof value !== 'number') throw badRequest('"tagTtlSeconds" must be a whole number of seconds');
  return value;
}

/** The fields create and update share, as the JSON carries them (types checked here, values by the shared rules). */
function patchOf(body: JsonObject): UpstreamPatch {
  const patch: UpstreamPatch = {};
  const url = optionalString(body, 'url');
  if (url !== undefined) patch.url = url;
  const aliases = optionalStringArray(body, 'aliases');
  if (aliases !== undefined) patch.aliases = aliases;
  const isDefault = optionalBoolean(body, 'isDefault');
  if (isDefault !== undefined) patch.isDefault = isDefault;
  const insecure = optionalBoolean(body, 'insecure');
  if (insecure !== undefined) patch.insecure = insecure;
  const tagTtlSeconds = tagTtlOf(body);
  if (tagTtlSeconds !== undefined) patch.tagTtlSeconds = tagTtlSeconds;
  const anonymousPull = optionalBoolean(body, 'anonymousPull');
  if (anonymousPull !== undefined) patch.anonymousPull = anonymousPull;
  for (const field of ['username', 'password', 'caPem'] as const) {
    const value = nullableString(body, field);
    if (value !== undefined) patch[field] = value;
  }
  return patch;
}

/** Whether every listener this Berth runs is on loopback: the running listeners, not what the settings will say next time. */
function loopbackOnly(ctx: AdminContext): boolean {
  return Object.values(ctx.urls()).every((url) => typeof url !== 'string' || isLoopback(new URL(url).hostname.replace(/^\[|\]$/g, '')));
}

/** Upstream registries (state), their health, and a connection test through the mirror service. */
export function upstreamRoutes(ctx: AdminContext): Router {
  const router = Router();
  const item = `${adminRoutes.upstreams}/:name`;
  const changed = async () => {
    await ctx.mirror?.reload?.();
  };
  const view = (record: UpstreamRecord) => upstreamView(record, ctx.state.read().namespaces, ctx.mirror);

  router.get(adminRoutes.upstreams, (_req, res) => {
    const body: UpstreamsResponse = { upstreams: ctx.state.read().upstreams.map(view), loopbackOnly: loopbackOnly(ctx) };
    res.json(body);
  });

  router.post(adminRoutes.upstreams, async (req: Request, res) => {
    const body = bodyOf(req);
    const name = requiredString(body, 'name');
    const patch = patchOf(body);
    const input: UpstreamInput = {
      ...patch,
      name,
      url: requiredString(body, 'url'),
      username: patch.username ?? undefined,
      password: patch.password ?? undefined,
      caPem: patch.caPem ?? undefined,
    };
    const adopt = optionalBoolean(body, 'adopt') === true;
    const repositoriesHeld = repositoryCounter(() => ctx.registry.repositories.listRepositories());
    const options = { sealSecret: ctx.sealSecret, loopbackOnly: loopbackOnly(ctx), repositoriesHeld, adopt };
    const result = await addUpstream(ctx.state, input, options).catch((error: unknown) => {
      throw asAdminError(error, name);
    });
    const { record, previousDefault, namespaceCreated, anonymousPull, anonymousPullSource } = result;
    await auditChange(ctx, req, {
      action: 'upstream.create',
      namespace: name,
      detail: { name, url: record.url, isDefault: record.isDefault, previousDefault: previousDefault ?? null, adopt },
    });
    if (namespaceCreated) {
      await auditChange(ctx, req, { action: 'namespace.create', namespace: name, detail: { anonymousPull, reason: 'upstream.create', source: anonymousPullSource } });
      ctx.hub.publish({ type: 'namespace.created', name });
    } else if (anonymousPullSource === 'chosen') {
      await auditChange(ctx, req, { action: 'namespace.update', namespace: name, detail: { anonymousPull, reason: 'upstream.create' } });
      ctx.hub.publish({ type: 'namespace.updated', name });
    }
    ctx.hub.publish({ type: 'upstream.created', name });
    await changed();
    res.status(201).json(view(record));
  });

  router.patch(item, async (req: Request, res) => {
    const name = paramOf(req, 'name');
    const body = bodyOf(req);
    if (body.name !== undefined && body.name !== name) throw badRequest('an upstream cannot be renamed: create a new one and delete this one');
    const patch = patchOf(body);
    const { record, anonymousPull } = await updateUpstream(ctx.state, name, patch, { sealSecret: ctx.sealSecret }).catch((error: unknown) => {
      throw asAdminError(error, name);
    });
    const fields = Object.keys(body).filter((key) => key !== 'password' && key !== 'name');
    await auditChange(ctx, req, { action: 'upstream.update', detail: { name, fields, passwordChanged: body.password !== undefined } });
    if (patch.anonymousPull !== undefined) {
      await auditChange(ctx, req, { action: 'namespace.update', namespace: name, detail: { anonymousPull, reason: 'upstream.update' } });
      ctx.hub.publish({ type: 'namespace.updated', name });
    }
    ctx.hub.publish({ type: 'upstream.updated', name });
    await changed();
    res.json(view(record));
  });

  router.delete(item, async (req: Request, res) => {
    const name = paramOf(req, 'name');
    await removeUpstream(ctx.state, name).catch((error: unknown) => {
      throw asAdminError(error, name);
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
