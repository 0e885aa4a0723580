/**
 * The shape of `<dataDir>/state.json`: small, human-readable app state (settings, namespaces, hashed access
 * tokens, mirror configuration, job history). Image content and tags live in storage, never here.
 */

export const currentSchemaVersion = 1;

/** Server settings. Open-ended on purpose: features add their own keys. */
export interface Settings {
  listen?: string;
  tlsListen?: string;
  tlsNames?: string[];
  /** Scheduled syncs are not started while true (the tray's "Pause mirror"). */
  mirrorPaused?: boolean;
  /** Days of audit trail kept (whole UTC day files); absent means 365. See registry/auth/audit-retention.ts. */
  auditRetentionDays?: number;
  /** Hours between scheduled garbage collections; 0 turns them off; absent means 24. See registry/storage/gc-settings.ts. */
  gcEveryHours?: number;
  /** Minutes an unused blob is kept before collection may free it (pushes in progress); absent means 60. */
  gcGraceMinutes?: number;
  /** Hours between scheduled retention runs; 0 turns them off; absent means 24. See registry/lifecycle/retention-schedule.ts. */
  retentionEveryHours?: number;
  /** When a scheduled retention run last started on any node (ISO); the schedule's claim (registry/lifecycle/retention-schedule.ts). */
  retentionLastRunAt?: string;
  /** The tag TTL of upstreams added without one (seconds); absent means 300. */
  defaultTagTtlSeconds?: number;
  /** The watched import folder (registry/transfer/import-folder.ts); 'off' turns it off; absent means `<dataDir>/import`. Read at start. */
  importFolder?: string;
  [key: string]: unknown;
}

export interface NamespaceRecord {
  name: string;
  /** Pulls from this namespace need no credentials. Push and delete always do. */
  anonymousPull: boolean;
  createdAt: string;
}

/** Keep-the-newest and age rules; see registry/lifecycle/ (retention). Every removal goes through the trash. */
export interface RetentionRules {
  /** Keep the newest N tags of each repository; older ones are removed. */
  keepNewest?: number;
  /** How "newest" is decided: by push time (default) or by semantic version of the tag. */
  orderBy?: 'pushed' | 'semver';
  /** Untagged manifests older than this many days are removed. */
  untaggedDays?: number;
  /** Mirror namespaces: images not pulled for this many days are evicted (pinned ones never). */
  unpulledDays?: number;
}

/** Limits of a namespace; see registry/lifecycle/ (quotas). */
export interface QuotaLimits {
  /** Unique bytes of everything the namespace references (blobs counted once). */
  storageBytes?: number;
  /** Bytes served by pulls in one calendar month (UTC). */
  pullBytesPerMonth?: number;
}

/**
 * Lifecycle policy of a namespace (a NamespaceRecord's, or an upstream's pull-through namespace) or of one
 * repository in it. A repository's record overrides the fields it sets; registry/lifecycle/policies.ts resolves.
 */
export interface LifecyclePolicyRecord {
  /** `team` (a namespace) or `team/app` (one repository). */
  scope: string;
  /** Days a deleted tag or manifest stays in the trash before it is gone; absent means 30. */
  trashDays?: number;
  retention?: RetentionRules;
  /** Namespace scope only. */
  quota?: QuotaLimits;
  /** Tag patterns (`*` wildcards, e.g. `v*`, `*`) that, once pushed, cannot be moved or deleted. */
  immutableTags?: string[];
  updatedAt: string;
}

/**
 * An image retention never removes (`berth pin team/app:1`): a tag (and the manifest it points at) or a manifest by
 * digest. Kept in the app state, so every node of a cluster shares it.
 */
export interface PinRecord {
  repository: string;
  /** A tag or a digest. */
  reference: string;
  createdAt: string;
  /** Who pinned it: 'admin' (CLI, GUI). */
  by: string;
}

export type Action = 'pull' | 'push' | 'delete';

/** `pattern` is `*` (everything), `<prefix>/*` (a namespace and everything under it) or an exact repository. */
export interface Scope {
  pattern: string;
  actions: Action[];
}

export interface TokenRecord {
  id: string;
  /** Unique among non-revoked tokens; `[a-zA-Z0-9._-]{1,64}`; the username for `docker login`. */
  name: string;
  /** sha256 hex of the secret. The secret itself is shown once and never stored. */
  hash: string;
  scopes: Scope[];
  createdAt: string;
  expiresAt?: string | null;
  lastUsedAt?: string | null;
  revokedAt?: string | null;
}

/** An upstream registry Berth mirrors. Its name is also its pull-through namespace (`hub/library/redis`). */
export interface UpstreamRecord {
  name: string;
  /** Base URL, e.g. `https://registry-1.docker.io`. */
  url: string;
  /** Other host names clients use for it (containerd's `?ns=docker.io`). */
  aliases: string[];
  /** Receives requests with no known namespace (Docker's `registry-mirrors`). At most one upstream. */
  isDefault: boolean;
  username?: string;
  /** The password, encrypted at rest (AES-256-GCM, the secret box's key: state/metadata-backend.ts openSecretBox); never logged. */
  passwordSealed?: string;
  /** PEM of a CA to trust for this upstream only. */
  caPem?: string;
  /** Skip TLS verification: refused unless the upstream is on loopback. */
  insecure: boolean;
  /** How long a tag resolved upstream is trusted before asking again (HEAD). */
  tagTtlSeconds: number;
  createdAt: string;
}

/** A scheduled mirror of repositories from an upstream into a namespace. */
export interface SyncRuleRecord {
  name: string;
  upstream: string;
  /** Repository names upstream (`library/redis`), or prefixes ending in `/*` (`bitnami/*`). */
  repositories: string[];
  /** Tags to take: include/exclude regular expressions, a semver range, the newest N (by semver, then lexical). */
  tags: { include?: string; exclude?: string; semver?: string; newest?: number };
  /** `os/arch[/variant]`; empty means every platform of an index. */
  platforms: string[];
  /** Target namespace; defaults to the upstream's name. */
  into: string;
  /** Interval between runs in seconds; null runs only on demand. */
  everySeconds: number | null;
  paused: boolean;
  createdAt: string;
  lastRunAt?: string | null;
}

export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

/** One run of a sync rule. Progress counters are updated while it runs; errors are kept with the job. */
export interface JobRecord {
  id: string;
  rule: string;
  status: JobStatus;
  queuedAt: string;
  startedAt?: string | null;
  finishedAt?: string | null;
  images: { done: number; total: number };
  blobs: { done: number; total: number };
  bytes: { done: number; total: number };
  errors: string[];
  /** Images (`library/redis:7`) this run stored; at most `jobListLimit`, the counters hold the totals. */
  copied?: string[];
  /** Images that were already here, complete and current, so nothing was fetched. */
  skipped?: string[];
  /** Images that failed, each with its reason (also in `errors`, which holds failures that are not one image's). */
  failed?: Array<{ image: string; reason: string }>;
  /** What the run did, in order; the newest `jobLogLimit` lines. */
  log?: Array<{ time: string; message: string }>;
  /** The job this one retries (a new run of the same rule). */
  retryOf?: string;
}

/** Caps on a job's lists, so a rule over thousands of tags does not bloat the state file. */
export const jobListLimit = 1000;
export const jobLogLimit = 200;

/**
 * Admin (GUI) sign-in, separate from registry tokens: one-time codes from `berth ui-url` and the browser sessions
 * they opened. Only SHA-256 hashes are stored; both carry their expiry. Owned by registry/admin/sign-in.ts.
 */
export interface AdminSignInState {
  codes: Array<{ hash: string; expiresAt: string }>;
  sessions: Array<{ hash: string; createdAt: string; expiresAt: string }>;
}

export interface State {
  schemaVersion: typeof currentSchemaVersion;
  /** Absent until the first `berth ui-url`. */
  adminSignIn?: AdminSignInState;
  settings: Settings;
  namespaces: NamespaceRecord[];
  tokens: TokenRecord[];
  upstreams: UpstreamRecord[];
  syncRules: SyncRuleRecord[];
  jobs: JobRecord[];
  /** Lifecycle policies (trash days, retention, quotas, immutable tags), one record per scope. */
  policies: LifecyclePolicyRecord[];
  /** Images retention never removes; see registry/lifecycle/pins.ts. */
  pins: PinRecord[];
}

export function defaultState(): State {
  return {
    schemaVersion: currentSchemaVersion,
    settings: {},
    namespaces: [],
    tokens: [],
    upstreams: [],
    syncRules: [],
    jobs: [],
    policies: [],
    pins: [],
  };
}

export class StateFileError extends Error {
  readonly code = 'BERTH_STATE_INVALID';
  constructor(readonly path: string, message: string, options?: { cause?: unknown }) {
    super(`${path}: ${message}`, options);
    this.name = 'StateFileError';
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Checks parsed JSON and fills sections a hand-edited or older file lacks. Refuses (rather than "repairs")
 * anything it does not understand, so a typo never silently wipes tokens on the next write.
 */
export function normalizeState(raw: unknown, path: string): State {
  if (!isPlainObject(raw)) throw new StateFileError(path, 'expected a JSON object at the top level');
  const version = raw.schemaVersion ?? currentSchemaVersion;
  if (version !== currentSchemaVersion) {
    const message = `schemaVersion ${String(version)} is not supported by this Berth (expects ${currentSchemaVersion})`;
    throw new StateFileError(path, message);
  }
  // Unknown top-level keys are kept as they are: a newer feature's section must survive an older writer.
  const state = { ...raw, ...defaultState() } as State;
  if (raw.settings !== undefined) {
    if (!isPlainObject(raw.settings)) throw new StateFileError(path, '"settings" must be an object');
    state.settings = raw.settings;
  }
  for (const key of ['namespaces', 'tokens', 'upstreams', 'syncRules', 'jobs', 'policies', 'pins'] as const) {
    const value = raw[key];
    if (value === undefined) continue;
    if (!Array.isArray(value) || !value.every(isPlainObject)) {
      throw new StateFileError(path, `"${key}" must be an array of objects`);
    }
    // Element shapes are checked by their owners (tokens by access-tokens.ts, ...), not here.
    (state[key] as unknown[]) = value;
  }
  return state;
}
