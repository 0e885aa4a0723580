import { isRepositoryName, namespaceOf } from '../core/names.js';
import type { State, StateStore, UpstreamRecord } from '../state/index.js';
import { UpstreamConfigError } from './errors.js';
import { validateUpstream } from './upstream.js';

/**
 * Adding, changing and removing an upstream registry: the one implementation behind `berth upstream` and the admin
 * API's `/api/upstreams`. Both edges parse their own input (flags, JSON), then call these operations and translate
 * `UpstreamChangeError` codes into exit codes or HTTP statuses. Checks that involve other records (names, hosts, the
 * default, sync rules, the namespace) run inside `state.update`, under the cross-process lock, so two writers (a
 * terminal and the GUI) can never both succeed where only one may.
 */

export const defaultTagTtlSeconds = 300;
/** A week: longer would leave a moved tag wrong for longer than anyone expects of a cache. */
export const maxTagTtlSeconds = 7 * 24 * 60 * 60;

export type UpstreamChangeCode =
  /** The name is not one namespace component (`hub`, `ghcr`). */
  | 'BERTH_UPSTREAM_NAME_INVALID'
  /** A value is malformed or unsafe (URL, alias, CA, credentials, tag TTL): the same code as validateUpstream's. */
  | 'BERTH_UPSTREAM_CONFIG_INVALID'
  | 'BERTH_UPSTREAM_EXISTS'
  | 'BERTH_UPSTREAM_NOT_FOUND'
  /** A sync rule still uses it. */
  | 'BERTH_UPSTREAM_IN_USE'
  /** Its URL host or an alias already routes to another upstream. */
  | 'BERTH_UPSTREAM_HOST_TAKEN'
  /** The namespace already holds local repositories (and the caller did not adopt them). */
  | 'BERTH_NAMESPACE_HAS_CONTENT';

/**
 * Which input a BERTH_UPSTREAM_CONFIG_INVALID / _NAME_INVALID is about when it is a single one, so an edge can name
 * its own flag or field (`--ca-file`, `"caPem"`). Absent for the rules that weigh several fields together.
 */
export type UpstreamField = 'name' | 'aliases' | 'caPem' | 'tagTtlSeconds';

export class UpstreamChangeError extends Error {
  override readonly name = 'UpstreamChangeError';
  constructor(
    readonly code: UpstreamChangeCode,
    message: string,
    readonly details: { field?: UpstreamField; upstream?: string; host?: string; repositories?: number; syncRules?: string[] } = {},
  ) {
    super(message);
  }
}

export function isUpstreamChangeError(error: unknown): error is UpstreamChangeError {
  return error instanceof UpstreamChangeError;
}

/** A new upstream, as a person describes it. `password` is plain text here and sealed before it reaches the state. */
export interface UpstreamInput {
  name: string;
  url: string;
  aliases?: readonly string[];
  isDefault?: boolean;
  username?: string;
  password?: string;
  caPem?: string;
  insecure?: boolean;
  /** Default 300 (5 minutes); 0 asks the upstream every time. */
  tagTtlSeconds?: number;
  /**
   * Whether anyone may pull from the upstream's namespace without credentials. Absent: an existing namespace keeps
   * its setting, a new one gets defaultAnonymousPull's answer.
   */
  anonymousPull?: boolean;
}

/** Changes to an upstream; absent fields stay. `null` or `''` removes username, password or CA. No renames. */
export interface UpstreamPatch {
  url?: string;
  aliases?: readonly string[];
  isDefault?: boolean;
  username?: string | null;
  password?: string | null;
  caPem?: string | null;
  insecure?: boolean;
  tagTtlSeconds?: number;
  /** Opens or closes the upstream's namespace to anonymous pulls (creating its record if it has none). */
  anonymousPull?: boolean;
}

/** How many repositories are stored under a namespace (storage, not state). */
export type RepositoryCounter = (namespace: string) => Promise<number>;

export interface AddUpstreamOptions {
  /** Encrypts the password for the state file (SecretBox.seal); called only when there is a password. */
  sealSecret: (plain: string) => string;
  /**
   * Counts the repositories already under the namespace NAME; any makes the add fail with
   * BERTH_NAMESPACE_HAS_CONTENT, because a pull-through namespace is read-only, unless `adopt` is set.
   */
  repositoriesHeld?: RepositoryCounter;
  /**
   * Take the namespace although it holds repositories (an earlier cache of this upstream, kept by a remove). Content
   * adopted without a namespace record stays private unless `anonymousPull` says otherwise: it may have been pushed.
   */
  adopt?: boolean;
  /** Whether every listener of this Berth is on loopback: the one case where anonymous pull can default to on. */
  loopbackOnly: boolean;
}

/** Where a namespace's anonymous-pull setting came from, so each edge can say so. */
export type AnonymousPullSource =
  /** The person chose it (`--anonymous-pull`, the GUI's switch). */
  | 'chosen'
  /** A new namespace, set by defaultAnonymousPull. */
  | 'default'
  /** A new namespace record over repositories already stored: private, since nobody said they are public. */
  | 'adopted'
  /** The namespace existed and keeps what it had: adding an upstream never changes it as a side effect. */
  | 'kept';

export interface AddUpstreamResult {
  record: UpstreamRecord;
  /** The upstream that was the default until this one took over. */
  previousDefault?: string;
  /** Whether the namespace record NAME was created (otherwise an existing one was used). */
  namespaceCreated: boolean;
  /** The namespace's anonymous pull after the change, and why it is that. */
  anonymousPull: boolean;
  anonymousPullSource: AnonymousPullSource;
}

export interface UpdateUpstreamResult {
  record: UpstreamRecord;
  /** The record as it was just before the change (under the same lock), so an edge can say what changed. */
  previous: UpstreamRecord;
  previousDefault?: string;
  /** The namespace's anonymous pull after the change. */
  anonymousPull: boolean;
}

export interface RemoveUpstreamResult {
  record: UpstreamRecord;
  /** Repositories still cached under the namespace (they are kept); present when a counter was given. */
  cachedRepositories?: number;
}

const aliasGrammar = /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:\d{1,5})?$/;

/** The upstream's name is its pull-through namespace (`hub/library/redis`), so it follows the namespace grammar. */
export function checkUpstreamName(name: string): string {
  if (typeof name !== 'string' || name.includes('/') || !isRepositoryName(name)) {
    throw new UpstreamChangeError(
      'BERTH_UPSTREAM_NAME_INVALID',
      `invalid upstream name "${String(name).slice(0, 80)}": one lowercase name component such as hub or ghcr (a-z 0-9 . _ -)`,
      { field: 'name' },
    );
  }
  return name;
}

/** Counts, from a list of every stored repository, those in one namespace (`hub` holds `hub/library/redis`). */
export function repositoryCounter(listRepositories: () => Promise<readonly string[]>): RepositoryCounter {
  return async (namespace) => (await listRepositories()).filter((repository) => namespaceOf(repository) === namespace).length;
}

const invalid = (message: string, field: UpstreamField) => new UpstreamChangeError('BERTH_UPSTREAM_CONFIG_INVALID', message, { field });

function normalizeUrl(url: string): string {
  return String(url).trim().replace(/\/+$/, '');
}

function normalizeAliases(aliases: readonly string[]): string[] {
  const clean = [...new Set(aliases.map((alias) => String(alias).trim().toLowerCase()).filter(Boolean))];
  for (const alias of clean) {
    if (!aliasGrammar.test(alias)) throw invalid(`invalid alias "${alias.slice(0, 80)}": a host name (and port), e.g. docker.io`, 'aliases');
  }
  return clean;
}

function checkTagTtl(seconds: number): number {
  if (!Number.isSafeInteger(seconds) || seconds < 0 || seconds > maxTagTtlSeconds) {
    throw invalid(`the tag TTL must be a whole number of seconds from 0 to ${maxTagTtlSeconds} (7 days), not ${String(seconds).slice(0, 20)}`, 'tagTtlSeconds');
  }
  return seconds;
}

function checkCaPem(caPem: string): string {
  if (!caPem.includes('-----BEGIN CERTIFICATE-----')) throw invalid('the CA is not a PEM certificate (-----BEGIN CERTIFICATE-----)', 'caPem');
  return caPem;
}

/** The mirror's own rules (URL shape, no credentials over plain HTTP, insecure only on loopback) on a whole record. */
function checkRecord(record: UpstreamRecord): void {
  try {
    validateUpstream({
      name: record.name,
      url: record.url,
      aliases: record.aliases,
      username: record.username,
      // Only whether there is one matters to the rules; the sealed text stands in for it.
      password: record.passwordSealed,
      caPem: record.caPem,
      insecure: record.insecure,
    });
  } catch (error) {
    if (!(error instanceof UpstreamConfigError)) throw error;
    throw new UpstreamChangeError('BERTH_UPSTREAM_CONFIG_INVALID', error.message, { upstream: record.name });
  }
}

/** Host names a record answers to (its URL's host and its aliases), as the upstream pool routes them. */
function hostsOf(record: Pick<UpstreamRecord, 'url' | 'aliases'>): string[] {
  return [new URL(record.url).host.toLowerCase(), ...record.aliases];
}

/** One host, one upstream: otherwise which one serves `?ns=docker.io` would depend on the order of the file. */
function checkHosts(record: UpstreamRecord, draft: State): void {
  const mine = new Set(hostsOf(record));
  for (const other of draft.upstreams) {
    if (other.name === record.name) continue;
    const clash = hostsOf(other).find((host) => mine.has(host));
    if (clash) {
      throw new UpstreamChangeError('BERTH_UPSTREAM_HOST_TAKEN', `host "${clash}" already routes to upstream "${other.name}": one host, one upstream`, {
        upstream: other.name,
        host: clash,
      });
    }
  }
}

/** At most one upstream receives names that are not a local namespace (Docker's registry-mirrors). */
function takeDefault(record: UpstreamRecord, draft: State): string | undefined {
  let previous: string | undefined;
  for (const upstream of draft.upstreams) {
    if (upstream.name === record.name || !upstream.isDefault) continue;
    previous = upstream.name;
    upstream.isDefault = false;
  }
  return previous;
}

const notFound = (name: string) =>
  new UpstreamChangeError('BERTH_UPSTREAM_NOT_FOUND', `no upstream "${name.slice(0, 80)}"`, { upstream: name });

/** The saved default tag TTL when it is a usable one, else the built-in 300 s. */
export function savedDefaultTagTtl(settings: { defaultTagTtlSeconds?: unknown }): number {
  const value = settings.defaultTagTtlSeconds;
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && value <= maxTagTtlSeconds ? value : defaultTagTtlSeconds;
}

/** Plain text that means "none": absent, null or empty. */
function given(value: string | null | undefined): value is string {
  return value !== undefined && value !== null && value !== '';
}

/** The record an input describes, or the first rule it breaks. Pure: no state, no disk. */
function newRecord(input: UpstreamInput, sealSecret: (plain: string) => string): UpstreamRecord {
  const name = checkUpstreamName(input.name);
  const username = given(input.username) ? input.username : undefined;
  const password = given(input.password) ? input.password : undefined;
  const caPem = given(input.caPem) ? checkCaPem(input.caPem) : undefined;
  const record: UpstreamRecord = {
    name,
    url: normalizeUrl(input.url),
    aliases: normalizeAliases(input.aliases ?? []),
    isDefault: input.isDefault === true,
    ...(username !== undefined ? { username } : {}),
    // Sealed before anything else sees it: the plain text is never stored, logged or returned.
    ...(password !== undefined ? { passwordSealed: sealSecret(password) } : {}),
    ...(caPem !== undefined ? { caPem } : {}),
    insecure: input.insecure === true,
    tagTtlSeconds: checkTagTtl(input.tagTtlSeconds ?? defaultTagTtlSeconds),
    createdAt: new Date().toISOString(),
  };
  checkRecord(record);
  return record;
}

/**
 * The checks of addUpstream that need nothing but the input (grammar, URL, safety, TTL), for an edge that wants to
 * refuse a mistyped command before it creates a data directory. addUpstream runs them again itself.
 */
export function checkUpstreamInput(input: UpstreamInput): void {
  newRecord(input, () => 'unsealed');
}

/**
 * Whether a new mirror namespace allows anonymous pulls when nobody said: only for an upstream without credentials
 * (its images are public anyway) on a Berth that listens on loopback only (nobody but this machine's users reaches
 * it). That is what makes Docker's registry-mirrors work out of the box, since dockerd sends mirrors no credentials
 * Berth could check. An upstream with credentials holds what its owner may read, and a Berth on the network serves
 * whoever reaches it: both stay private unless someone opens them.
 */
export function defaultAnonymousPull(options: { hasCredentials: boolean; loopbackOnly: boolean }): boolean {
  return !options.hasCredentials && options.loopbackOnly;
}

/** Sets a namespace's anonymous pull, creating its record if there is none; returns whether it was created. */
function setAnonymousPull(draft: State, name: string, anonymousPull: boolean, createdAt: string): boolean {
  const namespace = draft.namespaces.find((ns) => ns.name === name);
  if (namespace) {
    namespace.anonymousPull = anonymousPull;
    return false;
  }
  draft.namespaces.push({ name, anonymousPull, createdAt });
  return true;
}

/**
 * Adds an upstream and its namespace NAME. A new namespace allows anonymous pulls as `input.anonymousPull` says, else
 * as defaultAnonymousPull says; an existing one keeps its setting unless `input.anonymousPull` says otherwise.
 */
export async function addUpstream(state: StateStore, input: UpstreamInput, options: AddUpstreamOptions): Promise<AddUpstreamResult> {
  // Without a TTL of its own, the one set in the settings (the GUI's "default tag TTL"), else 300 s.
  const record = newRecord({ ...input, tagTtlSeconds: input.tagTtlSeconds ?? savedDefaultTagTtl(state.read().settings) }, options.sealSecret);
  const name = record.name;
  // Storage, not state: counted before the lock so the lock is held only for the state file.
  const held = options.repositoriesHeld ? await options.repositoriesHeld(name) : 0;
  const hasCredentials = record.username !== undefined || record.passwordSealed !== undefined;

  let previousDefault: string | undefined;
  let namespaceCreated = false;
  let anonymousPull = false;
  let anonymousPullSource: AnonymousPullSource = 'default';
  await state.update((draft) => {
    previousDefault = undefined;
    namespaceCreated = false;
    if (draft.upstreams.some((upstream) => upstream.name === name)) {
      throw new UpstreamChangeError('BERTH_UPSTREAM_EXISTS', `an upstream named "${name}" already exists`, { upstream: name });
    }
    if (held > 0 && options.adopt !== true) {
      throw new UpstreamChangeError(
        'BERTH_NAMESPACE_HAS_CONTENT',
        `namespace "${name}" already holds ${held} local repositor${held === 1 ? 'y' : 'ies'}: ` +
          'a pull-through namespace is read-only, so pick another upstream name',
        { upstream: name, repositories: held },
      );
    }
    checkHosts(record, draft);
    if (record.isDefault) previousDefault = takeDefault(record, draft);
    draft.upstreams.push(structuredClone(record));
    const existing = draft.namespaces.find((ns) => ns.name === name);
    if (input.anonymousPull !== undefined) {
      anonymousPull = input.anonymousPull;
      anonymousPullSource = 'chosen';
      namespaceCreated = setAnonymousPull(draft, name, anonymousPull, record.createdAt);
    } else if (existing) {
      anonymousPull = existing.anonymousPull;
      anonymousPullSource = 'kept';
    } else {
      anonymousPull = held > 0 ? false : defaultAnonymousPull({ hasCredentials, loopbackOnly: options.loopbackOnly });
      anonymousPullSource = held > 0 ? 'adopted' : 'default';
      namespaceCreated = setAnonymousPull(draft, name, anonymousPull, record.createdAt);
    }
  });
  return { record, ...(previousDefault !== undefined ? { previousDefault } : {}), namespaceCreated, anonymousPull, anonymousPullSource };
}

/** Changes an upstream's settings (not its name: that is its namespace, holding its cache). */
export async function updateUpstream(
  state: StateStore,
  name: string,
  patch: UpstreamPatch,
  options: Pick<AddUpstreamOptions, 'sealSecret'>,
): Promise<UpdateUpstreamResult> {
  // Checked before the lock; applied to the record as it is under the lock.
  const url = patch.url !== undefined ? normalizeUrl(patch.url) : undefined;
  const aliases = patch.aliases !== undefined ? normalizeAliases(patch.aliases) : undefined;
  const tagTtlSeconds = patch.tagTtlSeconds !== undefined ? checkTagTtl(patch.tagTtlSeconds) : undefined;
  const caPem = given(patch.caPem) ? checkCaPem(patch.caPem) : patch.caPem;
  let updated: UpstreamRecord | undefined;
  let previous: UpstreamRecord | undefined;
  let previousDefault: string | undefined;
  let anonymousPull = false;
  await state.update((draft) => {
    previousDefault = undefined;
    const index = draft.upstreams.findIndex((upstream) => upstream.name === name);
    const current = draft.upstreams[index];
    if (!current) throw notFound(name);
    previous = structuredClone(current);
    const record: UpstreamRecord = structuredClone(current);
    if (url !== undefined) record.url = url;
    if (aliases !== undefined) record.aliases = aliases;
    if (patch.isDefault !== undefined) record.isDefault = patch.isDefault;
    if (patch.insecure !== undefined) record.insecure = patch.insecure;
    if (tagTtlSeconds !== undefined) record.tagTtlSeconds = tagTtlSeconds;
    if (patch.username !== undefined) {
      if (given(patch.username)) record.username = patch.username;
      else delete record.username;
    }
    if (patch.password !== undefined) {
      if (given(patch.password)) record.passwordSealed = options.sealSecret(patch.password);
      else delete record.passwordSealed;
    }
    if (caPem !== undefined) {
      if (given(caPem)) record.caPem = caPem;
      else delete record.caPem;
    }
    checkRecord(record);
    checkHosts(record, draft);
    if (record.isDefault) previousDefault = takeDefault(record, draft);
    draft.upstreams[index] = record;
    // Only when asked: new credentials never open or close the namespace by themselves.
    if (patch.anonymousPull !== undefined) setAnonymousPull(draft, name, patch.anonymousPull, new Date().toISOString());
    anonymousPull = draft.namespaces.find((ns) => ns.name === name)?.anonymousPull ?? false;
    updated = structuredClone(record);
  });
  if (!updated || !previous) throw notFound(name);
  return { record: updated, previous, ...(previousDefault !== undefined ? { previousDefault } : {}), anonymousPull };
}

/**
 * Stops mirroring from an upstream. Its namespace and the images cached under it are kept (still pullable); refused
 * while a sync rule uses the upstream.
 */
export async function removeUpstream(
  state: StateStore,
  name: string,
  options: { repositoriesHeld?: RepositoryCounter } = {},
): Promise<RemoveUpstreamResult> {
  let removed: UpstreamRecord | undefined;
  await state.update((draft) => {
    const index = draft.upstreams.findIndex((upstream) => upstream.name === name);
    const record = draft.upstreams[index];
    if (index === -1 || !record) throw notFound(name);
    const users = draft.syncRules.filter((rule) => rule.upstream === name).map((rule) => rule.name);
    if (users.length > 0) {
      throw new UpstreamChangeError('BERTH_UPSTREAM_IN_USE', `sync rules use upstream "${name}": ${users.slice(0, 10).join(', ')}`, {
        upstream: name,
        syncRules: users,
      });
    }
    removed = structuredClone(record);
    draft.upstreams.splice(index, 1);
  });
  if (!removed) throw notFound(name);
  if (!options.repositoriesHeld) return { record: removed };
  return { record: removed, cachedRepositories: await options.repositoriesHeld(name) };
}
