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
  [key: string]: unknown;
}

export interface NamespaceRecord {
  name: string;
  /** Pulls from this namespace need no credentials. Push and delete always do. */
  anonymousPull: boolean;
  createdAt: string;
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

// The mirror feature owns these shapes; until it lands they are opaque records.
export type UpstreamRecord = Record<string, unknown>;
export type SyncRuleRecord = Record<string, unknown>;
export type JobRecord = Record<string, unknown>;

export interface State {
  schemaVersion: typeof currentSchemaVersion;
  settings: Settings;
  namespaces: NamespaceRecord[];
  tokens: TokenRecord[];
  upstreams: UpstreamRecord[];
  syncRules: SyncRuleRecord[];
  jobs: JobRecord[];
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
  for (const key of ['namespaces', 'tokens', 'upstreams', 'syncRules', 'jobs'] as const) {
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
