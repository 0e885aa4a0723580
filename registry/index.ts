import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir } from 'node:fs/promises';
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
import { instrumentRequests, type BerthMetrics, type RequestListener } from './metrics/index.js';
import { silentLogger, type Logger } from './log.js';
import { createBlobStore, type BlobStore } from './storage/blob-store.js';
import type { StorageDriver } from './storage/driver.js';
import { createFilesystemDriver } from './storage/filesystem-driver.js';
import { collectGarbage, type GarbageCollectionResult } from './storage/garbage-collector.js';
import { createRepositoryStore, type RepositoryStore } from './storage/repository-store.js';
import { createUploadStore, defaultUploadLimits, type UploadLimits, type UploadStore } from './storage/upload-store.js';

export interface RegistryOptions {
  /** Berth's data directory: blobs, repositories, state, keys. */
  dataDir: string;
  logger?: Logger;
  /** Defaults to the filesystem driver on `<dataDir>`. */
  driver?: StorageDriver;
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
  garbageCollection?: { intervalMs?: number; graceMs?: number } | false;
  /**
   * Asked before a refusal: true when what the gate and the mirror read changed since (another process wrote it);
   * the request is then decided once more. See DistributionDeps.configurationChanged.
   */
  configurationChanged?: () => boolean;
  /** Timeouts and connection caps of every listener (see http/connection-policy.ts); defaults for what is not given. */
  connections?: Partial<ConnectionPolicy>;
  /**
   * The host names every listener answers for; requests for any other Host, or from another site's web page, are
   * refused (see http/request-guard.ts). Default: the loopback names, the machine's host name and the address a
   * connection reached.
   */
  names?: ListenerNames;
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
  /** Node request listener, for embedding in another server. */
  readonly handler: RequestListener;
  /** The timeouts and connection caps in force on every listener. */
  readonly connectionPolicy: Readonly<ConnectionPolicy>;
  /** The listeners started or tracked so far. */
  servers(): Server[];
  /**
   * Runs garbage collection now (grace default 1 h). Runs never overlap: a call during a run waits for it and
   * then runs its own.
   */
  collectGarbage(options?: { dryRun?: boolean; graceMs?: number }): Promise<GarbageCollectionResult>;
  /** Starts a plain-HTTP listener; resolves with its URL (port 0 picks a free port). */
  listen(options: ListenOptions): Promise<{ url: string; port: number; server: Server }>;
  /**
   * Attaches an existing server (e.g. the HTTPS listener): close() also drains it, and it gets the same timeouts and
   * shares the same connection caps as the registry's own listeners.
   */
  track(server: Server): void;
  /** Stops accepting, lets in-flight requests finish (up to `graceMs`), then closes. */
  close(graceMs?: number): Promise<void>;
}

const hour = 60 * 60 * 1000;

/** The embedded registry as a plain Node library: no Electron, no CLI concerns. */
export async function createRegistry(options: RegistryOptions): Promise<Registry> {
  const log = options.logger ?? silentLogger();
  await mkdir(options.dataDir, { recursive: true, mode: privateDirMode });
  const driver = options.driver ?? createFilesystemDriver(options.dataDir);
  const blobs = createBlobStore(driver);
  const uploads = createUploadStore(driver, blobs, { ...defaultUploadLimits, ...options.uploadLimits });
  const repositories = createRepositoryStore(driver, blobs);
  const events = createRegistryEvents();
  const mirror = options.mirror?.({ driver, blobs, uploads, repositories, log });
  const distribution = createDistributionApi({ blobs, uploads, repositories, events, log, mirror, gate: options.gate ?? openGate, configurationChanged: options.configurationChanged });
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

  const gcSettings = options.garbageCollection === false ? undefined : options.garbageCollection ?? {};
  const gcGraceMs = gcSettings?.graceMs ?? hour;
  let gcRunning: Promise<unknown> = Promise.resolve();
  const runGarbageCollection = (gcOptions: { dryRun?: boolean; graceMs?: number } = {}): Promise<GarbageCollectionResult> => {
    const run = gcRunning.then(() => collectGarbage(driver, { graceMs: gcOptions.graceMs ?? gcGraceMs, dryRun: gcOptions.dryRun }));
    gcRunning = run.catch(() => undefined);
    return run;
  };
  // The hourly maintenance tick also runs the daily collection: first an hour after start (a desktop Berth rarely
  // runs a whole day), then every interval.
  let nextGcAt = Date.now();
  const collect = () => {
    if (!gcSettings || Date.now() < nextGcAt) return;
    nextGcAt = Date.now() + (gcSettings.intervalMs ?? 24 * hour);
    void runGarbageCollection()
      .then((result) => log.info(result, 'garbage collection freed %d blob(s), %d byte(s)', result.blobsDeleted, result.bytesFreed))
      .catch((error: unknown) => log.warn({ err: error }, 'garbage collection failed'));
  };
  const purgeTimer = setInterval(() => {
    void purge();
    collect();
  }, hour);
  purgeTimer.unref();
  void purge();

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
    handler,
    connectionPolicy,
    servers: () => [...servers],
    track,
    collectGarbage: runGarbageCollection,

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

    async close(graceMs = 30_000) {
      clearInterval(purgeTimer);
      await Promise.all(
        [...servers].map(
          (server) =>
            new Promise<void>((resolve) => {
              if (!server.listening) return resolve();
              const force = setTimeout(() => server.closeAllConnections(), graceMs);
              force.unref();
              // A keep-alive connection whose response is finishing right now is not idle yet, and
              // later nothing would close it: sweep until the last in-flight request is done.
              const sweep = setInterval(() => connections.closeIdle(), 25);
              server.close(() => {
                clearTimeout(force);
                clearInterval(sweep);
                resolve();
              });
              connections.closeIdle();
            }),
        ),
      );
      servers.clear();
      connections.close();
      // A collection in progress finishes (it deletes only garbage, but a half-done run would leave the data
      // directory busy for whoever removes or reopens it next).
      await gcRunning;
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
