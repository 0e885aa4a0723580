import { createServer as createHttpsServer } from 'node:https';
import { join } from 'node:path';
import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { Server } from 'node:http';
import { gcScheduleOf } from './storage/gc-settings.js';
import { policyFor } from './lifecycle/policies.js';
import type { AddressInfo } from 'node:net';
import { createTokenGate, namespacePolicy } from './auth/access-gate.js';
import type { AuditLog } from './auth/audit-log.js';
import { createAuditPruner, effectiveAuditRetentionDays } from './auth/audit-retention.js';
import { createCredentialCheck, type CredentialCheck } from './auth/credential-check.js';
import type { RateLimiterOptions } from './auth/rate-limiter.js';
import { createTokenRealm } from './auth/token-realm.js';
import { lockNames, openClusterLocks, type ClusterLocks } from './cluster/cluster-locks.js';
import { createLeadership, type Leadership } from './cluster/leadership.js';
import { publicHostOf } from './config/public-url.js';
import { logContentTraffic } from './traffic-log.js';
import { recordNamespaceOfPush } from './auth/namespace-of-push.js';
import { isLoopback, parseListenAddress, type ListenAddress } from './config/listen-address.js';
import { addRepairs, repairTopLevelModes, repairTreeModes, type ModeRepair } from './config/private-modes.js';
import type { ConnectionPolicy } from './http/connection-policy.js';
import { createListenerNames } from './http/listener-names.js';
import { namespaceOf } from './core/names.js';
import { openGate } from './http/access.js';
import type { Mount } from './http/request-router.js';
import { createTokenEndpoint } from './http/token-endpoint.js';
import { createDeferredAdminApi } from './admin/deferred-admin-api.js';
import { createSignInFailures } from './admin/sign-in-failures.js';
import { createRootMount, createUiMount } from './admin/ui-static.js';
import { createRegistry, type Registry, type RegistryOptions } from './index.js';
import { createMirrorControl } from './mirror/mirror-control.js';
import { runRetention } from './lifecycle/retention-run.js';
import { claimScheduledRun, createRetentionScheduler, effectiveRetentionEveryHours, type RetentionScheduler } from './lifecycle/retention-schedule.js';
import { lifecycleChecksOf } from './lifecycle/content-policy.js';
import type { Logger } from './log.js';
import { createMetrics, createStorageUsage, metricsHandler, type BerthMetrics } from './metrics/index.js';
import type { NamespaceQuotaSample } from './metrics/berth-metrics.js';
import { namespaceQuotaSamples } from './lifecycle/quota-metrics.js';
import { createBlobFetcher, upstreamNamespaces, type BlobFetcher } from './mirror/blob-fetches.js';
import { createSyncScheduler, type SyncScheduler } from './mirror/sync/sync-scheduler.js';
import { createNameRouting, type NameRouting } from './mirror/name-routing.js';
import { createPullThrough } from './mirror/pull-through.js';
import { createUpstreamPool, type UpstreamPool } from './mirror/upstream-pool.js';
import { claimServerRecord } from './runtime/server-record-keeper.js';
import type { StateStore } from './state/index.js';
import { checkMasterKey, openAuditLog, openSecretBox, openSharedKey, openStateStore, type MetadataBackend } from './state/metadata-backend.js';
import { requireKeyRingIfEncrypted } from './storage/encryption/encryption-operations.js';
import type { KeyRingStore } from './storage/encryption/key-ring.js';
import { applyDeploymentEncryption, isTeamDeployment, type EncryptionChoice } from './storage/encryption/new-deployment.js';
import { openStorage, type OpenStorage, type StorageBackend } from './storage/storage-backend.js';
import { createCertificateManager, type CertificateManager } from './tls/index.js';
import { createImageImporter, type ImageImporter } from './transfer/image-importer.js';
import { watchImportFolder, type ImportFolder } from './transfer/import-folder.js';

export type AuthMode = 'token' | 'none';

export interface BerthOptions {
  /** Per-node files (TLS material, keys, logs, the server record) and, with the file backend, the state. */
  dataDir: string;
  logger: Logger;
  /** Where the shared metadata lives (state/metadata-backend.ts). Default: state.json in the data directory. */
  metadata?: MetadataBackend;
  /** Where image content lives (storage/storage-backend.ts). Default: the data directory. */
  storage?: StorageBackend;
  /**
   * Where the encryption master keys are kept (storage/encryption/key-ring.ts). Default: the metadata backend's
   * (BERTH_ENCRYPTION_KEY_FILE's file, or the PostgreSQL database every node shares).
   */
  keyRing?: KeyRingStore;
  /**
   * Encryption at rest of a new deployment (storage/encryption/new-deployment.ts): `auto` (default) turns it on for
   * a new S3 + PostgreSQL one; `off` records that it stays off.
   */
  encryption?: EncryptionChoice;
  /** Plain-HTTP listener; null turns it off. Default: settings.listen, else 127.0.0.1:5000. */
  listen?: string | null;
  /** HTTPS listener; null turns it off. Default: settings.tlsListen, else 127.0.0.1:5443. */
  tlsListen?: string | null;
  /** Default `token`: every request authenticated against access tokens. */
  auth?: AuthMode;
  /** Allow plain HTTP on a non-loopback address. */
  forcePlainHttp?: boolean;
  /** Berth's version, for `berth_build_info` and the admin API. */
  version?: string;
  /** Timeouts and connection caps (http/connection-policy.ts); the defaults are right for users, tests shorten them. */
  connections?: Partial<ConnectionPolicy>;
  /** Open upload sessions per repository and in all (RegistryOptions.uploadLimits); the defaults are right for users. */
  uploadLimits?: RegistryOptions['uploadLimits'];
  /**
   * The failure limit of access tokens (auth/credential-check.ts); the defaults are right for users, a test that
   * presents one dead token many times on purpose raises it.
   */
  credentialFailureLimits?: RateLimiterOptions;
  /**
   * The watched import folder (registry/transfer/import-folder.ts); null turns it off. Default: settings.importFolder
   * ('off' turns it off), else `<dataDir>/import`.
   */
  importFolder?: string | null;
  /**
   * The origin clients reach this Berth at through a load balancer (config/public-url.ts, already parsed): the realm
   * of every token challenge, and a name every listener answers for.
   */
  publicUrl?: string;
}

export interface Berth {
  readonly registry: Registry;
  readonly state: StateStore;
  readonly audit: AuditLog;
  readonly certificates?: CertificateManager;
  readonly upstreams: UpstreamPool;
  readonly metrics: BerthMetrics;
  readonly sync: SyncScheduler;
  /** Imports archives (`berth import`, the import folder, the GUI's drop zone all take this path). */
  readonly importer: ImageImporter;
  /** The watched import folder, when it is on. */
  readonly importFolder?: ImportFolder;
  /** The locks this node shares with the others of its cluster (in-process ones with the file backend). */
  readonly locks: ClusterLocks;
  /** `http://127.0.0.1:5000`-style URLs of the listeners that are up. */
  readonly urls: { http?: string; https?: string };
  /** Moves each running listener to its saved address when that differs (see the function); ListenerApplyError if one cannot. */
  applyListeners(): Promise<ListenerChange>;
  close(): Promise<void>;
}

/** The GUI's built files (`npm run build:ui`), served at /ui/. */
const uiDistDir = fileURLToPath(new URL('../../renderer/dist', import.meta.url));

/** The service name in challenges and the audience of Berth's bearer tokens. */
export const tokenService = 'berth';

/**
 * A whole Berth instance: state, access control, audit, the registry, and its HTTP and HTTPS
 * listeners. `berth serve` and the desktop app both start exactly this.
 */
export async function startBerth(options: BerthOptions): Promise<Berth> {
  const { dataDir, logger: log } = options;
  const metadata = options.metadata ?? { kind: 'file' };
  // A node of a cluster without the operator's master key fails now, saying how to make one, before it migrates.
  checkMasterKey(metadata);
  // Before anything is read or written: a data directory others can enter is closed now (O(1)); what lies below
  // is checked in the background once Berth listens (see config/private-modes.ts).
  const topLevelModes = await repairTopLevelModes(dataDir);
  // A PostgreSQL database is migrated first: nodes starting together take turns under the migration lock.
  const state = await openStateStore(dataDir, metadata, { migrate: true });
  const settings = state.read().settings;
  const auth = options.auth ?? 'token';
  // A refused start closes the state first: a database's pool and listener would otherwise keep the process alive.
  const { listen, tlsListen, jwtKey, secrets, storage, locks } = await closingStateOnFailure(state, async () => {
    const listen = address(options.listen, settings.listen, '127.0.0.1:5000');
    const tlsListen = address(options.tlsListen, settings.tlsListen, '127.0.0.1:5443');
    if (listen && !isLoopback(listen.host) && !options.forcePlainHttp) {
      throw new Error(`refusing plain HTTP on non-loopback address ${listen.host}: anyone on the network could read tokens and images. Use --tls-listen, or --force-plain-http to insist.`);
    }
    if (auth === 'none' && [listen, tlsListen].some((l) => l && !isLoopback(l.host))) {
      throw new Error('--auth none is for loopback only: it would give everyone on the network push and delete');
    }
    // With a shared database every node opens the same keys (a wrong master key fails here): a bearer token from one
    // node's /token is valid on all, and an upstream password sealed through one opens on all.
    const jwtKey = auth === 'token' ? await openSharedKey(dataDir, metadata, 'jwt') : undefined;
    const secrets = await openSecretBox(dataDir, metadata);
    // Last, so that nothing here fails with it open; before the index is verified against it: storage other than the
    // one the database is bound to is refused here.
    const storage: OpenStorage = await openStorage(dataDir, options.storage ?? { kind: 'filesystem' }, metadata, options.keyRing ? { keyRing: options.keyRing } : {});
    // One garbage collection and one sync schedule across the cluster, one request at a time per upload session, one
    // download per upstream blob, one encryption decision for a new storage: all through these (cluster-locks.ts).
    // The node's name is what `berth status` shows for the locks it holds.
    const nodeName = `${hostname()}/${[listen, tlsListen].filter((at) => at !== null).map((at) => `${at.host}:${at.port}`)[0] ?? 'no listener'} pid ${process.pid}`;
    let locks: ClusterLocks | undefined;
    try {
      // Encrypted storage without this process's key ring: refused now, not at the first push.
      await requireKeyRingIfEncrypted(storage.driver);
      locks = await openClusterLocks(metadata, { node: () => nodeName });
      // Before anything is served: a new team deployment is encrypted from its first push.
      await applyDeploymentEncryption({
        driver: storage.driver,
        teamDeployment: isTeamDeployment(options.storage ?? { kind: 'filesystem' }, metadata),
        choice: options.encryption ?? 'auto',
        locks,
        log,
      });
    } catch (error) {
      await locks?.close().catch(() => undefined);
      storage.close();
      throw error;
    }
    return { listen, tlsListen, jwtKey, secrets, storage, locks };
  });

  // Before anything binds a port: a second server on the same data directory is refused with the first one's address.
  const serverRecord = await claimServerRecord({
    dataDir,
    version: options.version ?? '0.0.0',
    auth,
    urls: () => urls,
    upstreams: () => upstreams.all().map(({ record, client }) => ({ name: record.name, ...healthOf(client.health.state()) })),
    log,
  }).catch(async (error: unknown) => {
    // Refused: what is open (a database's lock connection and pools) must not keep the process alive.
    await locks.close().catch(() => undefined);
    storage.close();
    await state.close().catch(() => undefined);
    throw error;
  });
  const audit = await openAuditLog(dataDir, metadata);
  // One meter of the blob store (the data directory or the bucket) for /metrics and the admin API: one walk serves both.
  const storageUsage = createStorageUsage(storage.driver);
  // The registry exists only after the metrics do (it takes them); a scrape before that reports no namespaces.
  let quotaSamples: (() => Promise<NamespaceQuotaSample[]>) | undefined;
  const metrics = createMetrics({
    storage: () => storageUsage.read({ staleWhileRefreshing: true }),
    version: options.version,
    namespaces: () => quotaSamples?.() ?? Promise.resolve([]),
  });
  // What every listener answers for (the Host allowlist) and the realm its challenges name: the certificate's names.
  // The public URL's host is answered too: it is the name clients use, whatever the TLS names say.
  const publicHosts = options.publicUrl ? [publicHostOf(options.publicUrl)] : [];
  const names = createListenerNames({ tlsNames: () => [...(state.read().settings.tlsNames ?? []), ...publicHosts], refresh: () => state.refresh() });
  const signInFailures = createSignInFailures({ audit, log });
  // Metrics carry no image content or secrets: readable without credentials, like a health check.
  const scrape = metricsHandler(metrics);
  const mounts: Mount[] = [
    {
      prefix: '/metrics',
      // Every configured upstream has a berth_upstream_online line, not only those that changed state.
      handle: (req, res) => {
        for (const upstream of upstreams.all()) metrics.upstreamOnline(upstream.record.name, upstream.client.health.state().online);
        scrape(req, res);
      },
    },
  ];
  // Name routing needs the registry's storage, which exists only once the registry does; the token service,
  // mounted before that, reaches it through this.
  let routing: NameRouting | undefined;
  let gate = openGate;
  let credentials: CredentialCheck | undefined;
  if (jwtKey) {
    const policy = namespacePolicy(state);
    const onFailure = (reason: string) => metrics.authFailure(reason);
    credentials = createCredentialCheck({ store: state, audit, onFailure, limits: options.credentialFailureLimits });
    const realm = createTokenRealm({ names, publicUrl: options.publicUrl });
    const pullTarget = async (name: string) => (routing ? routing.pullTarget(name) : name);
    gate = createTokenGate({ store: state, jwtKey, service: tokenService, realm, credentials, audit, onFailure });
    mounts.push({ prefix: '/token', handle: createTokenEndpoint({ store: state, jwtKey, service: tokenService, policy, credentials, pullTarget }) });
  }
  const upstreams = createUpstreamPool({ state, secrets, log, onHealthChange: (name, online) => metrics.upstreamOnline(name, online) });
  /** Set once the registry exists: until then (and on every node but one of a cluster) no scheduled collection runs. */
  let gcLeader: Leadership | undefined;
  let fetcher: BlobFetcher | undefined;
  // The admin API is mounted before the registry and the scheduler exist; it reaches them through these.
  let registryRef: Registry | undefined;
  let syncRef: SyncScheduler | undefined;
  let retentionRef: RetentionScheduler | undefined;
  let importerRef: ImageImporter | undefined;
  const urls: { http?: string; https?: string } = {};
  let certificates: CertificateManager | undefined;
  // The admin API is mounted before the listeners exist: "apply and restart" reaches them through this.
  let applyRef: (() => Promise<ListenerChange>) | undefined;
  mounts.push(
    ...createDeferredAdminApi({
      registry: () => registryRef as Registry,
      state,
      audit,
      dataDir,
      storageBackend: storage.description,
      storageUsage,
      encryption: storage.driver,
      urls: () => urls,
      applyListeners: () => (applyRef ? applyRef() : Promise.reject(new Error('the listeners are not up yet'))),
      certificates: () => certificates,
      log,
      sealSecret: (plain) => secrets.seal(plain),
      mirror: createMirrorControl(upstreams, () => syncRef as SyncScheduler),
      version: options.version ?? '0.0.0',
      signInFailures,
      retention: () => retentionRef,
      startedAt: Date.now(),
      importer: () => importerRef,
    }),
    createUiMount(uiDistDir),
    createRootMount(uiDistDir),
  );
  const registry = await createRegistry({
    dataDir,
    metadata: options.metadata,
    driver: storage.driver,
    logger: log,
    gate,
    mounts,
    metrics,
    connections: options.connections,
    uploadLimits: options.uploadLimits,
    names,
    // Read at every use: the GUI's garbage-collection settings apply without a restart. Only the node holding the
    // gc-scheduler lock runs the schedule; the grace period applies to every node's manual runs alike.
    garbageCollection: () => {
      const schedule = gcScheduleOf(state.read().settings);
      return gcLeader?.isLeader() ? schedule : { graceMs: schedule.graceMs };
    },
    locks,
    // Looked at afresh (a stat) at each delete: `berth trash days` run a moment ago applies to the very next one.
    trashDays: (repository) => {
      state.refresh();
      return policyFor(state.read(), repository).trashDays;
    },
    configurationChanged: () => state.refresh(),
    manifestPushed: recordNamespaceOfPush(state, audit, log),
    // Read at every request: a quota or an immutable pattern set by the CLI or the GUI applies to the next push.
    contentPolicy: (stores) => lifecycleChecksOf(stores, () => state.read(), { cacheWith: stores.events }).checks,
    mirror: (stores) => {
      fetcher = createBlobFetcher({ ...stores, namespacesOf: (upstream) => upstreamNamespaces(state, upstream), locks });
      routing = createNameRouting({ pool: upstreams, state, driver: stores.driver });
      return createPullThrough({ pool: upstreams, repositories: stores.repositories, fetcher, log, routing });
    },
  });
  if (!fetcher) throw new Error('the mirror was not set up');
  registryRef = registry;
  const quotaStorage = lifecycleChecksOf(registry, () => state.read()).storage;
  quotaSamples = () => namespaceQuotaSamples(state.read(), quotaStorage, registry.traffic);
  gcLeader = await createLeadership({ locks, lock: lockNames.gcScheduler, log });
  const syncLeader = await createLeadership({ locks, lock: lockNames.syncScheduler, log });
  const sync = createSyncScheduler({ state, pool: upstreams, repositories: registry.repositories, fetcher, log, audit, locks, leader: syncLeader });
  syncRef = sync;
  await sync.start();
  recordContentChanges(registry, state, audit, log);
  // Imports obey what pushes obey (immutable tags, quotas): its own checks instance, over the same stores and state.
  const importer = createImageImporter({ stores: registry, state, audit, log, policy: lifecycleChecksOf(registry, () => state.read()).checks });
  importerRef = importer;
  logContentTraffic(registry, log);

  /** The listeners running now, so "apply and restart" can replace one. */
  const running: { http?: { server: Server; address: ListenAddress }; https?: { server: Server; address: ListenAddress } } = {};
  const startHttp = async (at: ListenAddress) => {
    const { url, server } = await registry.listen(at);
    return { url, server };
  };
  const startHttps = async (at: ListenAddress) => {
    certificates ??= createCertificateManager({ dataDir, names: settings.tlsNames ?? [], logger: log });
    await certificates.ensure();
    // A TLS handshake gets the time the request headers get: a client that connects and stays silent is closed.
    const tlsOptions = { ...certificates.secureContextOptions(), handshakeTimeout: registry.connectionPolicy.headersTimeoutMs };
    const server = createHttpsServer(tlsOptions, registry.handler);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(at.port, at.host, () => resolve());
    });
    registry.track(server);
    certificates.watch(server);
    const bound = server.address() as AddressInfo;
    return { url: `https://${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}`, server };
  };
  try {
    if (listen) {
      const started = await startHttp(listen);
      urls.http = started.url;
      running.http = { server: started.server, address: listen };
    }
    if (tlsListen) {
      const started = await startHttps(tlsListen);
      urls.https = started.url;
      running.https = { server: started.server, address: tlsListen };
    }
  } catch (error) {
    await sync.close();
    await registry.close(0);
    await Promise.all([gcLeader.close(), syncLeader.close()]);
    await locks.close();
    storage.close();
    await serverRecord.close();
    throw error;
  }
  await serverRecord.publish();
  const importFolderPath = importFolderOf(options.importFolder, settings.importFolder, dataDir);
  // A folder that cannot be watched (a path of another user's) is reported; Berth serves on without it.
  const importFolder = importFolderPath
    ? await watchImportFolder({ folder: importFolderPath, importer, log }).catch((error: unknown) => {
        log.warn({ err: error, folder: importFolderPath }, 'the import folder could not be watched: archives dropped there are not imported');
        return undefined;
      })
    : undefined;
  const modeCheck = checkPrivateModes(dataDir, topLevelModes, log);
  upstreams.onHealthChange(() => serverRecord.changed());
  // Like the pruner below, started once the listeners are up. Every run (the schedule's, the GUI's, the admin API's)
  // takes its queue; the scheduled one is claimed in the shared state, so one node of a cluster runs it per interval.
  const retention = createRetentionScheduler({
    run: (runOptions) => runRetention({ repositories: registry.repositories, trash: registry.trash, pulls: registry.pulls, state, audit, offline: () => offlineMirrors(state, upstreams) }, runOptions),
    everyHours: () => effectiveRetentionEveryHours(state.read().settings.retentionEveryHours),
    claim: (intervalMs) => claimScheduledRun(state, intervalMs),
    log,
  });
  retentionRef = retention;
  // Started only once the listeners are up, so a failed start leaves no timer behind; it prunes once now.
  const auditPruner = createAuditPruner({
    audit,
    keepDays: () => effectiveAuditRetentionDays(state.read().settings.auditRetentionDays),
    log,
  });

  /**
   * "Apply and restart" without stopping Berth: each running listener whose saved address differs moves there. The new
   * one starts first, so a refused address (in use, not permitted) leaves the old one serving; then the old one stops
   * after its requests finish. A listener that is off (--tls-listen off) stays off.
   */
  async function applyListeners(): Promise<ListenerChange> {
    const saved = state.read().settings;
    const moved: ListenerChange['moved'] = [];
    const plans = [
      // Only a saved address moves a listener: one started on a --listen flag with nothing saved stays where it is.
      { kind: 'http' as const, saved: saved.listen, start: startHttp },
      { kind: 'https' as const, saved: saved.tlsListen, start: startHttps },
    ];
    for (const { kind, saved: text, start } of plans) {
      const current = running[kind];
      const next = typeof text === 'string' && text ? parseListenAddress(text) : undefined;
      const bound = urls[kind] ? parseListenAddress(new URL(urls[kind] as string).host) : undefined;
      if (!current || !next || (bound && sameAddress(bound, next))) continue;
      if (kind === 'http' && !isLoopback(next.host) && !options.forcePlainHttp) throw new ListenerApplyError(`plain HTTP stays on loopback: ${next.host} would expose tokens and images`);
      if (auth === 'none' && !isLoopback(next.host)) throw new ListenerApplyError('--auth none is for loopback only: it would give everyone on the network push and delete');
      let started: { url: string; server: Server };
      try {
        started = await start(next);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        const why = code === 'EADDRINUSE' ? 'is in use by another program' : code === 'EADDRNOTAVAIL' ? 'is not an address of this machine' : code === 'EACCES' ? 'needs more privileges' : `failed (${(error as Error).message})`;
        throw new ListenerApplyError(`${next.host}:${next.port} ${why}: Berth keeps listening on ${urls[kind] ?? 'its old address'}`);
      }
      const from = urls[kind];
      running[kind] = { server: started.server, address: next };
      urls[kind] = started.url;
      log.info({ listener: kind, from, to: started.url }, 'listener moved to its saved address');
      moved.push({ listener: kind, from: from ?? '', to: started.url });
      // Its clients finish what they are doing (up to 10 s), new connections go to the new address. Not awaited: the
      // request asking for this may have come through the old listener, and its answer must still go out there.
      void registry.closeServer(current.server, 10_000).catch((error: unknown) => log.warn({ err: error, listener: kind }, 'closing the old listener failed'));
    }
    if (moved.length > 0) await serverRecord.publish();
    return { moved, running: { ...urls } };
  }

  applyRef = applyListeners;

  return {
    registry,
    state,
    audit,
    certificates,
    upstreams,
    sync,
    locks,
    metrics,
    urls,
    importer,
    importFolder,
    applyListeners,
    async close() {
      // Before the registry: an archive being imported finishes (or fails whole) while its stores are open.
      await importFolder?.close();
      // The CLI stops pointing people at this server as soon as it begins to stop.
      await serverRecord.close();
      await modeCheck.close();
      // First: a run in progress still records its audit.prune event before the audit log closes.
      await auditPruner.close();
      // Before the registry closes: a retention run in progress finishes its removals and their audit events.
      await retention.close();
      await sync.close();
      await registry.close();
      // After the last collection and job: other nodes take the schedules over at their next try.
      await Promise.all([gcLeader?.close(), syncLeader.close()]);
      await locks.close();
      storage.close();
      upstreams.close();
      await certificates?.close();
      credentials?.close();
      // Its pending summary of failed sign-ins goes into the audit log before that closes.
      signInFailures.close();
      await audit.close();
      await state.close();
    },
  };
}

/**
 * Walks the data directory in the background and reports what it (and the top-level check) tightened in ONE
 * warning line, so a store of a million files neither delays the start nor floods the log.
 */
function checkPrivateModes(dataDir: string, topLevel: ModeRepair, log: Logger): { close(): Promise<void> } {
  let stopped = false;
  const done = repairTreeModes(dataDir, () => stopped)
    .then((below) => {
      const { fixed, failed, firstFailure } = addRepairs(topLevel, below);
      if (fixed + failed === 0) return;
      const failures = failed > 0 ? `; ${failed} could not be changed (first: ${firstFailure ?? '?'}), fix them by hand` : '';
      log.warn({ dataDir, fixed, failed }, `tightened ${fixed} path(s) under the data directory that other users could read or enter to owner-only${failures}`);
    })
    .catch((error: unknown) => log.warn({ err: error, dataDir }, 'checking the modes of the data directory failed'));
  return {
    async close() {
      stopped = true;
      await done;
    },
  };
}

export interface ListenerChange {
  moved: Array<{ listener: 'http' | 'https'; from: string; to: string }>;
  running: { http?: string; https?: string };
}

/** Why a saved listener address could not be applied; the old listener keeps serving. */
export class ListenerApplyError extends Error {
  override readonly name = 'ListenerApplyError';
  readonly code = 'BERTH_LISTENER_APPLY_FAILED';
}

/** `bound` is where a listener really is (port 0 resolved); a saved port 0 always means "a new free port". */
function sameAddress(bound: ListenAddress, saved: ListenAddress): boolean {
  const host = (value: string) => (value === 'localhost' ? '127.0.0.1' : value);
  return host(bound.host) === host(saved.host) && bound.port === saved.port && saved.port !== 0;
}

function healthOf(state: { online: boolean; lastError?: string }): { online: boolean; lastError?: string } {
  return state.lastError === undefined ? { online: state.online } : { online: state.online, lastError: state.lastError };
}

/** Runs the rest of a start's checks; when one throws, the state store is closed before the error goes on. */
async function closingStateOnFailure<T>(state: StateStore, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    await state.close().catch(() => undefined);
    throw error;
  }
}

function importFolderOf(flag: string | null | undefined, setting: unknown, dataDir: string): string | undefined {
  if (flag === null) return undefined;
  if (flag !== undefined) return flag;
  if (setting === 'off') return undefined;
  return typeof setting === 'string' && setting !== '' ? setting : join(dataDir, 'import');
}

function address(flag: string | null | undefined, setting: unknown, fallback: string): ListenAddress | null {
  if (flag === null) return null;
  return parseListenAddress(flag ?? (typeof setting === 'string' && setting ? setting : fallback));
}

/** Mirror namespaces whose upstream is offline now (an upstream's own namespace, and sync targets fed by it): retention evicts nothing there. */
function offlineMirrors(state: StateStore, upstreams: UpstreamPool): Set<string> {
  const down = new Set(upstreams.all().filter((upstream) => !upstream.client.health.state().online).map((upstream) => upstream.record.name));
  const targets = state.read().syncRules.filter((rule) => down.has(rule.upstream)).map((rule) => rule.into);
  return new Set([...down, ...targets]);
}

/** Manifest pulls are audited once per actor, client and manifest per minute, not per request. */
const pullAuditWindowMs = 60_000;

/** Audit events for content changes and pulls. */
function recordContentChanges(registry: Registry, state: StateStore, audit: AuditLog, log: Logger): void {
  const record = (event: Parameters<AuditLog['record']>[0]) =>
    audit.record(event).catch((error: unknown) => log.error({ err: error }, 'audit write failed'));

  registry.events.on('manifest.pushed', (e) => {
    void record({ action: 'push', actor: e.actor, client: e.client, namespace: namespaceOf(e.repository), repository: e.repository, reference: e.reference, digest: e.digest, outcome: 'success' });
  });
  // A delete goes to the trash: the event names the entry that restores it.
  const trashDetail = (trashEntry: string | undefined) => (trashEntry ? { detail: { trashEntry } } : {});
  registry.events.on('manifest.deleted', (e) =>
    void record({ action: 'delete', actor: e.actor, client: e.client, namespace: namespaceOf(e.repository), repository: e.repository, digest: e.digest, outcome: 'success', ...trashDetail(e.trashEntry) }),
  );
  registry.events.on('tag.deleted', (e) =>
    void record({ action: 'delete', actor: e.actor, client: e.client, namespace: namespaceOf(e.repository), repository: e.repository, reference: e.tag, outcome: 'success', ...trashDetail(e.trashEntry) }),
  );
  // Dropped by a collection (the trash days ran out): gone for good, by Berth itself.
  registry.events.on('trash.expired', (e) => {
    for (const entry of e.entries) {
      void record({ action: 'trash.expire', actor: 'berth', client: 'local', namespace: namespaceOf(entry.repository), repository: entry.repository, outcome: 'success', detail: { trashEntry: entry.id } });
    }
  });
  registry.events.on('blob.deleted', (e) =>
    void record({ action: 'delete', actor: e.actor, client: e.client, namespace: namespaceOf(e.repository), repository: e.repository, digest: e.digest, outcome: 'success' }),
  );

  // Refusals by a quota or an immutable tag are denied requests like the gate's: audited, once per actor, client,
  // repository, action and rule per minute (a client retrying a refused pull must not flood the trail).
  const recentRefusals = new Map<string, number>();
  registry.events.on('content.refused', (e) => {
    const action = e.method === 'DELETE' ? 'delete' : e.method === 'GET' || e.method === 'HEAD' ? 'pull' : 'push';
    const key = `${e.actor}\n${e.client}\n${e.repository}\n${action}\n${e.rule}`;
    const now = Date.now();
    if ((recentRefusals.get(key) ?? 0) > now - pullAuditWindowMs) return;
    if (recentRefusals.size > 10_000) recentRefusals.clear();
    recentRefusals.set(key, now);
    void record({ action, actor: e.actor, client: e.client, namespace: namespaceOf(e.repository), repository: e.repository, outcome: 'denied', detail: { rule: e.rule, reason: e.reason } });
  });

  const recentPulls = new Map<string, number>();
  registry.events.on('manifest.pulled', (e) => {
    const key = `${e.actor}\n${e.client}\n${e.repository}\n${e.digest}`;
    const now = Date.now();
    if ((recentPulls.get(key) ?? 0) > now - pullAuditWindowMs) return;
    if (recentPulls.size > 10_000) recentPulls.clear();
    recentPulls.set(key, now);
    void record({ action: 'pull', actor: e.actor, client: e.client, namespace: namespaceOf(e.repository), repository: e.repository, reference: e.reference, digest: e.digest, outcome: 'success' });
  });
}
