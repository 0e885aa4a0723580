import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { DurationError, parseDuration } from '../core/duration.js';
import type { StateStore } from '../state/state-store.js';
import type { Action, Scope, TokenRecord } from '../state/schema.js';
import { AuthError } from './errors.js';
import { actionsForRepository, formatScope, parseScope } from './scopes.js';

/**
 * Access tokens: `berth_` + 256 random bits, shown once, stored only as a SHA-256 hash. A fast hash is the right
 * tool here: the secret has full entropy, so there is nothing for a slow password hash to protect against, and
 * verification runs on every request that carries Basic credentials.
 */
export const tokenPrefix = 'berth_';
/** 32 bytes in base64url without padding is 43 characters. */
const secretGrammar = /^berth_[A-Za-z0-9_-]{43}$/;
const nameGrammar = /^[a-zA-Z0-9._-]{1,64}$/;
/** lastUsedAt is a hint for humans ("unused for 90 days"); writing it more often would put a disk write on every request. */
export const lastUsedResolutionMs = 60_000;

export type TokenStatus = 'active' | 'expired' | 'revoked';
export type VerifyFailure = 'unknown' | 'revoked' | 'expired';
/**
 * `name` and `id` are set for revoked and expired tokens, so a refusal can be audited under the token's name and
 * its failures counted per token (auth/credential-check.ts).
 */
export type VerifyResult = { ok: true; record: TokenRecord } | { ok: false; reason: VerifyFailure; name?: string; id?: string };

export interface CreateTokenInput {
  name: string;
  /** Scope objects, or their CLI form (`team/*:pull,push`). At least one. */
  scopes: ReadonlyArray<Scope | string>;
  /** `30d`, `12h`, milliseconds, or null/undefined for a token that does not expire. */
  expiresIn?: string | number | null;
  now?: Date;
}

export function isTokenName(name: string): boolean {
  return nameGrammar.test(name);
}

export function hashToken(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

export function tokenStatus(record: TokenRecord, now: Date = new Date()): TokenStatus {
  if (record.revokedAt) return 'revoked';
  if (record.expiresAt && Date.parse(record.expiresAt) <= now.getTime()) return 'expired';
  return 'active';
}

function expiryFrom(expiresIn: CreateTokenInput['expiresIn'], now: Date): string | null {
  if (expiresIn === undefined || expiresIn === null) return null;
  let ms: number;
  try {
    ms = typeof expiresIn === 'number' ? expiresIn : parseDuration(expiresIn);
  } catch (error) {
    if (error instanceof DurationError) throw new AuthError('BERTH_EXPIRY_INVALID', error.message, { cause: error });
    throw error;
  }
  const at = new Date(now.getTime() + ms);
  if (!(ms > 0) || Number.isNaN(at.getTime())) {
    throw new AuthError('BERTH_EXPIRY_INVALID', `invalid expiry "${String(expiresIn)}": use e.g. 90m, 12h, 30d, 1y`);
  }
  return at.toISOString();
}

/** Creates a token. The returned `token` is the only copy of the secret: show it once, never store or log it. */
export async function createToken(store: StateStore, input: CreateTokenInput): Promise<{ token: string; record: TokenRecord }> {
  const now = input.now ?? new Date();
  if (!isTokenName(input.name)) {
    const shown = input.name.slice(0, 80);
    throw new AuthError('BERTH_TOKEN_NAME_INVALID', `invalid token name "${shown}": use 1-64 of a-z A-Z 0-9 . _ -`);
  }
  if (input.scopes.length === 0) throw new AuthError('BERTH_SCOPE_INVALID', 'a token needs at least one scope, e.g. team/*:pull');
  // Scope objects go through the same parser as CLI text, so both are validated and canonicalized alike.
  const scopes = input.scopes.map((scope) => parseScope(typeof scope === 'string' ? scope : formatScope(scope)));
  const expiresAt = expiryFrom(input.expiresIn, now);
  const token = tokenPrefix + randomBytes(32).toString('base64url');
  const record: TokenRecord = {
    id: randomUUID(),
    name: input.name,
    hash: hashToken(token),
    scopes,
    createdAt: now.toISOString(),
    expiresAt,
    lastUsedAt: null,
    revokedAt: null,
  };
  await store.update((draft) => {
    // Checked inside the lock: two `berth token create ci` racing in two terminals cannot both succeed.
    if (draft.tokens.some((existing) => existing.name === input.name && !existing.revokedAt)) {
      const message = `a token named "${input.name}" already exists: revoke it first or pick another name`;
      throw new AuthError('BERTH_TOKEN_NAME_TAKEN', message);
    }
    draft.tokens.push(record);
  });
  return { token, record };
}

/** Every token record (revoked ones included, for the audit trail), oldest first. Records never contain secrets. */
export function listTokens(store: StateStore): TokenRecord[] {
  return [...store.read().tokens];
}

/** Revokes the non-revoked token with this name (or id). Takes effect in every process within a second. */
export async function revokeToken(store: StateStore, nameOrId: string, now: Date = new Date()): Promise<TokenRecord> {
  let revoked: TokenRecord | undefined;
  await store.update((draft) => {
    const record = draft.tokens.find((token) => !token.revokedAt && (token.name === nameOrId || token.id === nameOrId));
    if (!record) throw new AuthError('BERTH_TOKEN_NOT_FOUND', `no active token named "${nameOrId.slice(0, 80)}"`);
    record.revokedAt = now.toISOString();
    revoked = { ...record };
  });
  if (!revoked) throw new AuthError('BERTH_TOKEN_NOT_FOUND', `no active token named "${nameOrId.slice(0, 80)}"`);
  return revoked;
}

const pendingTouches = new WeakMap<StateStore, Set<string>>();

/**
 * Checks a presented secret. Every stored hash is compared with timingSafeEqual, with no early exit, so the time
 * taken says nothing about which hashes came close. On success, lastUsedAt is recorded in the background at most
 * once a minute per token (never a write per request); `store.settled()` waits for it.
 */
export function verifyToken(store: StateStore, secret: string, now: Date = new Date()): VerifyResult {
  if (!secretGrammar.test(secret)) return { ok: false, reason: 'unknown' };
  const presented = Buffer.from(hashToken(secret), 'hex');
  // A token `berth token create` wrote a moment ago may not be in the snapshot yet: look at the file before refusing.
  const match = findByHash(store.read().tokens, presented) ?? (store.refresh() ? findByHash(store.read().tokens, presented) : undefined);
  if (!match) return { ok: false, reason: 'unknown' };
  const status = tokenStatus(match, now);
  if (status !== 'active') return { ok: false, reason: status, name: match.name, id: match.id };
  touchLastUsed(store, match, now);
  return { ok: true, record: match };
}

function findByHash(tokens: readonly TokenRecord[], presented: Buffer): TokenRecord | undefined {
  let match: TokenRecord | undefined;
  // Every record is compared (no early exit), so the time taken says nothing about where a match is.
  for (const record of tokens) {
    const stored = Buffer.from(record.hash, 'hex');
    if (stored.length === presented.length && timingSafeEqual(stored, presented)) match = record;
  }
  return match;
}

function touchLastUsed(store: StateStore, record: TokenRecord, now: Date): void {
  if (record.lastUsedAt && now.getTime() - Date.parse(record.lastUsedAt) < lastUsedResolutionMs) return;
  let pending = pendingTouches.get(store);
  if (!pending) pendingTouches.set(store, (pending = new Set()));
  if (pending.has(record.id)) return;
  pending.add(record.id);
  const id = record.id;
  store
    .update((draft) => {
      const target = draft.tokens.find((token) => token.id === id);
      if (!target || target.revokedAt) return;
      if (target.lastUsedAt && now.getTime() - Date.parse(target.lastUsedAt) < lastUsedResolutionMs) return;
      target.lastUsedAt = now.toISOString();
    })
    // Losing a last-used hint (disk full, store closing) must not fail the request that was authenticated.
    .catch(() => undefined)
    .finally(() => pending.delete(id));
}

/** The actions a token's scopes permit on `repository`. Scopes only: verifyToken/tokenStatus decide if the token is live. */
export function allowedActions(record: TokenRecord, repository: string): Set<Action> {
  return actionsForRepository(record.scopes, repository);
}
