import { Router, type Request } from 'express';
import { effectiveAuditRetentionDays, maxAuditRetentionDays } from '../../auth/audit-retention.js';
import { isLoopback, parseListenAddress } from '../../config/listen-address.js';
import type { Settings } from '../../state/index.js';
import { savedDefaultTagTtl, maxTagTtlSeconds } from '../../mirror/upstream-changes.js';
import { effectiveGcEveryHours, effectiveGcGraceMinutes, maxGcEveryHours, maxGcGraceMinutes } from '../../storage/gc-settings.js';
import { namesOutsideCa } from '../../tls/export-ca.js';
import { parseSubjectName } from '../../tls/subject-names.js';
import { AdminError, badRequest } from '../admin-error.js';
import { adminRoutes, type ApplyListenersResponse, type SettingsResponse, type UpdateSettingsResponse } from '../contract.js';
import type { AdminContext } from '../deps.js';
import { auditChange, bodyOf, optionalBoolean, optionalInteger, optionalString, optionalStringArray } from '../request-helpers.js';

/** The defaults startBerth uses when a setting is absent. */
export const defaultListen = '127.0.0.1:5000';
export const defaultTlsListen = '127.0.0.1:5443';

function settingsView(ctx: AdminContext, settings: Settings): SettingsResponse {
  return {
    listen: typeof settings.listen === 'string' && settings.listen ? settings.listen : defaultListen,
    tlsListen: typeof settings.tlsListen === 'string' && settings.tlsListen ? settings.tlsListen : defaultTlsListen,
    tlsNames: Array.isArray(settings.tlsNames) ? [...settings.tlsNames] : [],
    exposeOnNetwork: settings.exposeOnNetwork === true,
    auditRetentionDays: effectiveAuditRetentionDays(settings.auditRetentionDays),
    gcEveryHours: effectiveGcEveryHours(settings.gcEveryHours),
    gcGraceMinutes: effectiveGcGraceMinutes(settings.gcGraceMinutes),
    defaultTagTtlSeconds: savedDefaultTagTtl(settings),
    dataDir: ctx.dataDir,
    storageBackend: ctx.storageBackend,
    running: { ...ctx.urls() },
  };
}

function checkAddress(field: 'listen' | 'tlsListen', value: string, exposeOnNetwork: boolean): string {
  let host: string;
  try {
    host = parseListenAddress(value).host;
  } catch (error) {
    throw badRequest(`"${field}": ${(error as Error).message}`);
  }
  if (isLoopback(host)) return value.trim();
  if (field === 'listen') {
    throw badRequest(
      `"listen" must be a loopback address, not ${host}: plain HTTP on the network would expose tokens and images`,
      'to serve other machines, set "tlsListen" (HTTPS) to a network address and turn on exposeOnNetwork',
    );
  }
  if (!exposeOnNetwork) {
    throw badRequest(`"tlsListen" on ${host} would serve other machines`, 'send "exposeOnNetwork": true as well to allow it');
  }
  return value.trim();
}

/**
 * Server settings. Listener addresses are saved and take effect on restart (a running listener is not moved
 * under its clients); certificate names apply at once when this process runs the HTTPS listener.
 */
export function settingsRoutes(ctx: AdminContext): Router {
  const router = Router();

  router.get(adminRoutes.settings, (_req, res) => {
    res.json(settingsView(ctx, ctx.state.read().settings));
  });

  router.patch(adminRoutes.settings, async (req: Request, res) => {
    const body = bodyOf(req);
    for (const key of Object.keys(body)) {
      if (!['listen', 'tlsListen', 'tlsNames', 'exposeOnNetwork', 'auditRetentionDays', 'gcEveryHours', 'gcGraceMinutes', 'defaultTagTtlSeconds'].includes(key)) {
        const hint = key === 'dataDir' ? 'the data directory is chosen when Berth starts (--data)' : undefined;
        throw badRequest(`"${key.slice(0, 40)}" is not a setting that can be changed here`, hint);
      }
    }
    const before = settingsView(ctx, ctx.state.read().settings);
    const exposeOnNetwork = optionalBoolean(body, 'exposeOnNetwork') ?? before.exposeOnNetwork;
    const listenText = optionalString(body, 'listen');
    const tlsListenText = optionalString(body, 'tlsListen');
    const listen = listenText === undefined ? undefined : checkAddress('listen', listenText, exposeOnNetwork);
    const tlsListen = tlsListenText === undefined ? undefined : checkAddress('tlsListen', tlsListenText, exposeOnNetwork);
    // Turning exposure off while the saved HTTPS address is a network one would leave a contradiction on disk.
    if (tlsListen === undefined && !exposeOnNetwork) checkAddress('tlsListen', before.tlsListen, exposeOnNetwork);
    // 0 puts the default back (the key is removed), so the GUI needs no separate "reset" call.
    const retentionDays = optionalInteger(body, 'auditRetentionDays', 0, maxAuditRetentionDays);
    // 0 turns the schedule off; a TTL of 0 is a real one (ask upstream every time).
    const gcEveryHours = optionalInteger(body, 'gcEveryHours', 0, maxGcEveryHours);
    const gcGraceMinutes = optionalInteger(body, 'gcGraceMinutes', 1, maxGcGraceMinutes);
    const defaultTagTtl = optionalInteger(body, 'defaultTagTtlSeconds', 0, maxTagTtlSeconds);
    const names = optionalStringArray(body, 'tlsNames');
    const tlsNames = names?.map((name) => {
      try {
        const parsed = parseSubjectName(name);
        return parsed.value;
      } catch (error) {
        throw badRequest(`"tlsNames": ${(error as Error).message}`, 'a DNS name such as berth.example.lan or an IP address');
      }
    });
    // The CA's name constraints were fixed when it was made: a name outside them would be left out of the
    // certificate. Say so now, with the way out, rather than save a setting that silently does nothing.
    const outside = tlsNames === undefined ? [] : await namesOutsideCa(ctx.dataDir, tlsNames);
    if (outside.length > 0) {
      const list = outside.map((name) => name.replace(/^(DNS|IP):/, '')).join(', ');
      throw badRequest(
        `"tlsNames": Berth's local CA may not sign for ${list}: it may sign only for the names it was made for`,
        `run "berth ca rotate${outside.map((name) => ` --tls-name ${name.replace(/^(DNS|IP):/, '')}`).join('')}" to make a new CA that covers ${outside.length === 1 ? 'it' : 'them'} (every client must then trust the new ca.crt again)`,
      );
    }

    const saved = await ctx.state.update((draft) => {
      if (listen !== undefined) draft.settings.listen = listen;
      if (tlsListen !== undefined) draft.settings.tlsListen = tlsListen;
      if (tlsNames !== undefined) draft.settings.tlsNames = [...new Set(tlsNames)];
      if (body.exposeOnNetwork !== undefined) draft.settings.exposeOnNetwork = exposeOnNetwork;
      if (retentionDays === 0) delete draft.settings.auditRetentionDays;
      else if (retentionDays !== undefined) draft.settings.auditRetentionDays = retentionDays;
      if (gcEveryHours !== undefined) draft.settings.gcEveryHours = gcEveryHours;
      if (gcGraceMinutes !== undefined) draft.settings.gcGraceMinutes = gcGraceMinutes;
      if (defaultTagTtl !== undefined) draft.settings.defaultTagTtlSeconds = defaultTagTtl;
    });
    const after = settingsView(ctx, saved.settings);
    const pending: UpdateSettingsResponse['pending'] = [];
    if (after.listen !== before.listen) pending.push('listen');
    if (after.tlsListen !== before.tlsListen) pending.push('tlsListen');
    const namesChanged = JSON.stringify(after.tlsNames) !== JSON.stringify(before.tlsNames);
    // New names need a new server certificate: issue it now when the HTTPS listener runs here (it picks it up live).
    if (namesChanged && ctx.certificates) await ctx.certificates.setNames(after.tlsNames);
    const differs = (key: string) => JSON.stringify(after[key as keyof SettingsResponse]) !== JSON.stringify(before[key as keyof SettingsResponse]);
    const changes = Object.fromEntries(Object.entries(body).filter(([key]) => differs(key)));
    if (Object.keys(changes).length > 0) {
      await auditChange(ctx, req, { action: 'settings.update', detail: { changes, restartRequired: pending.length > 0 } });
      ctx.hub.publish({ type: 'settings.updated', restartRequired: pending.length > 0 });
    }
    const answer: UpdateSettingsResponse = { settings: after, restartRequired: pending.length > 0, pending };
    res.json(answer);
  });

  router.post(adminRoutes.settingsApply, async (req: Request, res) => {
    if (!ctx.applyListeners) {
      throw new AdminError('BERTH_RESTART_UNAVAILABLE', 503, 'this Berth process does not run its listeners itself', 'restart Berth to apply the saved addresses');
    }
    const answer: ApplyListenersResponse = await ctx.applyListeners();
    if (answer.moved.length > 0) {
      await auditChange(ctx, req, { action: 'settings.apply', detail: { moved: answer.moved } });
      ctx.hub.publish({ type: 'settings.updated', restartRequired: false });
    }
    res.json(answer);
  });
  return router;
}
