import { join } from 'node:path';
import { openPrivateSqlite } from '../storage/private-sqlite.js';

/**
 * The trash's entries: what a delete took away and what a restore needs to bring it back. Not derived data (no
 * link file says a manifest was deleted), so neither a table of the metadata index, which is dropped and rebuilt,
 * nor a file under `index/`: on the filesystem backend a SQLite file of its own, `<data>/trash/entries.sqlite`,
 * shared by the server and the CLI; on PostgreSQL a table every node sees (lifecycle/postgres-trash-store.ts,
 * migration 7). Both run test/storage/trash-store-contract.ts.
 */
export interface TrashStore {
  add(entry: TrashEntry): Promise<void>;
  get(id: string): Promise<TrashEntry | undefined>;
  /** Newest first; `namespace` or `repository` narrow it. */
  list(filter?: TrashFilter): Promise<TrashEntry[]>;
  /** False when there was no such entry (restored or emptied meanwhile, perhaps by another node). */
  remove(id: string): Promise<boolean>;
  /**
   * Removes and returns the entries that `filter` selects (with `expiredBy`, only those expired by then), in one
   * statement: two nodes emptying at once never both return an entry.
   */
  removeWhere(filter: TrashFilter & { expiredBy?: Date }): Promise<TrashEntry[]>;
  close(): Promise<void>;
}

export interface TrashFilter {
  namespace?: string;
  repository?: string;
}

/** One manifest a delete removed (or, for a tag, the manifest the tag named, which stays), with the tags it lost. */
export interface TrashedManifest {
  digest: string;
  mediaType: string;
  /** Bytes of the manifest itself. */
  size: number;
  /** Tags that pointed at it and were removed with it. */
  tags: string[];
  /** Set on referrers (signatures, SBOMs): the manifest they refer to, which went to the trash with them. */
  subject?: string;
}

export interface TrashEntry {
  /** 16 hex characters. */
  id: string;
  repository: string;
  namespace: string;
  /** What the person or client deleted. */
  deleted: { kind: 'tag'; tag: string } | { kind: 'manifest'; digest: string } | { kind: 'repository' };
  /**
   * Subjects before their referrers, so a restore puts them back in this order. For a tag delete, the one manifest
   * the tag pointed at (it stays stored: deleting a tag never deletes a manifest).
   */
  manifests: TrashedManifest[];
  /** ISO 8601. */
  deletedAt: string;
  /** ISO 8601: from then on the entry is gone for good (a collection or `berth trash empty` frees its content). */
  expiresAt: string;
  /** A token name, `admin` or `anonymous`; never a secret. */
  deletedBy: string;
}

export const isTrashEntryId = (value: string): boolean => /^[0-9a-f]{16}$/.test(value);

const trashSchemaVersion = 1;

// Only ever added to: nothing can rebuild these rows, so a later version migrates them in place.
const schema = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS trash_entries (
  id TEXT PRIMARY KEY, repository TEXT NOT NULL, namespace TEXT NOT NULL,
  deleted_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, entry TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS trash_entries_by_namespace ON trash_entries (namespace, deleted_at);
`;

export const trashFileOf = (dataDir: string): string => join(dataDir, 'trash', 'entries.sqlite');

/** Opens (creating) the trash of a data directory, owner-only like everything in it. */
export function openSqliteTrashStore(dataDir: string): TrashStore {
  const file = trashFileOf(dataDir);
  const db = openPrivateSqlite(file);
  db.transaction(() => {
    db.exec(schema);
    const version = db.prepare("SELECT value FROM meta WHERE key = 'schema'").pluck().get() as string | undefined;
    if (version === undefined) db.prepare("INSERT INTO meta (key, value) VALUES ('schema', ?)").run(String(trashSchemaVersion));
    else if (Number(version) > trashSchemaVersion) {
      throw new Error(`${file} was written by a newer Berth (trash version ${version}); run that version`);
    }
  }).immediate();

  const where = (filter: TrashFilter & { expiredBy?: Date }) => {
    const clauses: string[] = [];
    const values: Array<string | number> = [];
    if (filter.namespace !== undefined) {
      clauses.push('namespace = ?');
      values.push(filter.namespace);
    }
    if (filter.repository !== undefined) {
      clauses.push('repository = ?');
      values.push(filter.repository);
    }
    if (filter.expiredBy !== undefined) {
      clauses.push('expires_at <= ?');
      values.push(filter.expiredBy.getTime());
    }
    return { sql: clauses.length > 0 ? `WHERE ${clauses.join(' AND ')}` : '', values };
  };
  const parse = (row: { entry: string }) => JSON.parse(row.entry) as TrashEntry;
  const insert = db.prepare('INSERT INTO trash_entries (id, repository, namespace, deleted_at, expires_at, entry) VALUES (?, ?, ?, ?, ?, ?)');
  const byId = db.prepare('SELECT entry FROM trash_entries WHERE id = ?');
  const removeById = db.prepare('DELETE FROM trash_entries WHERE id = ?');

  return {
    async add(entry) {
      insert.run(entry.id, entry.repository, entry.namespace, Date.parse(entry.deletedAt), Date.parse(entry.expiresAt), JSON.stringify(entry));
    },
    async get(id) {
      const row = byId.get(id) as { entry: string } | undefined;
      return row && parse(row);
    },
    async list(filter = {}) {
      const { sql, values } = where(filter);
      return (db.prepare(`SELECT entry FROM trash_entries ${sql} ORDER BY deleted_at DESC, id`).all(...values) as Array<{ entry: string }>).map(parse);
    },
    async remove(id) {
      return removeById.run(id).changes > 0;
    },
    async removeWhere(filter) {
      const { sql, values } = where(filter);
      return (db.prepare(`DELETE FROM trash_entries ${sql} RETURNING entry`).all(...values) as Array<{ entry: string }>).map(parse);
    },
    async close() {
      if (db.open) db.close();
    },
  };
}
