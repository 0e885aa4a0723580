import { formatScope } from '../auth/scopes.js';
import { tokenStatus } from '../auth/access-tokens.js';
import { nextScheduledRun } from '../mirror/sync/sync-schedule.js';
import type { JobRecord, NamespaceRecord, SyncRuleRecord, TokenRecord, UpstreamRecord } from '../state/index.js';
import type { JobDetail, JobView, ListenerInfo, MirrorControl, SyncRuleView, TokenView, UpstreamView } from './contract.js';

/** State records as the API shows them: secrets and hashes never leave this file. */
export function tokenView(record: TokenRecord, now = new Date()): TokenView {
  return {
    id: record.id,
    name: record.name,
    scopes: record.scopes.map((scope) => ({ pattern: scope.pattern, actions: [...scope.actions] })),
    scopeText: record.scopes.map(formatScope),
    status: tokenStatus(record, now),
    createdAt: record.createdAt,
    expiresAt: record.expiresAt ?? null,
    lastUsedAt: record.lastUsedAt ?? null,
    revokedAt: record.revokedAt ?? null,
  };
}

export function upstreamView(record: UpstreamRecord, namespaces: readonly NamespaceRecord[], mirror?: MirrorControl): UpstreamView {
  const view: UpstreamView = {
    name: record.name,
    url: record.url,
    aliases: [...(record.aliases ?? [])],
    isDefault: record.isDefault === true,
    hasPassword: typeof record.passwordSealed === 'string' && record.passwordSealed !== '',
    hasCaPem: typeof record.caPem === 'string' && record.caPem !== '',
    insecure: record.insecure === true,
    tagTtlSeconds: record.tagTtlSeconds,
    anonymousPull: namespaces.some((ns) => ns.name === record.name && ns.anonymousPull),
    createdAt: record.createdAt,
  };
  if (record.username !== undefined) view.username = record.username;
  const health = mirror?.upstreamHealth()[record.name];
  if (health) view.health = health.lastError === undefined ? { online: health.online } : { online: health.online, lastError: health.lastError };
  return view;
}

/** When the scheduler next starts the rule (see SyncRuleView.nextRunAt); `mirrorPaused` is the mirror-wide pause. */
export function nextRunOf(record: SyncRuleRecord, mirrorPaused: boolean): string | null {
  if (record.paused || mirrorPaused) return null;
  const next = nextScheduledRun(record);
  return next === null ? null : new Date(next).toISOString();
}

export function syncRuleView(record: SyncRuleRecord, mirrorPaused = false): SyncRuleView {
  return {
    name: record.name,
    upstream: record.upstream,
    repositories: [...record.repositories],
    tags: { ...record.tags },
    platforms: [...record.platforms],
    into: record.into,
    everySeconds: record.everySeconds,
    paused: record.paused,
    createdAt: record.createdAt,
    lastRunAt: record.lastRunAt ?? null,
    nextRunAt: nextRunOf(record, mirrorPaused),
  };
}

export function jobView(record: JobRecord): JobView {
  return {
    id: record.id,
    rule: record.rule,
    status: record.status,
    queuedAt: record.queuedAt,
    startedAt: record.startedAt ?? null,
    finishedAt: record.finishedAt ?? null,
    images: { ...record.images },
    blobs: { ...record.blobs },
    bytes: { ...record.bytes },
    errors: [...record.errors],
    retryOf: record.retryOf ?? null,
  };
}

export function jobDetailView(record: JobRecord): JobDetail {
  return {
    ...jobView(record),
    copied: [...(record.copied ?? [])],
    skipped: [...(record.skipped ?? [])],
    failed: (record.failed ?? []).map((entry) => ({ ...entry })),
    log: (record.log ?? []).map((line) => ({ ...line })),
  };
}

/**
 * The `host:port` clients should push to. Plain HTTP on loopback first: Docker and Podman accept it for
 * 127.0.0.0/8 without any trust setup, whereas HTTPS needs Berth's CA installed first.
 */
export function registryHostOf(urls: ListenerInfo): string | undefined {
  const url = urls.http ?? urls.https;
  return url ? new URL(url).host : undefined;
}
