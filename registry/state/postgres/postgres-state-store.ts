import type pg from 'pg';
import { deepFreeze } from '../deep-freeze.js';
import { normalizeState, type State } from '../schema.js';
import { StateStoreClosedError, type StateStore } from '../state-store.js';
import { inTransaction, type PostgresDatabase } from './database.js';

/**
 * The app state in PostgreSQL, shared by every Berth node on one database: the same contract as the file store
 * (frozen snapshots, read-modify-write updates that never lose another node's change), over the tables of
 * migration 1 (registry/state/postgres/migration-list.ts): one row per top-level section of the State, and a
 * head row whose version grows with every change.
 *
 * Writes lock the head row (`SELECT ... FOR UPDATE`) for the length of one transaction, so updates from all
 * nodes run one after another, as they do under the file store's lock. Reads are served from a snapshot:
 * each committed change sends a NOTIFY with the new version, and every node's listener reloads just the
 * sections newer than the version it has (a change is visible on the other nodes in milliseconds). While the
 * listener is down, `read()` checks the head version at most every `refreshMs` instead, in the background.
 */

export interface PostgresStateStoreOptions {
  /** Fallback poll interval while the LISTEN connection is down. Default 1000 ms. */
  readonly refreshMs?: number;
  /** Called once by close(), after the last update: the owner of the database closes it here. */
  readonly onClose?: () => Promise<void>;
  /** Told when the listener connection fails (it reconnects by itself). */
  readonly onListenerError?: (error: Error) => void;
}

/** The NOTIFY channel; the payload is the new head version. */
const channel = 'berth_state';
const listenerRetryMs = 1000;
/** SQLSTATE undefined_table. */
const undefinedTable = '42P01';

interface SectionRow {
  section: string;
  version: string;
  doc: unknown;
}

export async function createPostgresStateStore(database: PostgresDatabase, options: PostgresStateStoreOptions = {}): Promise<StateStore> {
  const refreshMs = options.refreshMs ?? 1000;
  const label = `${database.label} (berth_state_sections)`;
  /** The raw sections as stored, and the head version they make up. */
  let sections = new Map<string, unknown>();
  let version = -1n;
  let snapshot: State;
  let queue: Promise<unknown> = Promise.resolve();
  let closed = false;
  let reloading: Promise<boolean> | undefined;
  let reloadAgain = false;
  let checkedAt = 0;
  let listener: pg.Client | undefined;
  let listenerTimer: NodeJS.Timeout | undefined;
  let closing: Promise<void> | undefined;

  const build = (raw: ReadonlyMap<string, unknown>): State => deepFreeze(normalizeState(Object.fromEntries(raw), label));

  /** Reads the sections newer than `version` (all sections' names, to see deletions), in one statement. */
  async function fetchChanges(client: pg.Pool | pg.PoolClient, known: bigint): Promise<{ head: bigint; next: Map<string, unknown> }> {
    const { rows } = await client.query<SectionRow & { head: string }>(
      `SELECT h.version AS head, s.section, s.version, CASE WHEN s.version > $1 THEN s.doc END AS doc
         FROM berth_state_head h LEFT JOIN berth_state_sections s ON true`,
      [known.toString()],
    );
    const head = BigInt(rows[0]?.head ?? '0');
    const next = new Map<string, unknown>();
    for (const row of rows) {
      if (row.section === null) continue;
      next.set(row.section, BigInt(row.version) > known ? row.doc : sections.get(row.section));
    }
    return { head, next };
  }

  /** Brings the snapshot up to the database's head; true when it changed. One at a time; a call meanwhile reruns it. */
  function reload(): Promise<boolean> {
    if (reloading) {
      reloadAgain = true;
      return reloading;
    }
    reloading = (async () => {
      let changed = false;
      do {
        reloadAgain = false;
        const known = version;
        const { head, next } = await fetchChanges(database.pool, known);
        // An update of this store moved on meanwhile: never step back; look again from where it got to.
        if (known !== version) {
          reloadAgain = true;
          continue;
        }
        if (head > version) {
          const built = build(next);
          sections = next;
          version = head;
          snapshot = built;
          changed = true;
        }
      } while (reloadAgain && !closed);
      return changed;
    })().finally(() => {
      reloading = undefined;
    });
    return reloading;
  }

  /** A reload in the background: a failure (database down) keeps the last good snapshot being served. */
  function reloadSoon(): void {
    reload().catch(() => undefined);
  }

  async function startListener(): Promise<void> {
    if (closed) return;
    let client: pg.Client | undefined;
    try {
      client = await database.connectClient();
      const connected = client;
      connected.on('notification', (message) => {
        if (message.channel !== channel) return;
        // Our own commits arrive too: their version is already in the snapshot, nothing to fetch. Anything but a
        // version number (a NOTIFY by hand) just means "look".
        if (message.payload !== undefined && /^\d{1,19}$/.test(message.payload) && BigInt(message.payload) <= version) return;
        reloadSoon();
      });
      const lost = (error?: Error): void => {
        if (listener !== connected) return;
        listener = undefined;
        connected.removeAllListeners('notification');
        connected.end().catch(() => undefined);
        if (error) options.onListenerError?.(error);
        scheduleListener();
      };
      connected.on('error', lost);
      connected.on('end', () => lost());
      await connected.query(`LISTEN ${channel}`);
      if (closed) {
        await connected.end();
        return;
      }
      listener = connected;
      // Changes committed while no listener was connected were announced to nobody.
      reloadSoon();
    } catch (error) {
      await client?.end().catch(() => undefined);
      options.onListenerError?.(error instanceof Error ? error : new Error(String(error)));
      scheduleListener();
    }
  }

  function scheduleListener(): void {
    if (closed || listenerTimer) return;
    listenerTimer = setTimeout(() => {
      listenerTimer = undefined;
      void startListener();
    }, listenerRetryMs);
    listenerTimer.unref();
  }

  async function lockedUpdate(fn: (draft: State) => void | Promise<void>): Promise<State> {
    let committed: { state: State; sections: Map<string, unknown>; version: bigint } | undefined;
    const result = await inTransaction(database.pool, async (client) => {
      const { rows } = await client.query<{ version: string }>('SELECT version FROM berth_state_head WHERE id = 1 FOR UPDATE');
      if (rows.length === 0) throw new Error(`${label}: the head row is missing (was the database migrated?)`);
      const head = BigInt(rows[0]!.version);
      // Under the lock: what we hold is current when the versions match, else read what changed since.
      let current = sections;
      if (head !== version) current = (await fetchChanges(client, version)).next;
      const draft = normalizeState(structuredClone(Object.fromEntries(current)), label);
      await fn(draft);
      const next = new Map<string, unknown>();
      const writes: Array<[string, string]> = [];
      for (const [key, value] of Object.entries(draft)) {
        // JSON.stringify drops undefined: a section set to undefined is a section deleted.
        const text = value === undefined ? undefined : JSON.stringify(value);
        if (text === undefined) continue;
        next.set(key, JSON.parse(text) as unknown);
        if (!current.has(key) || JSON.stringify(current.get(key)) !== text) writes.push([key, text]);
      }
      const deletes = [...current.keys()].filter((key) => !next.has(key));
      if (writes.length === 0 && deletes.length === 0) {
        committed = { state: build(current), sections: current, version: head };
        return committed.state;
      }
      const newVersion = head + 1n;
      for (const [key, text] of writes) {
        await client.query(
          `INSERT INTO berth_state_sections (section, doc, version) VALUES ($1, $2::jsonb, $3)
             ON CONFLICT (section) DO UPDATE SET doc = EXCLUDED.doc, version = EXCLUDED.version`,
          [key, text, newVersion.toString()],
        );
      }
      if (deletes.length > 0) await client.query('DELETE FROM berth_state_sections WHERE section = ANY($1)', [deletes]);
      await client.query('UPDATE berth_state_head SET version = $1 WHERE id = 1', [newVersion.toString()]);
      // Delivered at COMMIT, to every listening node (this one included, which ignores it).
      await client.query('SELECT pg_notify($1, $2)', [channel, newVersion.toString()]);
      committed = { state: build(next), sections: next, version: newVersion };
      return committed.state;
    });
    // Only now, after COMMIT: a rolled-back update must leave the snapshot as it was.
    if (committed && committed.version >= version) {
      sections = committed.sections;
      version = committed.version;
      snapshot = committed.state;
      checkedAt = Date.now();
    }
    return result;
  }

  function update(fn: (draft: State) => void | Promise<void>): Promise<State> {
    if (closed) return Promise.reject(new StateStoreClosedError());
    const result = queue.then(() => lockedUpdate(fn));
    queue = result.catch(() => undefined);
    return result;
  }

  // The first load is awaited, so a store that opens serves the real state from its first read().
  snapshot = build(new Map());
  try {
    await reload();
  } catch (error) {
    if ((error as { code?: string }).code === undefinedTable) {
      throw new Error(`the database has no Berth tables (berth_state_head): run "berth migrate --metadata ${database.label}" first`, { cause: error });
    }
    throw error;
  }
  checkedAt = Date.now();
  await startListener();

  return {
    path: label,
    read(): State {
      const now = Date.now();
      if (!listener && now - checkedAt >= refreshMs) {
        checkedAt = now;
        reloadSoon();
      }
      return snapshot;
    },
    refresh(): boolean {
      // A database cannot be read synchronously, so this never reports a change. With the listener connected the
      // snapshot is already within milliseconds of the database, and a query per refusal (a flood of made-up
      // tokens) would buy nothing; without it, look now, in the background.
      if (!listener) {
        checkedAt = Date.now();
        reloadSoon();
      }
      return false;
    },
    update,
    async settled(): Promise<void> {
      await queue;
    },
    close(): Promise<void> {
      closed = true;
      closing ??= (async () => {
        await queue;
        if (listenerTimer) clearTimeout(listenerTimer);
        const client = listener;
        listener = undefined;
        await client?.end().catch(() => undefined);
        await reloading?.catch(() => undefined);
        await options.onClose?.();
      })();
      return closing;
    },
  };
}
