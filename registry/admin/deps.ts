import type { AuditLog } from '../auth/audit-log.js';
import type { EncryptingDriver } from '../storage/encryption/encrypting-driver.js';
import type { Registry } from '../index.js';
import type { RetentionScheduler } from '../lifecycle/retention-schedule.js';
import type { Logger } from '../log.js';
import type { StateStore } from '../state/index.js';
import type { StorageUsageMeter } from '../metrics/storage-usage.js';
import type { CertificateManager } from '../tls/index.js';
import type { ImageImporter } from '../transfer/image-importer.js';
import type { ApplyListenersResponse, ListenerInfo, MirrorControl } from './contract.js';
import type { AdminEventHub } from './event-hub.js';
import type { AdminSignIn } from './sign-in.js';
import type { SignInFailures } from './sign-in-failures.js';

/** What the admin API is built from: one Berth instance's parts. */
export interface AdminDeps {
  /**
   * The registry, or a function returning it: the registry takes the admin API's mounts when it is created, so
   * the composer passes `() => registry` and assigns it right after createRegistry(). Resolved per request.
   */
  registry: Registry | (() => Registry);
  state: StateStore;
  audit: AuditLog;
  dataDir: string;
  /** Where image content lives, for the overview and settings (storage/storage-backend.ts describeStorage). */
  storageBackend: string;
  /**
   * The blob store's usage meter over the instance's storage driver, shared with /metrics (berth-server.ts passes
   * it). Default: a meter of the data directory's blob store, for a registry on the filesystem driver.
   */
  storageUsage?: StorageUsageMeter;
  /** The listeners' URLs, read at request time (they are known only after listen()). */
  urls: () => ListenerInfo;
  /** Present when this process runs the HTTPS listener; a function when it is created after the admin API. */
  certificates?: CertificateManager | (() => CertificateManager | undefined);
  log: Logger;
  /** Encrypts an upstream password for state.json (AES-GCM, key in the data directory). */
  sealSecret: (plain: string) => string;
  /**
   * Moves the running listeners to their saved addresses ("Apply and restart"), when this process runs them;
   * rejects with code BERTH_LISTENER_APPLY_FAILED (the old listener keeps serving).
   */
  applyListeners?: () => Promise<ApplyListenersResponse>;
  /** The mirror service, when it runs in this process. */
  mirror?: MirrorControl;
  version: string;
  /**
   * Failed sign-in links: audited in aggregate, limited per address. Pass one to close (and so write its pending
   * audit summary) at shutdown; without it the admin API makes its own, whose last summary a shutdown may drop.
   */
  signInFailures?: SignInFailures;
  /**
   * The server's retention runs (lifecycle/retention-schedule.ts), a function when it is created after the admin API.
   * Without one, "Preview" and "Run now" run directly over the registry's stores.
   */
  retention?: () => RetentionScheduler | undefined;
  /** When the server started (uptime in health and the overview). Default: when the admin API was created. */
  startedAt?: number;
  /** Imports archives uploaded by the GUI (POST /api/images/import); created after the admin API, so a function. */
  importer?: () => ImageImporter | undefined;
  /** The instance's storage (under its encrypting layer), for encryption at rest (routes/encryption.ts). */
  encryption?: EncryptingDriver;
}

/** What every route module gets: the deps plus the pieces createAdminApi builds once. */
export interface AdminContext extends Omit<AdminDeps, 'registry' | 'certificates' | 'startedAt'> {
  readonly registry: Registry;
  readonly certificates: CertificateManager | undefined;
  hub: AdminEventHub;
  signIn: AdminSignIn;
  signInFailures: SignInFailures;
  startedAt: number;
}
