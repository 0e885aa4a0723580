import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir } from 'node:fs/promises';
import { createLocalLocks, isClusterLockBusy, lockNames, runExclusive, type ClusterLocks } from './cluster/cluster-locks.js';
import { privateDirMode } from './config/private-modes.js';
import { openGate, type AccessGate } from './http/access.js';
import { createConnectionGuard } from './http/connection-guard.js';
import { connectionPolicyOf, type ConnectionPolicy } from './http/connection-policy.js';
import { createDistributionApi } from './http/distribution-api.js';
import { createListenerNames, type ListenerNames } from './http/listener-names.js';
import { createRequestGuard } from './http/request-guard.js';
import type { MirrorHook } from './http/mirror-hook.js';
import { createRequestRouter, type Mount } from './http/request-router.js';
import { createRegistryEvents, type RegistryEvents } from './events.js';
import { trackPendingPushes } from './storage/pending-pushes.js';
import { instrumentRequests, type BerthMetrics, type RequestListener } from './metrics/index.js';
import { silentLogger, type Logger } from './log.js';
import { createBlobStore, type BlobStore } from './storage/blob-store.js';
import type { StorageDriver } from './storage/driver.js';
import { createFilesystemDriver } from './storage/filesystem-driver.js';
import { collectGarbage, type GarbageCollectionResult } from './storage/garbage-collector.js';
import { buildRepositoryIndex, type IndexBuildResult } from './storage/repository-index-builder.js';
import type { RepositoryIndex } from './storage/repository-index.js';
import { createRepositoryStore, type RepositoryStore } from './storage/repository-store.js';
import { openIndexStores, type IndexStores } from './storage/metadata-index-stores.js';
import type { MetadataBackend } from './state/metadata-backend.js';
import { createPullRecords, type PullRecords } from './pull-records.js';
import type { ContentPolicy } from './http/content-policy.js';
import { createPullTraffic, type PullTraffic } from './lifecycle/pull-traffic.js';
import { createUploadStore, defaultUploadLimits, type UploadLimits, type UploadStore } from './storage/upload-store.js';
import { createTrash, type DeleteGuard, type Trash } from './lifecycle/trash.js';

export interface RegistryOptions {
  /** Berth's data directory: blobs, repositories, state, keys. */
  dataDir: string;
  logger?: Logger;
  /** Defaults to the filesystem driver on `<dataDir>`. */
  driver?: StorageDriver;
  /**
   * Where the metadata index and the pull records live when `stores` is not given: SQLite under `<dataDir>/index/`
   * and `<dataDir>/usage/` (the default), or the PostgreSQL database of `--metadata` that several nodes share (it
   * must be migrated: `berth serve` does that at start).
   */
  metadata?: MetadataBackend;
  /** The metadata index, the pull records and the trash, opened by the caller (overrides `metadata`); closed by close() either way. */
  stores?: IndexStores;
  /**
   * Days a deleted tag, manifest or repository stays in the trash (lifecycle/policies.ts policyFor(...).trashDays),
   * asked at each delete. Default: 30.
   */
  trashDays?: (repository: string) => number;
  /** Asked before every delete; throws to refuse it (immutable tags). See lifecycle/trash.ts. */
  deleteGuard?: DeleteGuard;
  /**
   * Build (first start, missing, another schema version) or verify the index against the link files in the
   * background right after start (default true). Listings answer from the files until a first build is done.
   * The CLI's short-lived commands turn it off.
   */
  checkIndexAtStart?: boolean;
  /** Who may do what; `openGate` (everyone, everything) when not given. */
  gate?: AccessGate;
  /** Upload sessions untouched for this long are purged (default 24 h). */
  uploadMaxAgeMs?: number;
  /**
   * How many upload sessions may be open at once, per repository (default 100) and in all (default 1000); past
   * them a POST is answered 429 TOOMANYREQUESTS. See storage/upload-store.ts.
   */
  uploadLimits?: Partial<UploadLimits>;
  /** Extra mounts served beside `/v2` (token service, admin API, UI), tried in order after it. */
  mounts?: Mount[];
  /** Counts every request (route, status, bytes, duration) for `/metrics`. */
  metrics?: BerthMetrics;
  /**
   * Periodic garbage collection (see storage/garbage-collector.ts), on the hourly maintenance tick: first an hour
   * after start, then once `intervalMs` (default 24 h) has passed since the last run, sparing what is younger than
   * `graceMs` (default 1 h). `false` turns it off.
   */
  garbageCollection?: { intervalMs?: number; graceMs?: number } | false | (() => { intervalMs?: number; graceMs?: number });
  /**
   * Asked before a refusal: true when what the gate and the mirror read changed since (another process wrote it);
   * the request is then decided once more. See DistributionDeps.configurationChanged.
   */
  configurationChanged?: () => boolean;
  /** See DistributionDeps.manifestPushed. */
  manifestPushed?: (push: { repository: string; actor: string; client: string }) => Promise<void>;
  /** Timeouts and connection caps of every listener (see http/connection-policy.ts); defaults for what is not given. */
  connections?: Partial<ConnectionPolicy>;
  /**
   * The host names every listener answers for; requests for any other Host, or from another site's web page, are
   * refused (see http/request-guard.ts). Default: the loopback names, the machine's host name and the address a
   * connection reached.
   */
  names?: ListenerNames;
  /** Immutable tags and quotas, asked by the distribution API before client writes, deletes and blob pulls. */
  contentPolicy?: (stores: { index: RepositoryIndex; blobs: BlobStore; repositories: RepositoryStore; traffic: PullTraffic; events: RegistryEvents }) => ContentPolicy;
  /**
   * The locks shared with the other nodes of a cluster (cluster/cluster-locks.ts): one garbage collection at a
   * time across all of them, one request at a time per upload session. Default: this process's own. Closed by
   * whoever opened them, after close().
   */
  locks?: ClusterLocks;
  /** Pull-through mirroring, built over this registry's stores. */
  mirror?: (stores: { driver: StorageDriver; blobs: BlobStore; uploads: UploadStore; repositories: RepositoryStore; log: Logger }) => MirrorHook;
}

export interface ListenOptions {
  host: string;
  port: number;
}

export interface Registry {
  readonly events: RegistryEvents;
  readonly blobs: BlobStore;
  readonly uploads: UploadStore;
  readonly repositories: RepositoryStore;
  readonly index: RepositoryIndex;
  /** Pull counts and last pull times per tag and repository (client manifest GETs over /v2); flushed by close(). */
  readonly pulls: PullRecords;
  /** Blob bytes served per namespace and month (client blob GETs over /v2): what pull-traffic quotas read. */
  readonly traffic: PullTraffic;
  /** The one way to delete tags, manifests and repositories: into the trash, restorable until it expires. */
  readonly trash: Trash;
  /**
   * Builds or verifies the metadata index against the link files now (after the one in progress, if any), repairing
   * what differs.
   */
  checkIndex(): Promise<IndexBuildResult>;
  /** Node request listener, for embedding in another server. */
  readonly handler: RequestListener;
  /** The timeouts and connection caps in force on every listener. */
  readonly connectionPolicy: Readonly<ConnectionPolicy>;
  /** The listeners started or tracked so far. */
  servers(): Server[];
  /**
   * Runs garbage collection now (grace default 1 h). Runs never overlap: a call during a run waits for it and
   * then runs its own; while another node of the cluster collects, it throws ClusterLockBusyError (naming it).
   */
  collectGarbage(options?: GarbageCollectionRunOptions): Promise<GarbageCollectionResult>;
  /**
   * Frees what no image uses without waiting out the grace period ("reclaim now"), as far as that is safe: refused
   * (`{ refused: pushes }`) while a push in this process has sent blobs but not yet its manifest; otherwise a
   * collection that spares only what changed after this check, so a push that starts meanwhile keeps its layers.
   */
  reclaimNow(options?: { dryRun?: boolean }): Promise<{ refused: Array<{ repository: string; since: string }> } | { result: GarbageCollectionResult }>;
  /** Starts a plain-HTTP listener; resolves with its URL (port 0 picks a free port). */
  listen(options: ListenOptions): Promise<{ url: string; port: number; server: Server }>;
  /**
   * Attaches an existing server (e.g. the HTTPS listener): close() also drains it, and it gets the same timeouts and
   * shares the same connection caps as the registry's own listeners.
   */
  track(server: Server): void;
  /** Stops one listener the way close() stops them all (in-flight requests finish, up to `graceMs`); the rest keep serving. */
  closeServer(server: Server, graceMs?: number): Promise<void>;
  /** Stops accepting, lets in-flight requests finish (up to `graceMs`), then closes. */
  close(graceMs?: number): Promise<void>;
}

const hour = 60 * 60 * 1000;

export interface GarbageCollectionRunOptions {
  dryRun?: boolean;
  /** Default: the registry's (1 h unless configured). */
  graceMs?: number;
  /** The moment ages are measured from (default: when the run starts). */
  now?: Date;
}

/** The embedded registry as a plain Node library: no Electron, no CLI concerns. */
export async function createRegistry(options: RegistryOptions): Promise<Registry> {
  const log = options.logger ?? silentLogger();
  await mkdir(options.dataDir, { recursive: true, mode: privateDirMode });
  const driver = options.driver ?? createFilesystemDriver(options.dataDir);
  const blobs = createBlobStore(driver);
  const { index, usage, trash: trashStore } = options.stores ?? (await openIndexStores(options.dataDir, options.metadata ?? { kind: 'file' }));
  const pulls = createPullRecords(usage, { log });
  const traffic = createPullTraffic(usage, { log });
  const locks = options.locks ?? createLocalLocks();
  const uploads = createUploadStore(driver, blobs, { ...defaultUploadLimits, ...options.uploadLimits }, locks);
  const repositories = createRepositoryStore(driver, blobs, index);
  const events = createRegistryEvents();
  const policy = options.contentPolicy?.({ index, blobs, repositories, traffic, events });
  // Every delete (over /v2, the admin API, the CLI, retention) is a move into the trash, which asks first: immutable
  // tags refuse it there, whichever way it came.
  const deleteGuard: DeleteGuard | undefined =
    policy || options.deleteGuard
      ? async (change) => {
          await policy?.beforeDelete(change.repository, change.tags);
          await options.deleteGuard?.(change);
        }
      : undefined;
  const trash = createTrash({ repositories, blobs, store: trashStore, trashDays: options.trashDays, guard: deleteGuard, policy });
  // The hot path's only cost: a Map update per manifest GET (see pull-records.ts).
  events.on('manifest.pulled', (e) => pulls.count(e.repository, e.reference));
  const mirror = options.mirror?.({ driver, blobs, uploads, repositories, log });
  const distribution = createDistributionApi({ blobs, uploads, repositories, trash, events, log, mirror, policy, gate: options.gate ?? openGate, configurationChanged: options.configurationChanged, manifestPushed: options.manifestPushed });
  const guard = createRequestGuard(options.names ?? createListenerNames({ tlsNames: () => [] }));
  const router = createRequestRouter([{ prefix: '/v2', handle: distribution }, ...(options.mounts ?? [])], guard, log);
  const handler = options.metrics ? instrumentRequests(options.metrics, router) : router;

  const servers = new Set<Server>();
  const connectionPolicy = connectionPolicyOf(options.connections);
  const connections = createConnectionGuard({
    policy: connectionPolicy,
    log,
    onClose: (reason) => options.metrics?.connectionClosed(reason),
    onOpenChange: (open) => options.metrics?.openConnections(open),
  });
  const uploadMaxAgeMs = options.uploadMaxAgeMs ?? 24 * hour;
  const purge = () =>
    Promise.all([uploads.purge(uploadMaxAgeMs), driver.purgeLeftovers(hour)])
      .then(([sessions, leftovers]) => sessions + leftovers > 0 && log.info({ sessions, leftovers }, 'purged abandoned uploads and interrupted writes'))
      .catch((error: unknown) => log.warn({ err: error }, 'purging abandoned uploads failed'));

  // A function is asked at every use, so a changed setting applies without a restart; without intervalMs there are no
  // scheduled runs.
  const gcOption = options.garbageCollection;
  const gcSettings = (): { intervalMs?: number; graceMs?: number } | undefined =>
    gcOption === false ? undefined : typeof gcOption === 'function' ? gcOption() : { intervalMs: 24 * hour, ...gcOption };
  const gcGraceMs = () => gcSettings()?.graceMs ?? hour;
  // What the trash keeps, and the entries a collection drops as expired announced (the server audits them).
  const trashForCollection = {
    async collectionRoots(at: Date, dryRun: boolean) {
      const found = await trash.collectionRoots(at, dryRun);
      if (!dryRun && found.expired.length > 0) events.emit('trash.expired', { entries: found.expired.map(({ id, repository }) => ({ id, repository })) });
      return found;
    },
  };
  let gcRunning: Promise<unknown> = Promise.resolve();
  const pendingPushes = trackPendingPushes(events, gcGraceMs);
  const runGarbageCollection = (gcOptions: GarbageCollectionRunOptions = {}): Promise<GarbageCollectionResult> => {
    const run = gcRunning.then(() =>
      runExclusive(locks, lockNames.gc, 'a garbage collection', () =>
        collectGarbage(driver, index, { graceMs: gcOptions.graceMs ?? gcGraceMs(), dryRun: gcOptions.dryRun, now: gcOptions.now, log, trash: trashForCollection }),
      ),
    );
    gcRunning = run.catch(() => undefined);
    return run;
  };
  // The hourly maintenance tick also runs the daily collection: first an hour after start (a desktop Berth rarely
  // runs a whole day), then every interval.
  let lastGcAt: number | undefined;
  const collect = () => {
    const interval = gcSettings()?.intervalMs;
    if (interval === undefined || (lastGcAt !== undefined && Date.now() - lastGcAt < interval)) return;
    lastGcAt = Date.now();
    void runGarbageCollection()
      .then((result) => log.info(result, 'garbage collection freed %d blob(s), %d byte(s)', result.blobsDeleted, result.bytesFreed))
      .catch((error: unknown) =>
        isClusterLockBusy(error) ? log.info({ holder: error.holder }, `scheduled garbage collection skipped: ${error.message}`) : log.warn({ err: error }, 'garbage collection failed'),
      );
  };
  // Checks never overlap; close() stops one between repositories.
  const stopChecks = new AbortController();
  let indexCheck: Promise<unknown> = Promise.resolve();
  const checkIndex = (): Promise<IndexBuildResult> => {
    const run = indexCheck.then(() => buildRepositoryIndex(driver, blobs, index, { log, signal: stopChecks.signal }));
    indexCheck = run.catch((error: unknown) => {
      if (!stopChecks.signal.aborted) log.warn({ err: error }, 'checking the metadata index against the link files failed');
    });
    return run;
  };
  if (options.checkIndexAtStart !== false) void checkIndex().catch(() => undefined);

  const purgeTimer = setInterval(() => {
    void purge();
    collect();
  }, hour);
  purgeTimer.unref();
  void purge();

  function drain(server: Server, graceMs: number): Promise<void> {
    return new Promise<void>((resolve) => {
      if (!server.listening) return resolve();
      const force = setTimeout(() => server.closeAllConnections(), graceMs);
      force.unref();
      // A keep-alive connection whose response is finishing right now is not idle yet, and
      // later nothing would close it: sweep until the last in-flight request is done.
      const sweep = setInterval(() => connections.closeIdle(server), 25);
      server.close(() => {
        clearTimeout(force);
        clearInterval(sweep);
        resolve();
      });
      connections.closeIdle(server);
    });
  }

  function track(server: Server): void {
    if (servers.has(server)) return;
    servers.add(server);
    connections.attach(server);
  }

  return {
    events,
    blobs,
    uploads,
    repositories,
    index,
    pulls,
    traffic,
    trash,
    checkIndex,
    handler,
    connectionPolicy,
    servers: () => [...servers],
    track,
    collectGarbage: runGarbageCollection,

    async reclaimNow({ dryRun } = {}) {
      const refused = pendingPushes.list();
      if (refused.length > 0) return { refused };
      // Not a zero grace: everything written after this check (a push that starts now) is young and spared. The
      // second of margin covers stores whose modification times are whole seconds (S3's LastModified).
      const checkedAt = Date.now() - 1000;
      return { result: await runGarbageCollection({ dryRun, graceMs: 1, now: new Date(checkedAt) }) };
    },

    async listen({ host, port }) {
      const server = createServer(handler);
      track(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      const address = server.address() as AddressInfo;
      const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      return { url: `http://${shownHost}:${address.port}`, port: address.port, server };
    },

    async closeServer(server, graceMs = 30_000) {
      await drain(server, graceMs);
      servers.delete(server);
    },

    async close(graceMs = 30_000) {
      clearInterval(purgeTimer);
      pendingPushes.close();
      await Promise.all([...servers].map((server) => drain(server, graceMs)));
      servers.clear();
      connections.close();
      // Blobs whose clients have every byte and are gone may still be on their way into the store.
      await mirror?.settle();
      // A collection in progress finishes (it deletes only garbage, but a half-done run would leave the data
      // directory busy for whoever removes or reopens it next).
      await gcRunning;
      stopChecks.abort();
      await indexCheck;
      await index.close();
      await trashStore.close();
      // After the listeners drained: the pulls they served last are in this final flush (the traffic's first: closing
      // the pull records closes the store they share).
      await traffic.close();
      await pulls.close();
    },
  };
}

export type { AccessGate, Caller, Action, AccessNeed } from './http/access.js';
export { createListenerNames, type ListenerNames, type ListenerNamesOptions } from './http/listener-names.js';
export type { StorageDriver } from './storage/driver.js';
export { defaultUploadLimits, type UploadLimits } from './storage/upload-store.js';
export type { GarbageCollectionResult, GarbageCollectionOptions } from './storage/garbage-collector.js';
export { collectGarbage } from './storage/garbage-collector.js';
export type { Logger } from './log.js';
export { createLogger, silentLogger } from './log.js';
export { RegistryError } from './core/errors.js';
