import { readFileSync, statSync } from 'node:fs';
import { chmod, mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { privateDirMode } from '../config/private-modes.js';
import { Low } from 'lowdb';
import { deepFreeze } from './deep-freeze.js';
import { withFileLock, type FileLockOptions } from './file-lock.js';
import { defaultState, type State } from './schema.js';
import { parseStateText, removeAbandonedTemps, SecureJsonFile } from './secure-json-file.js';

/**
 * The app state shared by every Berth process on one data directory (the server, and `berth token create` run
 * in another terminal). Reads are served from an in-memory snapshot that is refreshed when the file changes;
 * writes are read-modify-write under a cross-process lock, so no process ever overwrites another's change.
 */
export interface StateStore {
  /** Where the state lives, for messages: `<dataDir>/state.json`, or the database (postgres/postgres-state-store.ts). */
  readonly path: string;
  /**
   * The current state: a deep-frozen snapshot, cheap enough for every request. At most `refreshMs` after
   * another process writes the file, the next call sees the change (a stat, not a read, on the hot path).
   */
  read(): State;
  /**
   * Looks at the file now, whatever `refreshMs` says, and returns true when the snapshot changed. For the moment
   * before a refusal ("access token not recognised", "no such upstream"): what another process (the CLI) wrote a
   * millisecond ago is honoured on the very next request, while the hot path keeps its cheap, rate-limited check.
   */
  refresh(): boolean;
  // (PostgreSQL cannot be read synchronously: its store starts a reload and answers false; its snapshot follows
  // the database within milliseconds through LISTEN/NOTIFY, so what refresh() is for is already done there.)
  /**
   * Locks the file (across processes), re-reads it, lets `fn` change the draft, writes it atomically (only if
   * something changed) and returns the new snapshot. Calls from one store run one after another.
   */
  update(fn: (draft: State) => void | Promise<void>): Promise<State>;
  /** Resolves when every update queued so far has finished (its outcome is reported to its own caller). */
  settled(): Promise<void>;
  /** Waits for queued updates; further updates are refused. */
  close(): Promise<void>;
}

export interface StateStoreOptions {
  /** How stale `read()` may be: the file is stat-ed at most once per this many ms. Default 200. */
  refreshMs?: number;
  lock?: FileLockOptions;
}

export class StateStoreClosedError extends Error {
  readonly code = 'BERTH_STATE_CLOSED';
  constructor() {
    super('the state store is closed');
    this.name = 'StateStoreClosedError';
  }
}

export const stateFileName = 'state.json';

type FileSignature = string;

function signatureOf(info: { ino: number; size: number; mtimeMs: number } | undefined): FileSignature {
  // The inode changes on every atomic rename, so this catches writes even within one mtime tick.
  return info ? `${info.ino}:${info.size}:${info.mtimeMs}` : 'missing';
}

export async function createStateStore(dataDir: string, options: StateStoreOptions = {}): Promise<StateStore> {
  const refreshMs = options.refreshMs ?? 200;
  const path = join(dataDir, stateFileName);
  const lockPath = `${path}.lock`;
  // 0700 like every folder of the data directory; `berth serve` also repairs one made by an older version.
  await mkdir(dataDir, { recursive: true, mode: privateDirMode });

  const db = new Low<State>(new SecureJsonFile(path), defaultState());
  let snapshot: State = deepFreeze(defaultState());
  let signature: FileSignature = '';
  let checkedAt = 0;
  let queue: Promise<unknown> = Promise.resolve();
  let closed = false;

  function refreshFromDisk(): void {
    let info;
    try {
      info = statSync(path, { throwIfNoEntry: false });
    } catch {
      return; // e.g. EACCES after a permissions mistake: keep serving the last good state rather than fail requests
    }
    const next = signatureOf(info);
    if (next === signature) return;
    if (!info) {
      snapshot = deepFreeze(defaultState());
      signature = next;
      return;
    }
    try {
      snapshot = deepFreeze(parseStateText(readFileSync(path, 'utf8'), path));
      signature = next;
    } catch {
      // A hand-edited file that does not parse: keep serving the last good state. update() reports the error.
    }
  }

  async function lockedUpdate(fn: (draft: State) => void | Promise<void>): Promise<State> {
    return withFileLock(
      lockPath,
      async () => {
        // Low.read() keeps the previous data when the file is missing: start from defaults, not an old draft.
        db.data = defaultState();
        await db.read();
        const exists = (await stat(path).catch(() => null)) !== null;
        const before = JSON.stringify(db.data);
        await fn(db.data);
        if (!exists || JSON.stringify(db.data) !== before) await db.write();
        snapshot = deepFreeze(structuredClone(db.data));
        signature = signatureOf(statSync(path, { throwIfNoEntry: false }));
        checkedAt = Date.now();
        return snapshot;
      },
      options.lock,
    );
  }

  function update(fn: (draft: State) => void | Promise<void>): Promise<State> {
    if (closed) return Promise.reject(new StateStoreClosedError());
    const result = queue.then(() => lockedUpdate(fn));
    queue = result.catch(() => undefined);
    return result;
  }

  // First use of a data directory creates the file, so the other processes and a curious user find it. Under the
  // lock, what a killed writer left behind goes: its temp files, and the lock file of earlier builds (an empty one
  // made every start wait 10 s), which the lock folder replaced.
  await update(async () => {
    await removeAbandonedTemps(path);
    await rm(lockPath, { force: true });
  });
  const info = await stat(path);
  if ((info.mode & 0o777) !== 0o600) await chmod(path, 0o600);

  return {
    path,
    read(): State {
      const now = Date.now();
      if (now - checkedAt >= refreshMs) {
        checkedAt = now;
        refreshFromDisk();
      }
      return snapshot;
    },
    refresh(): boolean {
      const before = snapshot;
      checkedAt = Date.now();
      refreshFromDisk();
      return snapshot !== before;
    },
    update,
    async settled(): Promise<void> {
      await queue;
    },
    async close(): Promise<void> {
      closed = true;
      await queue;
    },
  };
}
