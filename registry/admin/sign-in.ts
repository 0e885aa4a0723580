import { createHash, randomBytes } from 'node:crypto';
import { openStateStore, type MetadataBackend } from '../state/metadata-backend.js';
import { type AdminSignInState, type State, type StateStore } from '../state/index.js';

/**
 * Admin sign-in for the GUI, separate from registry tokens. `berth ui-url` (or the desktop app) issues a one-time
 * code; opening `/ui/signin?code=…` trades it for a browser session. Codes and session ids are full-entropy random
 * values, so a fast hash is enough; only the hashes are stored (in state.json, so sessions survive restarts and a
 * code issued by the CLI in another process works on the running server).
 */
export const signInCodeTtlMs = 10 * 60 * 1000;
export const sessionTtlMs = 30 * 24 * 60 * 60 * 1000;
/** 128 bits for a code that lives ten minutes and works once; 256 bits for a session that lives a month. */
const codeBytes = 16;
const sessionBytes = 32;
const tokenGrammar = /^[A-Za-z0-9_-]{16,128}$/;

export interface AdminSession {
  /** The cookie value: the only copy of the session id. */
  id: string;
  expiresAt: Date;
}

export interface AdminSignIn {
  /** A new one-time code; only its hash is kept. */
  issueSignInCode(now?: Date): Promise<{ code: string; expiresAt: Date }>;
  /** Consumes a code (once, before it expires) and opens a session; undefined for an unknown, used or expired code. */
  redeemCode(code: string, now?: Date): Promise<AdminSession | undefined>;
  /** Whether a cookie value names a live session. A read of the state snapshot: cheap enough for every request. */
  isSession(id: string | undefined, now?: Date): boolean;
  endSession(id: string): Promise<void>;
}

function hashOf(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

function sectionOf(draft: State): AdminSignInState {
  draft.adminSignIn ??= { codes: [], sessions: [] };
  draft.adminSignIn.codes ??= [];
  draft.adminSignIn.sessions ??= [];
  return draft.adminSignIn;
}

function hasLiveCode(state: State, hash: string, now: Date): boolean {
  return state.adminSignIn?.codes?.some((entry) => entry.hash === hash && Date.parse(entry.expiresAt) > now.getTime()) === true;
}

/** Drops what has expired, so the section stays small without a separate sweeper. */
function prune(section: AdminSignInState, now: Date): void {
  const live = (entry: { expiresAt: string }) => Date.parse(entry.expiresAt) > now.getTime();
  section.codes = section.codes.filter(live);
  section.sessions = section.sessions.filter(live);
}

export function createAdminSignIn(state: StateStore): AdminSignIn {
  return {
    async issueSignInCode(now = new Date()) {
      const code = randomBytes(codeBytes).toString('base64url');
      const expiresAt = new Date(now.getTime() + signInCodeTtlMs);
      await state.update((draft) => {
        const section = sectionOf(draft);
        prune(section, now);
        section.codes.push({ hash: hashOf(code), expiresAt: expiresAt.toISOString() });
      });
      return { code, expiresAt };
    },

    async redeemCode(code, now = new Date()) {
      if (!tokenGrammar.test(code)) return undefined;
      const hash = hashOf(code);
      // A code nobody issued costs a look at the snapshot, never the cross-process lock and a read of state.json
      // (a flood of made-up codes once queued one locked update each). The snapshot is refreshed first: the CLI may
      // have issued this code a moment ago.
      state.refresh();
      if (!hasLiveCode(state.read(), hash, now)) return undefined;
      const id = randomBytes(sessionBytes).toString('base64url');
      const expiresAt = new Date(now.getTime() + sessionTtlMs);
      let redeemed = false;
      // Under the state lock: two tabs opening the same link cannot both get a session.
      await state.update((draft) => {
        const section = sectionOf(draft);
        prune(section, now);
        const index = section.codes.findIndex((entry) => entry.hash === hash);
        if (index === -1) return;
        section.codes.splice(index, 1);
        section.sessions.push({ hash: hashOf(id), createdAt: now.toISOString(), expiresAt: expiresAt.toISOString() });
        redeemed = true;
      });
      return redeemed ? { id, expiresAt } : undefined;
    },

    isSession(id, now = new Date()) {
      if (!id || !tokenGrammar.test(id)) return false;
      const hash = hashOf(id);
      const session = state.read().adminSignIn?.sessions?.find((entry) => entry.hash === hash);
      return session !== undefined && Date.parse(session.expiresAt) > now.getTime();
    },

    async endSession(id) {
      const hash = hashOf(id);
      await state.update((draft) => {
        const section = sectionOf(draft);
        section.sessions = section.sessions.filter((entry) => entry.hash !== hash);
      });
    },
  };
}

/**
 * The link `berth ui-url` prints: issues a code through the data directory's state file (shared with a running
 * server through its cross-process lock). `baseUrl` is where the server listens, e.g. `http://127.0.0.1:5000`.
 */
export async function createSignInUrl(dataDir: string, baseUrl: string, metadata: MetadataBackend = { kind: 'file' }): Promise<{ url: string; expiresAt: Date }> {
  const state = await openStateStore(dataDir, metadata);
  try {
    const { code, expiresAt } = await createAdminSignIn(state).issueSignInCode();
    return { url: `${baseUrl.replace(/\/+$/, '')}/ui/signin?code=${code}`, expiresAt };
  } finally {
    await state.close();
  }
}
