import { createHash, randomBytes } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { writePrivateFileAtomically } from '../../config/private-file.js';

/**
 * The master keys that wrap the data key of every encrypted object (encryption/data-keys.ts). They are kept
 * outside the data: in an owner-only file (BERTH_ENCRYPTION_KEY_FILE, default ~/.config/berth/encryption-keys.json,
 * never inside the data directory, so a copy or backup of the data alone does not decrypt); in the desktop app,
 * sealed by the OS keychain (main/logic/keychain-key-ring.ts); with PostgreSQL metadata, in the database every node
 * shares (state/postgres/shared-key-ring.ts). The metadata backend picks (state/metadata-backend.ts openKeyRing).
 *
 * The ring has one active key (wraps new data keys) and the retired keys (usually one: the one the last rotation
 * replaced; two rotations at once leave two). A retired key only unwraps, and it stays until a rotation finds
 * nothing wrapped with it, so a process that wrapped a data key a moment before it saw the rotation loses nothing.
 */

export const encryptionKeyFileEnv = 'BERTH_ENCRYPTION_KEY_FILE';

export interface MasterKeyEntry {
  /** `mk-` + 16 hex characters (a fingerprint of the key: two rings holding the same key agree on its id). */
  readonly id: string;
  readonly key: Buffer;
  readonly createdAt: string;
  readonly retired: boolean;
}

/** A ring as stored, with the revision a save() of its successor names. */
export interface StoredKeyRing {
  readonly entries: MasterKeyEntry[];
  /** Opaque; different after every save. */
  readonly revision: string;
}

/** Where the ring is kept: load undefined when there is none yet. */
export interface KeyRingStore {
  /** For messages: `file /home/me/.config/berth/encryption-keys.json`. */
  readonly source: string;
  /** What to do when the ring is missing where data says there is one, for messages: `set BERTH_ENCRYPTION_KEY_FILE to ...`. */
  readonly missingHint: string;
  load(): Promise<StoredKeyRing | undefined>;
  /**
   * Replaces the ring that was loaded at `basis` (its revision; undefined: there was no ring). When the stored ring is
   * no longer that one (another process saved meanwhile), nothing is written and KeyRingConflictError is thrown: the
   * caller (MasterKeys) reads again and recomputes, so two rotations at once cannot lose a key.
   */
  save(entries: readonly MasterKeyEntry[], basis: string | undefined): Promise<void>;
  /** Changes when the stored ring changes (a file's mtime and size): lets a process see another's rotation. */
  version(): Promise<string>;
}

export class KeyRingError extends Error {
  readonly code: string = 'BERTH_ENCRYPTION_KEYS';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'KeyRingError';
  }
}

/** A save() whose basis is no longer the stored ring. */
export class KeyRingConflictError extends KeyRingError {
  override readonly code = 'BERTH_ENCRYPTION_KEYS_CHANGED';
  constructor(source: string) {
    super(`the key ring at ${source} was changed by another process meanwhile`);
    this.name = 'KeyRingConflictError';
  }
}

export function masterKeyId(key: Buffer): string {
  return `mk-${createHash('sha256').update('berth master key id\n').update(key).digest('hex').slice(0, 16)}`;
}

export function newMasterKey(now = new Date()): MasterKeyEntry {
  const key = randomBytes(32);
  return { id: masterKeyId(key), key, createdAt: now.toISOString(), retired: false };
}

/** The default ring file: the user's config folder, beside no data directory. */
export function defaultKeyRingPath(env: NodeJS.ProcessEnv = process.env): string {
  const configured = env[encryptionKeyFileEnv];
  if (configured !== undefined && configured !== '') return configured;
  const base = env.XDG_CONFIG_HOME !== undefined && env.XDG_CONFIG_HOME !== '' ? env.XDG_CONFIG_HOME : join(homedir(), '.config');
  return join(base, 'berth', 'encryption-keys.json');
}

interface RingFile {
  version: 1;
  keys: { id: string; key: string; createdAt: string; retired?: boolean }[];
}

/** Serialises entries for any store (the keychain store seals this text). */
export function ringText(entries: readonly MasterKeyEntry[]): string {
  const file: RingFile = {
    version: 1,
    keys: entries.map((entry) => ({ id: entry.id, key: entry.key.toString('base64'), createdAt: entry.createdAt, ...(entry.retired ? { retired: true } : {}) })),
  };
  return `${JSON.stringify(file, null, 2)}\n`;
}

export function parseRingText(text: string, source: string): MasterKeyEntry[] {
  let file: RingFile;
  try {
    file = JSON.parse(text) as RingFile;
  } catch (error) {
    throw new KeyRingError(`${source} is not a Berth encryption key ring (not JSON)`, { cause: error });
  }
  if (file?.version !== 1 || !Array.isArray(file.keys)) throw new KeyRingError(`${source} is not a Berth encryption key ring (version 1)`);
  const entries = file.keys.map((entry) => {
    const key = Buffer.from(String(entry.key), 'base64');
    if (key.length !== 32 || masterKeyId(key) !== entry.id) throw new KeyRingError(`${source}: key ${String(entry.id)} is damaged (not the 32 bytes its id names)`);
    return { id: entry.id, key, createdAt: String(entry.createdAt), retired: entry.retired === true };
  });
  if (entries.filter((entry) => !entry.retired).length !== 1) throw new KeyRingError(`${source}: a key ring has exactly one active key`);
  return entries;
}

/**
 * A ring file's revision: its mtime, size and inode (an atomic write is a new inode), or `none`. The version and the
 * save basis of the file stores (this one and the desktop keychain's).
 */
export async function fileRevision(path: string): Promise<string> {
  const info = await stat(path).catch(() => undefined);
  return info ? revisionOf(info) : 'none';
}

function revisionOf(info: { mtimeMs: number; size: number; ino: number }): string {
  return `${info.mtimeMs}/${info.size}/${info.ino}`;
}

/**
 * A file store's compare-and-swap: refused when the file is not the one loaded at `basis`. Between processes of one
 * host the check and the rename are two steps (a rotation in the very same moment can still win unseen); the
 * PostgreSQL store's is one statement (state/postgres/shared-key-ring.ts).
 */
export async function checkFileBasis(path: string, source: string, basis: string | undefined): Promise<void> {
  if ((await fileRevision(path)) !== (basis ?? 'none')) throw new KeyRingConflictError(source);
}

/** The ring in an owner-only JSON file, written atomically (temp file 0600, fsync, rename). */
export function fileKeyRingStore(path: string): KeyRingStore {
  const source = `file ${path}`;
  return {
    source,
    missingHint: `set ${encryptionKeyFileEnv} to the ring the running Berth uses`,
    async load() {
      let text: string;
      let revision: string;
      try {
        // Stat before the read: a file replaced in between is loaded with the older revision, so its save conflicts.
        const info = await stat(path);
        if ((info.mode & 0o077) !== 0) {
          throw new KeyRingError(`${path} is readable by others (mode ${(info.mode & 0o777).toString(8)}): chmod 600 ${path}`);
        }
        revision = revisionOf(info);
        text = await readFile(path, 'utf8');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw error;
      }
      return { entries: parseRingText(text, path), revision };
    },
    async save(entries, basis) {
      await checkFileBasis(path, source, basis);
      await writePrivateFileAtomically(path, ringText(entries));
    },
    version: () => fileRevision(path),
  };
}

/** How often a save is tried again after another process changed the ring meanwhile (each time re-read first). */
const saveAttempts = 5;

/**
 * The ring as a process uses it: the active key for new data keys (re-read when the store changed, so a rotation
 * by another process is followed at the next write) and any key by id (re-read once when the id is unknown).
 * Every change is a compare-and-swap on the revision it was computed from: one that lost against another
 * process's change is computed again from the ring that won.
 */
export class MasterKeys {
  #entries: MasterKeyEntry[] | undefined;
  /** The revision #entries were loaded at: the basis of the next save. */
  #revision: string | undefined;
  #version: string | undefined;

  constructor(readonly store: KeyRingStore) {}

  /** The entries now stored (undefined: no ring yet). */
  async entries(): Promise<readonly MasterKeyEntry[] | undefined> {
    await this.refresh();
    return this.#entries;
  }

  /** The key that wraps new data keys; a missing ring is an error that says how to make one. */
  async active(): Promise<MasterKeyEntry> {
    await this.refresh();
    return this.activeOf(this.#entries);
  }

  async byId(id: string): Promise<MasterKeyEntry> {
    let found = this.#entries?.find((entry) => entry.id === id);
    if (!found) {
      await this.refresh();
      found = this.#entries?.find((entry) => entry.id === id);
    }
    if (!found) throw new KeyRingError(`master key ${id} is not in the key ring at ${this.store.source}: this data was encrypted with a ring this process does not have`);
    return found;
  }

  /** Makes a ring with one new key when there is none; returns the active key (another process's, if it made one first). */
  async ensure(): Promise<{ active: MasterKeyEntry; created: boolean }> {
    await this.refresh();
    return this.change<{ active: MasterKeyEntry; created: boolean }>((current) => {
      if (current) return { result: { active: this.activeOf(current), created: false } };
      const entry = newMasterKey();
      return { next: [entry], result: { active: entry, created: true } };
    });
  }

  /**
   * Adds a new active key; the old active one becomes retired. A key retired earlier is dropped when `dropRetired`
   * says nothing uses it (else it stays, and the rotation says so). `dropRetired` is asked about the keys retired when
   * the rotation begins, once: a key another process's rotation retired meanwhile is kept (it may wrap data keys that
   * count did not see), for a later rotation to drop.
   */
  async rotate(dropRetired: (id: string) => Promise<boolean>): Promise<{ active: MasterKeyEntry; retired: string; dropped: string[]; kept: string[] }> {
    this.activeOf(await this.entries());
    const unused = new Set<string>();
    for (const entry of this.#entries ?? []) {
      if (entry.retired && (await dropRetired(entry.id))) unused.add(entry.id);
    }
    return this.change((current) => {
      const previous = this.activeOf(current);
      const retired = (current ?? []).filter((entry) => entry.retired);
      const kept = retired.filter((entry) => !unused.has(entry.id));
      const next = newMasterKey();
      return {
        next: [...kept, { ...previous, retired: true }, next],
        result: { active: next, retired: previous.id, dropped: retired.filter((entry) => unused.has(entry.id)).map((entry) => entry.id), kept: kept.map((entry) => entry.id) },
      };
    });
  }

  /** Drops a retired key (after a rotation's re-wrap found nothing left that uses it). */
  async drop(id: string): Promise<void> {
    await this.refresh();
    await this.change((current) => {
      const entries = current ?? [];
      if (!entries.some((entry) => entry.id === id && entry.retired)) return { result: undefined };
      return { next: entries.filter((entry) => entry.id !== id), result: undefined };
    });
  }

  /**
   * Saves what `plan` makes of the ring loaded now (no `next`: nothing to save); when another process saved first,
   * loads the ring that won and plans again.
   */
  private async change<T>(plan: (current: readonly MasterKeyEntry[] | undefined) => { next?: MasterKeyEntry[]; result: T }): Promise<T> {
    for (let attempt = 1; ; attempt += 1) {
      const { next, result } = plan(this.#entries);
      if (!next) return result;
      try {
        await this.store.save(next, this.#revision);
      } catch (error) {
        if (!(error instanceof KeyRingConflictError) || attempt >= saveAttempts) throw error;
        await this.refresh(true);
        continue;
      }
      await this.refresh(true);
      return result;
    }
  }

  private activeOf(entries: readonly MasterKeyEntry[] | undefined): MasterKeyEntry {
    const active = entries?.find((entry) => !entry.retired);
    if (!active) throw new KeyRingError(`no encryption key ring at ${this.store.source}: run "berth encryption enable" (or ${this.store.missingHint})`);
    return active;
  }

  private async refresh(force = false): Promise<void> {
    const version = await this.store.version();
    if (!force && version === this.#version && this.#entries !== undefined) return;
    const stored = await this.store.load();
    this.#entries = stored?.entries;
    this.#revision = stored?.revision;
    this.#version = version;
  }

  toJSON(): string {
    return `[encryption keys from ${this.store.source}]`;
  }

  [inspect.custom](): string {
    return this.toJSON();
  }
}
