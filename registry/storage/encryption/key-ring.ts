import { createHash, randomBytes } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { writePrivateFileAtomically } from '../../config/private-file.js';

/**
 * The master keys that wrap the data key of every encrypted object (encryption/data-keys.ts). They are kept
 * outside the data: in an owner-only file (BERTH_ENCRYPTION_KEY_FILE, default ~/.config/berth/encryption-keys.json,
 * never inside the data directory, so a copy or backup of the data alone does not decrypt), or, in the desktop
 * app, sealed by the OS keychain (main/logic/keychain-key-ring.ts provides such a KeyRingStore).
 *
 * The ring has one active key (wraps new data keys) and at most one retired key: the one the last rotation
 * replaced. A retired key only unwraps, and it stays until the next rotation finds nothing wrapped with it, so a
 * process that wrapped a data key a moment before it saw the rotation loses nothing.
 */

export const encryptionKeyFileEnv = 'BERTH_ENCRYPTION_KEY_FILE';

export interface MasterKeyEntry {
  /** `mk-` + 16 hex characters (a fingerprint of the key: two rings holding the same key agree on its id). */
  readonly id: string;
  readonly key: Buffer;
  readonly createdAt: string;
  readonly retired: boolean;
}

/** Where the ring is kept: load undefined when there is none yet. */
export interface KeyRingStore {
  /** For messages: `file /home/me/.config/berth/encryption-keys.json`. */
  readonly source: string;
  load(): Promise<MasterKeyEntry[] | undefined>;
  save(entries: readonly MasterKeyEntry[]): Promise<void>;
  /** Changes when the stored ring changes (a file's mtime and size): lets a process see another's rotation. */
  version(): Promise<string>;
}

export class KeyRingError extends Error {
  readonly code = 'BERTH_ENCRYPTION_KEYS';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'KeyRingError';
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

/** The ring in an owner-only JSON file, written atomically (temp file 0600, fsync, rename). */
export function fileKeyRingStore(path: string): KeyRingStore {
  return {
    source: `file ${path}`,
    async load() {
      let text: string;
      try {
        const info = await stat(path);
        if ((info.mode & 0o077) !== 0) {
          throw new KeyRingError(`${path} is readable by others (mode ${(info.mode & 0o777).toString(8)}): chmod 600 ${path}`);
        }
        text = await readFile(path, 'utf8');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw error;
      }
      return parseRingText(text, path);
    },
    async save(entries) {
      await writePrivateFileAtomically(path, ringText(entries));
    },
    async version() {
      const info = await stat(path).catch(() => undefined);
      return info ? `${info.mtimeMs}/${info.size}/${info.ino}` : 'none';
    },
  };
}

/**
 * The ring as a process uses it: the active key for new data keys (re-read when the store changed, so a rotation
 * by another process is followed at the next write) and any key by id (re-read once when the id is unknown).
 */
export class MasterKeys {
  #entries: MasterKeyEntry[] | undefined;
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
    const active = this.#entries?.find((entry) => !entry.retired);
    if (!active) throw new KeyRingError(`no encryption key ring at ${this.store.source}: run "berth encryption enable" (or set ${encryptionKeyFileEnv} to the ring other nodes use)`);
    return active;
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

  /** Makes a ring with one new key when there is none; returns the active key. */
  async ensure(): Promise<{ active: MasterKeyEntry; created: boolean }> {
    await this.refresh();
    if (this.#entries) return { active: await this.active(), created: false };
    const entry = newMasterKey();
    await this.store.save([entry]);
    await this.refresh(true);
    return { active: entry, created: true };
  }

  /**
   * Adds a new active key; the old active one becomes retired. A key retired earlier is dropped when `dropRetired`
   * says nothing uses it (else it stays, and the rotation says so).
   */
  async rotate(dropRetired: (id: string) => Promise<boolean>): Promise<{ active: MasterKeyEntry; retired: string; dropped: string[]; kept: string[] }> {
    const previous = await this.active();
    const dropped: string[] = [];
    const kept: string[] = [];
    for (const entry of this.#entries ?? []) {
      if (!entry.retired) continue;
      if (await dropRetired(entry.id)) dropped.push(entry.id);
      else kept.push(entry.id);
    }
    const next = newMasterKey();
    const entries = [
      ...(this.#entries ?? []).filter((entry) => entry.retired && kept.includes(entry.id)),
      { ...previous, retired: true },
      next,
    ];
    await this.store.save(entries);
    await this.refresh(true);
    return { active: next, retired: previous.id, dropped, kept };
  }

  /** Drops a retired key (after a rotation's re-wrap found nothing left that uses it). */
  async drop(id: string): Promise<void> {
    await this.refresh();
    const entries = this.#entries ?? [];
    if (!entries.some((entry) => entry.id === id && entry.retired)) return;
    await this.store.save(entries.filter((entry) => entry.id !== id));
    await this.refresh(true);
  }

  private async refresh(force = false): Promise<void> {
    const version = await this.store.version();
    if (!force && version === this.#version && this.#entries !== undefined) return;
    this.#entries = await this.store.load();
    this.#version = version;
  }

  toJSON(): string {
    return `[encryption keys from ${this.store.source}]`;
  }

  [inspect.custom](): string {
    return this.toJSON();
  }
}
