import { Router } from 'express';
import { tokenStatus } from '../../auth/access-tokens.js';
import { formatSubjectName } from '../../tls/subject-names.js';
import { describeCertificate, type CertificateInfo } from '../../tls/certificate-material.js';
import { exportCaCertificate } from '../../tls/export-ca.js';
import { adminRoutes, type CertificateSummary, type OverviewResponse, type StorageResponse, type TlsStatus } from '../contract.js';
import type { AdminContext } from '../deps.js';
import { setupSnippets } from '../setup-snippets.js';
import { registryHostOf } from '../views.js';

function certificateSummary(info: CertificateInfo): CertificateSummary {
  return {
    names: info.subjectNames.map(formatSubjectName),
    notBefore: info.notBefore.toISOString(),
    notAfter: info.notAfter.toISOString(),
    fingerprint256: info.fingerprint256,
  };
}

/** The TLS material in use; without an HTTPS listener in this process, at least the CA if one was ever made. */
export async function tlsStatus(ctx: AdminContext): Promise<TlsStatus> {
  if (ctx.certificates) {
    const set = await ctx.certificates.ensure();
    return { enabled: ctx.urls().https !== undefined, ca: certificateSummary(set.ca), server: certificateSummary(set.server) };
  }
  const caPem = await exportCaCertificate(ctx.dataDir).catch(() => undefined);
  return caPem ? { enabled: false, ca: certificateSummary(describeCertificate(caPem, 'CA certificate')) } : { enabled: false };
}

/** `GET /api/overview`: everything the home page shows, in one request. */
export function overviewRoutes(ctx: AdminContext, storage: () => Promise<StorageResponse>): Router {
  const router = Router();
  router.get(adminRoutes.overview, async (_req, res) => {
    const state = ctx.state.read();
    const urls = ctx.urls();
    const [tls, usage, recent] = await Promise.all([tlsStatus(ctx), storage(), ctx.audit.query({ limit: 10 })]);
    const health = ctx.mirror?.upstreamHealth() ?? {};
    const online = state.upstreams.filter((upstream) => health[upstream.name]?.online !== false).length;
    const now = new Date();
    const body: OverviewResponse = {
      version: ctx.version,
      uptimeSeconds: Math.floor((Date.now() - ctx.startedAt) / 1000),
      listeners: { ...urls },
      tls,
      storage: usage,
      namespaces: state.namespaces.length,
      repositories: usage.repositories,
      tokens: { active: state.tokens.filter((token) => tokenStatus(token, now) === 'active').length },
      upstreams: { total: state.upstreams.length, online, offline: state.upstreams.length - online },
      recentActivity: [...recent.events].reverse(),
      setup: setupSnippets(urls),
      dataDir: ctx.dataDir,
      storageBackend: ctx.storageBackend,
    };
    const host = registryHostOf(urls);
    if (host) body.registryHost = host;
    res.json(body);
  });
  return router;
}
