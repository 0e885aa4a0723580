import type pg from 'pg';
import type { TrashEntry, TrashFilter, TrashStore } from './trash-store.js';

/**
 * The trash in PostgreSQL (migration 7), shared by every node: the same entries and semantics as the SQLite file
 * (lifecycle/trash-store.ts). `removeWhere` is one DELETE ... RETURNING, so two nodes emptying at once never both
 * report (and audit) the same entry. The pool belongs to whoever opened it: close() leaves it open.
 */
export function openPostgresTrashStore(pool: pg.Pool): TrashStore {
  const where = (filter: TrashFilter & { expiredBy?: Date }) => {
    const clauses: string[] = [];
    const values: unknown[] = [];
    const add = (clause: string, value: unknown) => {
      values.push(value);
      clauses.push(clause.replace('?', `$${values.length}`));
    };
    if (filter.namespace !== undefined) add('namespace = ?', filter.namespace);
    if (filter.repository !== undefined) add('repository = ?', filter.repository);
    if (filter.expiredBy !== undefined) add('expires_at <= ?', filter.expiredBy);
    return { sql: clauses.length > 0 ? `WHERE ${clauses.join(' AND ')}` : '', values };
  };
  return {
    async add(entry) {
      await pool.query(
        'INSERT INTO berth_trash_entries (id, repository, namespace, deleted_at, expires_at, entry) VALUES ($1, $2, $3, $4, $5, $6)',
        [entry.id, entry.repository, entry.namespace, new Date(entry.deletedAt), new Date(entry.expiresAt), JSON.stringify(entry)],
      );
    },
    async get(id) {
      const { rows } = await pool.query<{ entry: TrashEntry }>('SELECT entry FROM berth_trash_entries WHERE id = $1', [id]);
      return rows[0]?.entry;
    },
    async list(filter = {}) {
      const { sql, values } = where(filter);
      const { rows } = await pool.query<{ entry: TrashEntry }>(`SELECT entry FROM berth_trash_entries ${sql} ORDER BY deleted_at DESC, id`, values);
      return rows.map((row) => row.entry);
    },
    async remove(id) {
      return ((await pool.query('DELETE FROM berth_trash_entries WHERE id = $1', [id])).rowCount ?? 0) > 0;
    },
    async removeWhere(filter) {
      const { sql, values } = where(filter);
      const { rows } = await pool.query<{ entry: TrashEntry }>(`DELETE FROM berth_trash_entries ${sql} RETURNING entry`, values);
      return rows.map((row) => row.entry);
    },
    async close() {
      // The pool is its opener's to end.
    },
  };
}
