/**
 * The admin API's retention and pin endpoints (re-exported by contract.ts; types only, safe in the browser).
 * Errors: 400 BERTH_RETENTION_INVALID (a rule out of range, unpulled-days outside a mirror namespace),
 * 400 BERTH_PIN_INVALID (not a repository name, not a tag or digest), 404 BERTH_PIN_NOT_FOUND.
 */

export type RetentionRuleName = 'keep-newest' | 'unpulled' | 'untagged';

/** As stored (registry/state/schema.ts RetentionRules). */
export interface RetentionRulesView {
  keepNewest?: number;
  orderBy?: 'pushed' | 'semver';
  untaggedDays?: number;
  unpulledDays?: number;
}

export interface RetentionPolicyView {
  /** A namespace (`team`) or a repository (`team/app`). */
  scope: string;
  retention: RetentionRulesView;
  updatedAt: string;
}

/** `GET /api/retention`: every scope with retention rules, and the schedule. */
export interface RetentionResponse {
  policies: RetentionPolicyView[];
  /** Hours between scheduled runs; 0: off. */
  everyHours: number;
  /** Namespaces where unpulled-days applies (mirrors). */
  mirrorNamespaces: string[];
  /** The last real run (scheduled or manual) of this server, if any. */
  lastRunAt?: string;
}

/** `PUT /api/retention`: replaces one scope's rules; `retention: {}` (or null) removes them. */
export interface SetRetentionRequest {
  scope: string;
  retention: RetentionRulesView | null;
}

/** `PUT /api/retention/schedule`. */
export interface RetentionScheduleRequest {
  everyHours: number;
}

/** `POST /api/retention/run`: a dry run ("Preview") lists; a real run ("Run now") removes what the same plan lists. */
export interface RetentionRunRequest {
  dryRun: boolean;
  scope?: string;
  /** ISO time the ages are measured from instead of now (what a run on that day would remove). */
  asOf?: string;
}

export interface RetentionRemovalView {
  repository: string;
  kind: 'tag' | 'manifest';
  reference: string;
  digest: string;
  tags?: string[];
  rule: RetentionRuleName;
  reason: string;
}

export interface RetentionRunResponse {
  dryRun: boolean;
  ranAt: string;
  scope?: string;
  removals: RetentionRemovalView[];
  spared: Array<{ repository: string; reference: string; digest: string; rule: RetentionRuleName; why: 'pinned' | 'immutable' | 'upstream offline' }>;
  skipped: Array<RetentionRemovalView & { why: string }>;
}

export interface PinView {
  repository: string;
  /** A tag or a digest. */
  reference: string;
  createdAt: string;
  by: string;
}

/** `GET /api/pins[?repository=]`. */
export interface PinsResponse {
  pins: PinView[];
}

/** `POST /api/pins` pins; `DELETE /api/pins?repository=&reference=` unpins. */
export interface PinRequest {
  repository: string;
  reference: string;
}
