/**
 * The contract of Berth's admin API (`/api/...`): the JSON the GUI (`renderer/`) and scripts exchange with the
 * server. Types and plain constants only, no runtime import: a browser bundle imports this file as it is.
 *
 * Conventions
 * - Bodies are JSON (`Content-Type: application/json`); times are ISO 8601 strings (UTC); sizes are bytes.
 * - Authentication: every route except `GET /api/health` needs the `berth_admin` session cookie, set by
 *   `GET /ui/signin?code=CODE` (run `berth ui-url` to get a sign-in link). Without it: 401 BERTH_ADMIN_SIGNIN_REQUIRED.
 * - CSRF defence: every POST, PATCH and DELETE must carry the header `X-Berth-Admin: 1` or a
 *   `Content-Type: application/json` body (neither can be sent cross-site without a CORS preflight, which Berth
 *   never grants). Otherwise: 403 BERTH_ADMIN_CSRF. The GUI simply always sends `X-Berth-Admin: 1`.
 * - Host and Origin: a request whose Host is not one of Berth's names (the loopback names, the machine's name, the
 *   TLS names, the address the client connected to) is answered 421 BERTH_MISDIRECTED; one whose Origin header is
 *   another origin's, 403 BERTH_ORIGIN_REFUSED. The GUI's own requests carry its own origin or none.
 * - Errors: any non-2xx answer has the body `ErrorBody`. Codes are stable (`BERTH_*`); messages are for humans.
 * - Repository names contain slashes, so they travel in the query string (`?repository=team/app`), never in the
 *   path. Other names (namespaces, tokens, upstreams, sync rules) are single path segments, URL-encoded
 *   (use `adminPaths`).
 * - 201 for creations, 200 with the changed record for updates, 204 (no body) for deletions.
 */

// ---------------------------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------------------------

export interface ErrorBody {
  error: {
    /** `BERTH_*` (see `AdminErrorCode`, plus codes of the token, TLS and mirror modules). */
    code: string;
    message: string;
    /** What to do about it, when there is something to do. */
    hint?: string;
  };
}

/**
 * Codes the admin API itself produces. Codes of other modules pass through unchanged: BERTH_TOKEN_NAME_INVALID (400),
 * BERTH_TOKEN_NAME_TAKEN (409), BERTH_TOKEN_NOT_FOUND (404), BERTH_SCOPE_INVALID (400), BERTH_EXPIRY_INVALID (400),
 * BERTH_UPSTREAM_CONFIG_INVALID (400), BERTH_TLS_NAME_INVALID (400), BERTH_CLUSTER_LOCK_BUSY (409: a garbage collection
 * runs on another node of the cluster); registry-protocol errors appear as
 * `BERTH_REGISTRY_<OCI code>` (e.g. BERTH_REGISTRY_MANIFEST_INVALID) with the OCI status.
 */
export type AdminErrorCode =
  | 'BERTH_ADMIN_SIGNIN_REQUIRED' // 401: no or expired session cookie
  | 'BERTH_ADMIN_SIGNIN_INVALID' // 401/400: unknown, used or expired sign-in code
  | 'BERTH_ADMIN_CSRF' // 403: mutation without X-Berth-Admin: 1 / JSON body
  | 'BERTH_MISDIRECTED' // 421: the Host header names none of Berth's names (DNS rebinding, or a name to add to the TLS names)
  | 'BERTH_ORIGIN_REFUSED' // 403: sent by a web page of another origin
  | 'BERTH_BAD_REQUEST' // 400: malformed JSON, wrong field types
  | 'BERTH_VALIDATION' // 400: a value is out of range (listen address, name grammar, ...)
  | 'BERTH_NOT_FOUND' // 404: unknown route
  | 'BERTH_NAMESPACE_NOT_FOUND' // 404
  | 'BERTH_NAMESPACE_EXISTS' // 409
  | 'BERTH_REPOSITORY_NOT_FOUND' // 404
  | 'BERTH_MANIFEST_NOT_FOUND' // 404
  | 'BERTH_UPSTREAM_NOT_FOUND' // 404
  | 'BERTH_UPSTREAM_EXISTS' // 409
  | 'BERTH_UPSTREAM_IN_USE' // 409: a sync rule still uses it
  | 'BERTH_UPSTREAM_HOST_TAKEN' // 409: its URL host or an alias already routes to another upstream
  | 'BERTH_NAMESPACE_HAS_CONTENT' // 409: the upstream's namespace holds local repositories (see `adopt`)
  | 'BERTH_SYNC_RULE_NOT_FOUND' // 404
  | 'BERTH_SYNC_RULE_EXISTS' // 409
  | 'BERTH_GC_PUSH_IN_PROGRESS' // 409: reclaim now while a push or a sync job is still bringing in blobs
  | 'BERTH_ENCRYPTION_RUNNING' // 409: enable encryption while the pass that encrypts existing blobs still runs
  | 'BERTH_JOB_NOT_FOUND' // 404
  | 'BERTH_JOB_STATE' // 409: cancel of a job that is not running, retry of one that did not fail
  | 'BERTH_MIRROR_UNAVAILABLE' // 503: the mirror service is not running in this process
  | 'BERTH_CA_NOT_FOUND' // 404: no local CA yet (TLS listener never started)
  | 'BERTH_LISTENER_APPLY_FAILED' // 409: a saved listener address could not be taken (in use...); the old one keeps serving
  | 'BERTH_RESTART_UNAVAILABLE' // 503: this process does not run the listeners (restart Berth to apply)
  | 'BERTH_RETENTION_INVALID' // 400: a retention rule out of range, or unpulled-days outside a mirror namespace
  | 'BERTH_PIN_INVALID' // 400: a pin that names no repository, tag or digest
  | 'BERTH_PIN_NOT_FOUND' // 404
  | 'BERTH_IMPORT_UNAVAILABLE' // 503: this process does not import archives
  | 'BERTH_ARCHIVE_INVALID' // 400: an uploaded archive is corrupt or unsafe (the message names the entry); nothing imported
  | 'BERTH_ARCHIVE_REFUSED' // 400: a well-formed archive Berth will not take (names, a mirrored namespace); nothing imported
  | 'BERTH_TRASH_ENTRY_NOT_FOUND' // 404: no such trash entry (restored, emptied, or never there)
  | 'BERTH_TRASH_EXPIRED' // 410: the entry's retention ran out
  | 'BERTH_TRASH_TAG_TAKEN' // 409: a tag to restore now names another manifest (restore with force, or as another tag)
  | 'BERTH_TRASH_CONTENT_GONE' // 410: blobs the entry needs are no longer stored
  | 'BERTH_TRASH_INVALID' // 400: e.g. a new tag name for a deleted repository
  | 'BERTH_INTERNAL'; // 500: a bug; details are in the server log, never in the answer

// ---------------------------------------------------------------------------------------------------------------
// Routes
// ---------------------------------------------------------------------------------------------------------------

/** Fixed paths. Parameterised ones are built by `adminPaths`. */
export const adminRoutes = {
  health: '/api/health',
  overview: '/api/overview',
  namespaces: '/api/namespaces',
  repositories: '/api/repositories',
  tags: '/api/tags',
  manifests: '/api/manifests',
  untagged: '/api/untagged',
  content: '/api/content',
  tokens: '/api/tokens',
  upstreams: '/api/upstreams',
  syncRules: '/api/sync-rules',
  jobs: '/api/jobs',
  settings: '/api/settings',
  settingsApply: '/api/settings/apply',
  audit: '/api/audit',
  auditExport: '/api/audit/export',
  storage: '/api/storage',
  storageGc: '/api/storage/gc',
  /**
   * `POST` with the archive as the raw body (Content-Type application/x-tar or application/octet-stream, header
   * X-Berth-Admin: 1), `?name=FILE` for messages and `?repository=REPO` (optional, see `berth import`): imports it
   * (ImportArchiveResponse); `import.progress` events report the upload and the import on /api/events.
   */
  imageImport: '/api/images/import',
  encryption: '/api/encryption',
  encryptionEnable: '/api/encryption/enable',
  encryptionRotate: '/api/encryption/rotate',
  caCertificate: '/api/ca.crt',
  trust: '/api/trust',
  events: '/api/events',
  retention: '/api/retention',
  retentionSchedule: '/api/retention/schedule',
  retentionRun: '/api/retention/run',
  pins: '/api/pins',
  signOut: '/api/signout',
  trash: '/api/trash',
  trashDays: '/api/trash/days',
  /** Not under /api: the link `berth ui-url` prints. Consumes `?code=`, sets the cookie, 303 to `/ui/`. */
  signIn: '/ui/signin',
} as const;

/** The session cookie's name. HttpOnly: the GUI never reads it, the browser just sends it. */
export const adminCookieName = 'berth_admin';
/** The CSRF header and its value (see the conventions above). */
export const adminCsrfHeader = 'X-Berth-Admin';
export const adminCsrfValue = '1';

const segment = (value: string): string => encodeURIComponent(value);
function query(params: Record<string, string | number | undefined>): string {
  const parts = Object.entries(params)
    .filter((entry): entry is [string, string | number] => entry[1] !== undefined && entry[1] !== '')
    .map(([key, value]) => `${encodeURIComponent(key)}=${encodeURIComponent(String(value))}`);
  return parts.length > 0 ? `?${parts.join('&')}` : '';
}

/** Path builders (plain string functions, safe in the browser). */
export const adminPaths = {
  namespace: (name: string) => `${adminRoutes.namespaces}/${segment(name)}`,
  namespaceQuota: (name: string) => `${adminRoutes.namespaces}/${segment(name)}/quota`,
  namespaceImmutableTags: (name: string) => `${adminRoutes.namespaces}/${segment(name)}/immutable-tags`,
  repositories: (q: RepositoriesQuery = {}) => `${adminRoutes.repositories}${query({ ...q })}`,
  /** `DELETE` deletes the repository (see DeleteRepositoryResponse). */
  repository: (repository: string) => `${adminRoutes.repositories}${query({ repository })}`,
  tags: (repository: string, q: TagsQuery = {}) => `${adminRoutes.tags}${query({ repository, ...q })}`,
  manifest: (repository: string, reference: string) => `${adminRoutes.manifests}${query({ repository, reference })}`,
  untagged: (repository: string) => `${adminRoutes.untagged}${query({ repository })}`,
  content: (repository: string, digest: string, within?: string) => `${adminRoutes.content}${query({ repository, digest, in: within })}`,
  token: (name: string) => `${adminRoutes.tokens}/${segment(name)}`,
  /** `GET` lists entries (`?namespace=`), `DELETE` empties (`?namespace=&expiredOnly=true`). */
  trash: (q: { namespace?: string; expiredOnly?: boolean } = {}) => `${adminRoutes.trash}${query({ namespace: q.namespace, expiredOnly: q.expiredOnly ? 'true' : undefined })}`,
  trashRestore: (id: string) => `${adminRoutes.trash}/${segment(id)}/restore`,
  upstream: (name: string) => `${adminRoutes.upstreams}/${segment(name)}`,
  upstreamTest: (name: string) => `${adminRoutes.upstreams}/${segment(name)}/test`,
  syncRule: (name: string) => `${adminRoutes.syncRules}/${segment(name)}`,
  syncRuleRun: (name: string) => `${adminRoutes.syncRules}/${segment(name)}/run`,
  jobs: (limit?: number) => `${adminRoutes.jobs}${query({ limit })}`,
  job: (id: string) => `${adminRoutes.jobs}/${segment(id)}`,
  jobCancel: (id: string) => `${adminRoutes.jobs}/${segment(id)}/cancel`,
  jobRetry: (id: string) => `${adminRoutes.jobs}/${segment(id)}/retry`,
  audit: (q: AuditQueryParams = {}) => `${adminRoutes.audit}${query({ ...q })}`,
  auditExport: (q: Omit<AuditQueryParams, 'limit' | 'offset'> = {}) => `${adminRoutes.auditExport}${query({ ...q })}`,
  pins: (repository?: string) => `${adminRoutes.pins}${query({ repository })}`,
  /** `DELETE` unpins. */
  pin: (repository: string, reference: string) => `${adminRoutes.pins}${query({ repository, reference })}`,
} as const;

// ---------------------------------------------------------------------------------------------------------------
// Health and overview
// ---------------------------------------------------------------------------------------------------------------

/** `GET /api/health` (no auth). */
export interface HealthResponse {
  status: 'ok';
  version: string;
  uptimeSeconds: number;
}

export interface ListenerInfo {
  /** `http://127.0.0.1:5000`; absent when that listener is off. */
  http?: string;
  https?: string;
}

export interface CertificateSummary {
  /** `CN=...` style subject names of the certificate, as strings (DNS names and IPs for the server one). */
  names: string[];
  notBefore: string;
  notAfter: string;
  fingerprint256: string;
}

export interface TlsStatus {
  enabled: boolean;
  ca?: CertificateSummary;
  server?: CertificateSummary;
}

export interface StorageResponse {
  /** Bytes of every stored blob (layers, configs, manifests). */
  bytes: number;
  blobs: number;
  repositories: number;
}

/**
 * `GET /api/encryption` → 200 `EncryptionStatusResponse`: encryption at rest of image content (blobs, manifests,
 * upload data; storage/encryption/). `POST /api/encryption/enable` (no body) → 202 `EncryptionStatusResponse`: makes
 * the master key ring when there is none, turns encryption on for new content at once, and encrypts the existing
 * blobs in the background (`pass` shows its progress). `POST /api/encryption/rotate` (no body) → 200
 * `EncryptionRotateResponse`: a new master key, every data key re-wrapped (no blob rewritten). Audited as
 * `storage.encryption.enable` and `storage.encryption.rotate`. The same as `berth encryption status|enable|rotate`.
 */
export interface EncryptionStatusResponse {
  enabled: boolean;
  enabledAt?: string;
  /** When the deployment was started with `--encryption off` (a later default start keeps it off). */
  offChosenAt?: string;
  /** Where the master keys are kept (`file PATH`, the metadata database, or the desktop's keychain), and their ids: never the keys. */
  keyRing: { source: string; activeKey?: string; retiredKeys: string[] };
  blobs: { encrypted: number; plaintext: number };
  /** The background pass that encrypts existing blobs, when one ran in this server since it started. */
  pass?: { running: boolean; encrypted: number; error?: string };
}

export interface EncryptionRotateResponse {
  activeKey: string;
  previousKey: string;
  rewrapped: number;
  dataKeys: number;
  dropped: string[];
  kept: string[];
}

/**
 * `POST /api/storage/gc` (body `GarbageCollectionRequest`, may be empty) → 200 `GarbageCollectionResponse`.
 * Frees the blobs no manifest references any more (layers of deleted images). Tagged and untagged manifests are
 * kept, since an untagged one is still pullable by digest: to free an image, delete its manifest by digest first.
 * What was uploaded or linked in the last hour is spared (pushes in progress). Runs one at a time: a request during
 * a run waits for it. Audited as `storage.gc` when something was deleted.
 */
export interface GarbageCollectionRequest {
  /** Report what would be freed, delete nothing. Default false. */
  dryRun?: boolean;
  /**
   * "Reclaim now": do not wait out the grace period. Safe for pushes: refused with 409 BERTH_GC_PUSH_IN_PROGRESS
   * while a push has sent blobs but not yet its manifest, or a sync job is copying; otherwise only what changed after
   * that check is spared (`graceMs` is then 1). Default false.
   */
  skipGracePeriod?: boolean;
}

export interface GarbageCollectionResponse {
  dryRun: boolean;
  /** Unreferenced blobs and links younger than this were spared. */
  graceMs: number;
  repositories: number;
  /** Manifest revisions kept (tagged or not), summed over repositories. */
  manifestsKept: number;
  /** Blobs stored after the run (dry run: that would be). */
  blobsKept: number;
  bytesKept: number;
  /** Blobs deleted (dry run: that would be). */
  blobsDeleted: number;
  bytesFreed: number;
  /** Links making a blob visible in a repository that no manifest of it references any more. */
  layerLinksRemoved: number;
  /** Unreferenced blobs and links spared because they are younger than `graceMs`. */
  youngSpared: number;
  /** Revisions whose bytes could not be read: their repository's layers were all kept. */
  unreadableManifests: number;
  /** Blobs (and layer links) a push linked, stored again or read while the run was going on: kept. */
  relinkedDuringRun: number;
  /** Trash entries that had expired and were dropped by this run (dry run: that would be). */
  trashEntriesExpired: number;
  /** Manifests kept because an unexpired trash entry holds them (restorable). */
  trashManifestsKept: number;
  startedAt: string;
  durationMs: number;
  /** Milliseconds per step of the run (recover, verify, trash, mark, layerSweep, secondLook, blobSweep). */
  phasesMs: Record<'recover' | 'verify' | 'trash' | 'mark' | 'layerSweep' | 'secondLook' | 'blobSweep', number>;
}

export interface UpstreamsSummary {
  total: number;
  online: number;
  offline: number;
}

/** Copy-paste lines built from the real listener URLs. */
export interface SetupSnippets {
  /** `docker login 127.0.0.1:5000 -u NAME` */
  dockerLogin: string;
  podmanLogin: string;
  /** `/etc/containerd/certs.d/<host>/hosts.toml` content. */
  containerdHostsToml: string;
  /** `{"registry-mirrors": [...]}` (plus insecure-registries for plain HTTP), for /etc/docker/daemon.json. */
  dockerDaemonJson: string;
  /** Example push and pull, e.g. `docker tag alpine 127.0.0.1:5000/team/alpine && docker push ...`. */
  pushExample: string;
}

/** `GET /api/overview`: the home page in one request. */
export interface OverviewResponse {
  version: string;
  uptimeSeconds: number;
  listeners: ListenerInfo;
  /** The address clients should use, without scheme: the plain-HTTP loopback listener when on (no trust setup
   * needed for Docker and Podman), else the HTTPS one. E.g. `127.0.0.1:5000`. */
  registryHost?: string;
  tls: TlsStatus;
  storage: StorageResponse;
  namespaces: number;
  repositories: number;
  tokens: { active: number };
  upstreams: UpstreamsSummary;
  /** The newest 10 audit events, newest first. */
  recentActivity: AuditEvent[];
  setup: SetupSnippets;
  dataDir: string;
  /** Where image content lives: `filesystem <dataDir>`, or the `s3://` URL of `--storage` (it holds no secret). */
  storageBackend: string;
}

// ---------------------------------------------------------------------------------------------------------------
// Namespaces
// ---------------------------------------------------------------------------------------------------------------

export interface Namespace {
  name: string;
  anonymousPull: boolean;
  createdAt: string;
  /** Repositories currently stored in it. */
  repositories: number;
  /** What its quotas count, now. */
  usage: NamespaceUsageView;
  /** Its limits; a field absent is no limit. */
  quota: NamespaceQuota;
  /** Tag patterns (`*` wildcards) that, once pushed, cannot be moved or deleted in it. */
  immutableTags: string[];
}

export interface NamespaceUsageView {
  /** Unique bytes its repositories reference (a blob shared by two of them counted once). */
  storageBytes: number;
  /** Blob bytes pulled from it this calendar month (UTC). */
  pullBytesThisMonth: number;
}

export interface NamespaceQuota {
  storageBytes?: number;
  pullBytesPerMonth?: number;
}

/**
 * `PUT /api/namespaces/:name/quota` → 200 `Namespace`. Each field: a whole number of bytes (at least 1), or null to
 * remove that limit; a field left out is unchanged. A quota below the current usage is accepted: pushes that add
 * bytes are refused (DENIED, naming the quota and the usage) until the usage falls below it.
 */
export interface SetQuotaRequest {
  storageBytes?: number | null;
  pullBytesPerMonth?: number | null;
}

/**
 * `PUT /api/namespaces/:name/immutable-tags` → 200 `Namespace`. Replaces the namespace's patterns (tag characters and
 * `*`, at most 128 each, at most 100); an empty list makes every tag mutable again. Mirror namespaces are exempt.
 */
export interface SetImmutableTagsRequest {
  patterns: string[];
}

/** `GET /api/namespaces` */
export interface NamespacesResponse {
  namespaces: Namespace[];
}

/** `POST /api/namespaces` → 201 `Namespace`. Name: lowercase repository-name component (`[a-z0-9]+([._-][a-z0-9]+)*`). */
export interface CreateNamespaceRequest {
  name: string;
  anonymousPull?: boolean;
}

/** `PATCH /api/namespaces/:name` → 200 `Namespace`. */
export interface UpdateNamespaceRequest {
  anonymousPull?: boolean;
}

/**
 * `DELETE /api/namespaces/:name` → 204. Removes the namespace's settings only (as `berth namespace delete`): images
 * stored under it are kept, and the namespace is re-created on its next push.
 */

// ---------------------------------------------------------------------------------------------------------------
// Repositories, tags, manifests
// ---------------------------------------------------------------------------------------------------------------

export interface RepositoriesQuery {
  /** Only repositories in this namespace (first path component). */
  namespace?: string;
  /** Case-insensitive substring of the repository name. */
  q?: string;
}

export interface RepositorySummary {
  /** `team/app` */
  name: string;
  namespace: string;
  tagCount: number;
  /**
   * Unique bytes it holds (manifests, configs, layers; each blob once, shared or not): what its namespace's storage
   * quota counts for it, so a layer uploaded but never referenced counts too.
   */
  size: number;
  /** The newest push of a tag (of a manifest, for a repository without tags); absent when it holds none. */
  lastPushedAt?: string;
  /** Client manifest GETs over /v2 on the last 7 UTC days, today included (HEAD requests are not pulls). */
  pullsLast7Days: number;
  /** Every client manifest GET over /v2 ever recorded. */
  pullCount: number;
  /** The newest pull of any of its manifests; absent when never pulled. */
  lastPulledAt?: string;
  /** `mirror` when its namespace is an upstream's (pull-through or sync wrote it), else `pushed`. */
  source: 'mirror' | 'pushed';
  /** The upstream's name when `source` is `mirror`. */
  upstream?: string;
}

/**
 * `DELETE /api/repositories?repository=team/app` → 200 `DeleteRepositoryResponse` (404 BERTH_REPOSITORY_NOT_FOUND).
 * Deletes every tag and manifest of the repository; it leaves the list and `/v2/_catalog`. The blobs are freed by
 * the next garbage collection. Audited as `repository.delete` (detail: the counts), streamed as `repository.deleted`.
 */
export interface DeleteRepositoryResponse {
  repository: string;
  tags: number;
  manifests: number;
  /** The trash entry that restores it (see TrashEntryView), and when it expires. */
  trashEntry: string;
  expiresAt: string;
}

/** `GET /api/repositories?namespace=&q=` */
export interface RepositoriesResponse {
  repositories: RepositorySummary[];
}

/** `os/architecture[/variant]`, e.g. `linux/arm64/v8`. */
export type PlatformString = string;

export interface TagSummary {
  tag: string;
  digest: string;
  mediaType: string;
  /** Manifest bytes plus every blob it references (for an index: plus its children and their blobs, each once). */
  size: number;
  platforms: PlatformString[];
  /** `created` of the image config (for an index: of its first child that has one). */
  createdAt?: string;
  /** When the tag was last pushed (or moved) here; absent when the store cannot tell. */
  pushedAt?: string;
  /**
   * Pulls recorded by Berth: client manifest GETs naming the tag, plus those by the digest it points at now (docker
   * and containerd resolve a tag with HEAD and GET the digest). HEAD requests and Berth's own reads do not count.
   */
  pullCount: number;
  /** The newest of those pulls; absent when never pulled. */
  lastPulledAt?: string;
}

/**
 * Tag orders. `version`: `latest` first, then by version, newest first, comparing digit runs as numbers
 * (`t1000, t100, t10, t2, t1`); `name`: `latest` first, then ascending in the same natural order
 * (`t1, t2, t10, t100`); `pushed`: newest push first (ties by `version`).
 */
export type TagSort = 'version' | 'name' | 'pushed';
export const tagSorts: readonly TagSort[] = ['version', 'name', 'pushed'];

/** Query of `GET /api/tags` besides `repository`. */
export interface TagsQuery {
  /** Page size, 1 to 1000. Absent: every tag in one answer. */
  n?: number;
  /** The last tag of the previous page (its `next`): the page starts after it in the chosen order. */
  last?: string;
  /** Case-insensitive substring of the tag name. */
  filter?: string;
  /** Default `version`. */
  sort?: TagSort;
}

/**
 * `GET /api/tags?repository=team/app&n=&last=&filter=&sort=` (404 BERTH_REPOSITORY_NOT_FOUND when unknown; 400
 * BERTH_VALIDATION for a bad `n` or `sort`). Only the page's tags are inspected, so a page costs the same in a
 * repository of 10 tags or 10,000. A `last` that is no longer there (deleted, or outside the filter) starts the page
 * where it would sort (with `sort=pushed`, whose position it no longer has: at the first page).
 */
export interface TagsResponse {
  repository: string;
  tags: TagSummary[];
  /** Tags matching `filter`, over all pages. */
  total: number;
  /** Pass as `last` for the next page; absent on the last page. */
  next?: string;
}

/** What an untagged manifest is doing in the repository. */
export type UntaggedRole =
  /** A platform's manifest of a stored index. */
  | 'platform'
  /** It has a `subject`: a signature, SBOM or attestation attached to another manifest. */
  | 'referrer'
  /** Neither: only pullable by digest (an image whose tag moved or was deleted). */
  | 'untagged';

export interface UntaggedManifest {
  digest: string;
  mediaType: string;
  artifactType?: string;
  role: UntaggedRole;
  /** As in TagSummary. */
  size: number;
  platforms: PlatformString[];
  /** The manifest it refers to, for a referrer. */
  subject?: string;
  pushedAt?: string;
}

/** `GET /api/untagged?repository=team/app`: every manifest no tag points at, newest push first. */
export interface UntaggedResponse {
  repository: string;
  manifests: UntaggedManifest[];
}

/**
 * `GET /api/content?repository=&digest=[&in=]`: a manifest's bytes (Content-Type its media type) or, with `in` (the
 * digest of a manifest stored here that references the blob), a blob's bytes (Content-Type the descriptor's media
 * type), streamed as an attachment: `Content-Disposition: attachment; filename="..."` from the descriptor's
 * `org.opencontainers.image.title` annotation when it has one, else `<repository>-<12 hex>.<extension>`.
 * 404 BERTH_MANIFEST_NOT_FOUND when the repository holds no such manifest, or the manifest no such blob.
 */

export interface DescriptorView {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

export interface ImageConfigView {
  created?: string;
  os?: string;
  architecture?: string;
  variant?: string;
  env: string[];
  cmd: string[];
  entrypoint: string[];
  workingDir?: string;
  user?: string;
  exposedPorts: string[];
  labels: Record<string, string>;
}

export interface IndexChild extends DescriptorView {
  platform?: PlatformString;
  /** false when the child manifest is not stored here (a partial mirror of a multi-platform image). */
  present: boolean;
  /** The platform's image size: its manifest, config and layers (absent when not stored). */
  imageSize?: number;
}

/**
 * One step of the image's build (the config's `history`), in order. Steps that made a layer are aligned with
 * `ManifestDetail.layers` through `layer`; the others (ENV, CMD, ...) are `emptyLayer`.
 */
export interface LayerHistoryEntry {
  /** The command, e.g. `/bin/sh -c apk add curl` or `RUN /bin/sh -c ...` (buildkit). */
  createdBy?: string;
  created?: string;
  comment?: string;
  emptyLayer: boolean;
  /** Index into `layers` of the layer this step made. */
  layer?: number;
}

/** `GET /api/manifests?repository=&reference=` (reference: tag or digest). */
export interface ManifestDetail {
  repository: string;
  reference: string;
  digest: string;
  mediaType: string;
  isIndex: boolean;
  /** The manifest's own bytes. */
  manifestSize: number;
  /** As in TagSummary. */
  size: number;
  platforms: PlatformString[];
  /** Tags that point at this digest, `latest` first, then in natural order (t1, t2, t10). */
  tags: string[];
  /** When this reference was pushed here (the tag's last push, or the revision's first store for a digest). */
  pushedAt?: string;
  /** As in TagSummary (for a digest: the pulls by that digest). */
  pullCount: number;
  lastPulledAt?: string;
  /** The config's build steps, aligned with `layers` (empty for an index or a config without history). */
  history: LayerHistoryEntry[];
  /**
   * Set for an artifact (a signature, an SBOM): the manifest's `artifactType`, else its config's media type when
   * that is not an image config. Its layers are then the artifact's files, downloadable through `adminPaths.content`.
   */
  artifactType?: string;
  /** Image manifests only. */
  layers: DescriptorView[];
  configDescriptor?: DescriptorView;
  config?: ImageConfigView;
  /** Indexes only. */
  children: IndexChild[];
  subject?: DescriptorView;
  annotations?: Record<string, string>;
  /** Manifests whose subject is this one (signatures, SBOMs). */
  referrers: DescriptorView[];
}

/** `DELETE /api/manifests?repository=&reference=` → 200. A tag deletes the tag only; a digest deletes the manifest
 * and every tag pointing at it. */
export interface DeleteManifestResponse {
  deleted: 'tag' | 'manifest';
  repository: string;
  reference: string;
  /** The trash entry that restores it (see TrashEntryView), and when it expires. */
  trashEntry: string;
  expiresAt: string;
}

// ---------------------------------------------------------------------------------------------------------------
// Trash
// ---------------------------------------------------------------------------------------------------------------

/** One manifest of a trash entry, with the tags it lost; `subject` is set on referrers (signatures, SBOMs). */
export interface TrashedManifestView {
  digest: string;
  mediaType: string;
  size: number;
  tags: string[];
  subject?: string;
}

/**
 * `GET /api/trash?namespace=` → 200 `TrashResponse`, newest first. Every delete (over /v2, this API, the CLI, a
 * lifecycle rule) makes one entry; it can be restored until `expiresAt` (the namespace's trash days, default 30).
 */
export interface TrashEntryView {
  id: string;
  repository: string;
  namespace: string;
  deleted: { kind: 'tag'; tag: string } | { kind: 'manifest'; digest: string } | { kind: 'repository' };
  /** The deleted manifest first, then its referrers; for a tag, the manifest it named (still stored). */
  manifests: TrashedManifestView[];
  deletedAt: string;
  expiresAt: string;
  deletedBy: string;
  /** Past expiresAt: no longer restorable, freed by the next garbage collection. */
  expired: boolean;
}

export interface TrashResponse {
  entries: TrashEntryView[];
}

/**
 * `POST /api/trash/:id/restore` with `RestoreTrashRequest` → 200 `RestoreTrashResponse`. Refused with
 * BERTH_TRASH_TAG_TAKEN (409) when a tag now names another manifest (unless `force`), BERTH_TRASH_CONTENT_GONE or
 * BERTH_TRASH_EXPIRED (410), BERTH_TRASH_ENTRY_NOT_FOUND (404); a refused restore changes nothing.
 * Audited as `trash.restore`.
 */
export interface RestoreTrashRequest {
  /** Restore the tag(s) as this one tag instead. */
  as?: string;
  /** Move a tag that now names another manifest back. */
  force?: boolean;
}

export interface RestoreTrashResponse {
  id: string;
  repository: string;
  tags: string[];
  manifestsRestored: number;
}

/** `DELETE /api/trash?namespace=&expiredOnly=true` → 200: entries dropped for good (audited as `trash.empty`). */
export interface EmptyTrashResponse {
  removed: number;
}

/** `PUT /api/trash/days` → 200 with the same body: how long a namespace's deletes stay restorable (0-3650). */
export interface TrashDaysRequest {
  namespace: string;
  days: number;
}

/** `GET /api/trash/days` → 200: each namespace's trash days (the default where it set none). */
export interface TrashDaysResponse {
  defaultDays: number;
  namespaces: Array<{ namespace: string; days: number; isDefault: boolean }>;
}

// ---------------------------------------------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------------------------------------------

export type ScopeAction = 'pull' | 'push' | 'delete';

export interface TokenScope {
  /** `*`, `team/*` or an exact repository. */
  pattern: string;
  actions: ScopeAction[];
}

/** A token as the API shows it: never a hash, never the secret. */
export interface TokenView {
  id: string;
  name: string;
  scopes: TokenScope[];
  /** The CLI form, `team/*:pull,push`, one per scope. */
  scopeText: string[];
  status: 'active' | 'expired' | 'revoked';
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

/** `GET /api/tokens` (revoked ones included, oldest first). */
export interface TokensResponse {
  tokens: TokenView[];
}

/** `POST /api/tokens` → 201 `CreateTokenResponse`. */
export interface CreateTokenRequest {
  /** `[a-zA-Z0-9._-]{1,64}`; the username for `docker login`. */
  name: string;
  /** CLI form: `team/*:pull,push`, `*:pull`, `team/app:pull,push,delete`. */
  scopes: string[];
  /** `90m`, `12h`, `30d`, `1y`; absent or null: never expires. */
  expiresIn?: string | null;
}

export interface CreateTokenResponse {
  /** The secret. Shown once: it is not stored and cannot be shown again. */
  token: string;
  record: TokenView;
  /** `echo "$TOKEN" | docker login 127.0.0.1:5000 -u NAME --password-stdin`: the secret is not in it. */
  loginCommand: string;
}

/** `DELETE /api/tokens/:name` → 200 `TokenView` (the revoked record). */

// ---------------------------------------------------------------------------------------------------------------
// Mirror: upstreams, sync rules, jobs
// ---------------------------------------------------------------------------------------------------------------

export interface UpstreamView {
  name: string;
  url: string;
  aliases: string[];
  isDefault: boolean;
  username?: string;
  /** The password itself is never returned. */
  hasPassword: boolean;
  hasCaPem: boolean;
  insecure: boolean;
  tagTtlSeconds: number;
  /** Whether its namespace allows pulls without a token (the namespace record's setting). */
  anonymousPull: boolean;
  createdAt: string;
  /** Absent when the mirror service is not running. */
  health?: { online: boolean; lastError?: string };
}

/** `GET /api/upstreams` */
export interface UpstreamsResponse {
  upstreams: UpstreamView[];
  /**
   * Whether every listener of this Berth is on loopback. A new upstream without credentials then defaults to
   * anonymous pull; with credentials, or on a Berth the network can reach, it defaults to private.
   */
  loopbackOnly: boolean;
}

/**
 * `POST /api/upstreams` → 201 `UpstreamView`. The name is also its pull-through namespace: a new namespace record is
 * created with `anonymousPull` as given, else with the default (see `UpstreamsResponse.loopbackOnly`); an existing
 * one keeps its setting unless `anonymousPull` is given, as `berth upstream add` does.
 */
export interface CreateUpstreamRequest {
  name: string;
  url: string;
  aliases?: string[];
  isDefault?: boolean;
  username?: string;
  /** Write-only. Stored encrypted. */
  password?: string;
  caPem?: string;
  insecure?: boolean;
  /** Default 300. */
  tagTtlSeconds?: number;
  /** Whether anyone may pull from its namespace without a token. Absent: see above. */
  anonymousPull?: boolean;
  /**
   * Use the name even though its namespace already holds repositories (e.g. the cache an earlier delete kept).
   * Without it: 409 BERTH_NAMESPACE_HAS_CONTENT.
   */
  adopt?: boolean;
}

/**
 * `PATCH /api/upstreams/:name` → 200 `UpstreamView`. `password: null` (or `username: null`) removes it. Changing the
 * credentials never changes `anonymousPull`; only `anonymousPull` does.
 */
export interface UpdateUpstreamRequest {
  url?: string;
  aliases?: string[];
  isDefault?: boolean;
  username?: string | null;
  password?: string | null;
  caPem?: string | null;
  insecure?: boolean;
  tagTtlSeconds?: number;
  anonymousPull?: boolean;
}

/** `POST /api/upstreams/:name/test` → 200 (also when the upstream fails: `ok` says so). */
export interface UpstreamTestResponse {
  ok: boolean;
  message: string;
  latencyMs?: number;
}

export interface SyncRuleTags {
  /** Regular expression (JavaScript syntax) a tag must match. */
  include?: string;
  exclude?: string;
  /** A semver range, e.g. `>=7 <8`. */
  semver?: string;
  /** Keep only the newest N. */
  newest?: number;
}

export interface SyncRuleView {
  name: string;
  upstream: string;
  repositories: string[];
  tags: SyncRuleTags;
  platforms: string[];
  into: string;
  everySeconds: number | null;
  paused: boolean;
  createdAt: string;
  lastRunAt: string | null;
  /**
   * When the schedule starts the next run: null for an on-demand or paused rule, or while the whole mirror
   * schedule is paused. One interval after the last run; a rule that never ran first runs one interval after it
   * was saved (or when asked). The scheduler looks every 30 s, so this may be in the past.
   */
  nextRunAt: string | null;
}

/** `GET /api/sync-rules` */
export interface SyncRulesResponse {
  syncRules: SyncRuleView[];
}

/** `POST /api/sync-rules` → 201 `SyncRuleView`. */
export interface CreateSyncRuleRequest {
  name: string;
  upstream: string;
  /** `library/redis`, or `bitnami/*`. At least one. */
  repositories: string[];
  tags?: SyncRuleTags;
  /** `linux/amd64`; empty or absent: every platform. */
  platforms?: string[];
  /** Default: the upstream's name. */
  into?: string;
  /** null or absent: only on demand. Minimum 60. */
  everySeconds?: number | null;
  paused?: boolean;
}

/** `PATCH /api/sync-rules/:name` → 200 `SyncRuleView`. */
export type UpdateSyncRuleRequest = Partial<Omit<CreateSyncRuleRequest, 'name'>>;

/** `POST /api/sync-rules/:name/run` → 202. Progress arrives as `job.progress` / `job.finished` events. */
export interface RunSyncRuleResponse {
  jobId: string;
}

export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

export interface Progress {
  done: number;
  total: number;
}

export interface JobView {
  id: string;
  rule: string;
  status: JobStatus;
  queuedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  images: Progress;
  blobs: Progress;
  bytes: Progress;
  errors: string[];
  /** The failed or cancelled job this one runs again. */
  retryOf: string | null;
}

/** `GET /api/jobs?limit=50` (default 50, max 500), newest first. */
export interface JobsResponse {
  jobs: JobView[];
}

/**
 * `GET /api/jobs/:id` → 200 `JobDetail` (404 BERTH_JOB_NOT_FOUND): live while the job runs. The lists are capped
 * (the newest 1,000 images each, the newest 200 log lines); `images` holds the totals.
 */
export interface JobDetail extends JobView {
  /** Images (`library/redis:7`, as named upstream) this run stored. */
  copied: string[];
  /** Images already here, complete and current: nothing was fetched. */
  skipped: string[];
  /** Images that failed, with the reason. Failures that are not one image's (listing tags) are only in `errors`. */
  failed: Array<{ image: string; reason: string }>;
  log: Array<{ time: string; message: string }>;
}

/**
 * `POST /api/jobs/:id/cancel` → 200 `JobView` once the job has stopped (status `cancelled`). A queued job leaves the
 * queue; a running one stops at its next step, cancelling downloads under way; what it stored stays, complete.
 * 409 BERTH_JOB_STATE when it is not queued or running. Audited as `sync.run` (failure, status cancelled).
 *
 * `POST /api/jobs/:id/retry` → 202 `RunSyncRuleResponse`: a new job of the same rule (`retryOf` names the old one),
 * or the rule's job already queued or running. 409 BERTH_JOB_STATE unless the job failed or was cancelled.
 */

// ---------------------------------------------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------------------------------------------

/** `GET /api/settings` */
export interface SettingsResponse {
  /** `HOST:PORT` of the plain-HTTP listener as saved, else the default `127.0.0.1:5000`. */
  listen: string;
  /** `HOST:PORT` of the HTTPS listener as saved, else the default `127.0.0.1:5443`. */
  tlsListen: string;
  /** Extra DNS names / IPs for the server certificate. */
  tlsNames: string[];
  /** Allows non-loopback listen addresses (TLS listener only; plain HTTP stays loopback). */
  exposeOnNetwork: boolean;
  /** Days of audit trail kept (older day files are deleted daily); the default 365 when not set. */
  auditRetentionDays: number;
  /** Hours between scheduled garbage collections (0: none; default 24). Applies at the next hourly check. */
  gcEveryHours: number;
  /** Minutes an unused blob waits before collection frees it, so pushes in progress keep their layers (default 60). */
  gcGraceMinutes: number;
  /** Seconds an upstream added without its own TTL trusts a resolved tag (default 300); existing upstreams keep theirs. */
  defaultTagTtlSeconds: number;
  /** Read-only. */
  dataDir: string;
  /** Read-only, chosen when Berth starts (--storage): `filesystem <dataDir>`, or the `s3://` URL. */
  storageBackend: string;
  /** What is running now (may differ from the saved values until restart). */
  running: ListenerInfo;
}

/**
 * `PATCH /api/settings` → 200 `UpdateSettingsResponse`. Only given fields change. Addresses are `HOST:PORT`
 * (`127.0.0.1:5000`, `[::1]:5000`); a non-loopback TLS address needs `exposeOnNetwork: true` (in the same request or
 * already saved); a non-loopback plain-HTTP address is always refused. `auditRetentionDays` is a whole number from 1
 * to 3650, or 0 for the default (365); it applies at the next daily pruning, without a restart. Errors: 400 BERTH_VALIDATION.
 */
/** Unknown fields (including `dataDir`) are refused with 400 BERTH_VALIDATION rather than ignored. */
export interface UpdateSettingsRequest {
  listen?: string;
  tlsListen?: string;
  tlsNames?: string[];
  exposeOnNetwork?: boolean;
  auditRetentionDays?: number;
  /** 0 to 720; 0 turns scheduled collection off. */
  gcEveryHours?: number;
  /** 1 to 10080 (a week). */
  gcGraceMinutes?: number;
  /** 0 to 604800 (a week). */
  defaultTagTtlSeconds?: number;
}

export interface UpdateSettingsResponse {
  settings: SettingsResponse;
  /**
   * True when a saved change only takes effect after Berth restarts (listen, tlsListen). tlsNames apply at once
   * when the HTTPS listener runs in this process (the certificate is re-issued); exposeOnNetwork is a permission.
   */
  restartRequired: boolean;
  /** The fields that wait for the restart. */
  pending: Array<'listen' | 'tlsListen'>;
}

/**
 * `POST /api/settings/apply` → 200 `ApplyListenersResponse`: "Apply and restart". Each running listener whose saved
 * address differs moves there without stopping Berth: the new one starts first (so an address in use leaves the old
 * one serving: 409 BERTH_LISTENER_APPLY_FAILED), then the old one stops once its requests finish. The GUI then
 * continues at the new address. A listener that is off stays off. 503 BERTH_RESTART_UNAVAILABLE when this process
 * does not run the listeners. Audited as `settings.apply`.
 */
export interface ApplyListenersResponse {
  moved: Array<{ listener: 'http' | 'https'; from: string; to: string }>;
  /** What runs now. */
  running: ListenerInfo;
}

// ---------------------------------------------------------------------------------------------------------------
// Audit
// ---------------------------------------------------------------------------------------------------------------

export interface AuditEvent {
  time: string;
  /**
   * `push`, `pull`, `delete`, `token.create`, `token.revoke`, `namespace.create|update|delete`, `auth.denied`,
   * `auth.failed`; from the admin API also `admin.signin` (a failed one in aggregate: one per minute, `detail.attempts`
   * and `detail.clients`), `upstream.create|update|delete`,
   * `sync.rule.create|update|delete`, `settings.update`, `repository.delete`; from the mirror `sync.run` when a run ends (a failure with its errors); from retention `audit.prune` (actor `berth`).
   */
  action: string;
  /** Token name, `anonymous` or `admin`. */
  actor: string;
  namespace?: string;
  repository?: string;
  reference?: string;
  digest?: string;
  client: string;
  outcome: 'success' | 'denied' | 'failure';
  detail?: unknown;
}

/** Query of `GET /api/audit` and `GET /api/audit/export`. */
export interface AuditQueryParams {
  /** ISO date/time, or a duration back from now: `24h`, `7d`. */
  since?: string;
  until?: string;
  namespace?: string;
  /** Exact action or a family: `token.*`. */
  action?: string;
  actor?: string;
  /** Default 100, max 1000. */
  limit?: number;
  offset?: number;
}

/** `GET /api/audit?...`: the newest `limit` matches after skipping `offset`, oldest first. */
export interface AuditResponse {
  events: AuditEvent[];
  /** All matches before limit/offset (for paging). */
  total: number;
}

/** `GET /api/audit/export?...` streams every match as `application/x-ndjson` (one AuditEvent per line, oldest
 * first) with `Content-Disposition: attachment; filename="berth-audit-<date>.jsonl"`. */

// ---------------------------------------------------------------------------------------------------------------
// TLS
// ---------------------------------------------------------------------------------------------------------------

/** `GET /api/ca.crt`: the CA certificate PEM (`application/x-pem-file`, attachment `berth-ca.crt`). */

export type TrustTarget = 'docker' | 'containerd' | 'containers' | 'debian' | 'fedora' | 'macos' | 'windows' | 'other';

export interface TrustSection {
  target: TrustTarget;
  title: string;
  commands: string[];
  notes: string[];
}

/** `GET /api/trust`: how to make clients trust Berth's CA. */
export interface TrustResponse {
  caPath: string;
  /** `127.0.0.1:5443` */
  hostPort: string;
  sections: TrustSection[];
}

// ---------------------------------------------------------------------------------------------------------------
// Sign-out
// ---------------------------------------------------------------------------------------------------------------

/** `POST /api/signout` → 204; the session is deleted on the server and the cookie cleared. */

// ---------------------------------------------------------------------------------------------------------------
// Live events: GET /api/events (text/event-stream)
// ---------------------------------------------------------------------------------------------------------------

/**
 * Every event is sent as a default SSE message (no `event:` line), `data:` one JSON `AdminEvent` whose `type`
 * tells them apart, so `new EventSource('/api/events').onmessage` receives everything:
 *   `const event = JSON.parse(message.data) as AdminEvent; switch (event.type) { ... }`
 * A comment line (`: heartbeat`) every 15 s keeps proxies from closing the stream. The first frame is
 * `{ type: 'hello' }`. There is no replay: after a reconnect, refetch what the page shows.
 */
export type AdminEvent =
  | { type: 'hello'; time: string; version: string }
  | { type: 'manifest.pushed'; time: string; repository: string; reference: string; digest: string; mediaType: string; actor: string }
  | { type: 'manifest.deleted'; time: string; repository: string; digest: string; actor: string }
  | { type: 'tag.deleted'; time: string; repository: string; tag: string; actor: string }
  | { type: 'blob.deleted'; time: string; repository: string; digest: string; actor: string }
  | { type: 'repository.deleted'; time: string; repository: string; actor: string }
  | { type: 'job.progress'; time: string; job: JobView }
  | { type: 'job.finished'; time: string; job: JobView }
  | { type: 'upstream.health'; time: string; upstream: string; online: boolean; lastError?: string }
  | { type: 'token.created' | 'token.revoked'; time: string; name: string }
  | { type: 'namespace.created' | 'namespace.updated' | 'namespace.deleted'; time: string; name: string }
  | { type: 'upstream.created' | 'upstream.updated' | 'upstream.deleted'; time: string; name: string }
  | { type: 'syncRule.created' | 'syncRule.updated' | 'syncRule.deleted'; time: string; name: string }
  | { type: 'settings.updated'; time: string; restartRequired: boolean }
  | { type: 'import.progress'; time: string; id: string; archive: string; phase: ImportPhase; bytes: number; total?: number }
  | { type: 'import.finished'; time: string; id: string; archive: string; ok: boolean; message: string };

/** An archive upload's steps: receiving the body, checking every entry's digest, storing what Berth lacks. */
export type ImportPhase = 'uploading' | 'checking' | 'storing';

export interface ImportedImageView {
  repository: string;
  /** Absent: stored by digest only. */
  tag?: string;
  digest: string;
  mediaType: string;
}

/**
 * POST /api/images/import answers 200 with this once the import is done. An archive that takes longer than a minute
 * to check and store is answered 202 with `{ id, archive, pending: true }` instead (an idle connection would be cut);
 * its outcome then comes as the `import.finished` event with that id.
 */
export interface ImportPendingResponse {
  id: string;
  archive: string;
  pending: true;
}

export interface ImportArchiveResponse {
  archive: string;
  /** `oci`: an OCI image layout (manifests kept byte for byte); `docker`: a classic docker save archive. */
  format: 'oci' | 'docker';
  images: ImportedImageView[];
  blobsStored: number;
  bytesStored: number;
  blobsReused: number;
}

export type AdminEventType = AdminEvent['type'];

// ---------------------------------------------------------------------------------------------------------------
// The mirror service as the admin API sees it (implemented by registry/mirror, injected by the server)
// ---------------------------------------------------------------------------------------------------------------

/** Events the mirror service pushes to the admin API's stream. */
export type MirrorEvent =
  | { type: 'job.progress'; job: JobView }
  | { type: 'job.finished'; job: JobView }
  | { type: 'upstream.health'; upstream: string; online: boolean; lastError?: string };

export interface MirrorControl {
  testUpstream(name: string): Promise<{ ok: boolean; message: string; latencyMs?: number }>;
  /** Queues a run; `requestedBy` is audited with the run's outcome (`sync.run`, success or failure) when it ends. */
  runSyncRule(name: string, requestedBy?: { actor: string; client: string }): Promise<{ jobId: string }>;
  upstreamHealth(): Record<string, { online: boolean; lastError?: string }>;
  /** Rules with a queued or running job (they bring in blobs before the manifests that use them). */
  activeJobs?(): JobView[];
  /** The live detail of a queued or running job (else the state file's record is shown). */
  job?(id: string): JobDetail | undefined;
  /** See `POST /api/jobs/:id/cancel`; rejects with `{ code: 'BERTH_JOB_NOT_FOUND' | 'BERTH_JOB_STATE' }`. */
  cancelJob?(id: string, requestedBy?: { actor: string; client: string }): Promise<JobView>;
  /** See `POST /api/jobs/:id/retry`; rejects as cancelJob does. */
  retryJob?(id: string, requestedBy?: { actor: string; client: string }): Promise<{ jobId: string }>;
  /** Optional live feed; returns the unsubscribe function. */
  subscribe?(listener: (event: MirrorEvent) => void): () => void;
  /** Optional: called after an upstream or sync rule changed in state, so schedules and clients reload. */
  reload?(): void | Promise<void>;
}

export type * from './retention-contract.js';
