import type { PostgresDatabase } from '../state/postgres/database.js';
import { AuditClosedError, stampedEvent, type AuditEvent, type AuditEventInput, type AuditLog, type AuditQuery, type AuditQueryResult } from './audit-log.js';
import { auditCutoffDay } from './audit-retention.js';

/**
 * The audit trail in PostgreSQL (table `berth_audit_events`, migration 2): every node records into it, so
 * `berth audit` and the GUI of any node show the events of all. The same contract as the day files: events of
 * one writer in call order, secrets scrubbed before they are stored, newest-N queries, whole UTC days pruned
 * (today never), and the pruning itself audited.
 */

export interface PostgresAuditLogOptions {
  /** Called once by close(), after the last write: the owner of the database closes it here. */
  readonly onClose?: () => Promise<void>;
}

/** Rows per round trip of events(): the export streams, it does not load the trail. */
const exportBatch = 500;

/** The WHERE clause of a query, with its parameters from $1. */
function whereOf(query: AuditQuery): { sql: string; params: unknown[] } {
  const clauses: string[] = [];
  const params: unknown[] = [];
  const add = (clause: string, value: unknown): void => {
    params.push(value);
    clauses.push(clause.replace('?', `$${params.length}`));
  };
  if (query.since) add('time >= ?', query.since);
  if (query.until) add('time <= ?', query.until);
  if (query.namespace !== undefined) add('namespace = ?', query.namespace);
  if (query.actor !== undefined) add('actor = ?', query.actor);
  if (query.action !== undefined) {
    // `token.*` is the family: a prefix match, with LIKE's own characters escaped.
    if (query.action.endsWith('.*')) add("action LIKE ? ESCAPE '\\'", `${query.action.slice(0, -1).replace(/[\\%_]/g, '\\$&')}%`);
    else add('action = ?', query.action);
  }
  return { sql: clauses.length > 0 ? `WHERE ${clauses.join(' AND ')}` : '', params };
}

export function createPostgresAuditLog(database: PostgresDatabase, options: PostgresAuditLogOptions = {}): AuditLog {
  const { pool } = database;
  let chain: Promise<unknown> = Promise.resolve();
  let closed = false;
  let closing: Promise<void> | undefined;

  async function insert(input: AuditEventInput): Promise<void> {
    const event = stampedEvent(input);
    await pool.query('INSERT INTO berth_audit_events (time, action, actor, namespace, event) VALUES ($1, $2, $3, $4, $5)', [
      event.time,
      event.action,
      event.actor,
      event.namespace ?? null,
      JSON.stringify(event),
    ]);
  }

  const log: AuditLog = {
    dir: `${database.label} (berth_audit_events)`,
    record(event) {
      if (closed) return Promise.reject(new AuditClosedError());
      const result = chain.then(() => insert(event));
      chain = result.catch(() => undefined);
      return result;
    },
    async query(query: AuditQuery = {}): Promise<AuditQueryResult> {
      const limit = Math.max(0, query.limit ?? 100);
      const offset = Math.max(0, query.offset ?? 0);
      const where = whereOf(query);
      const [{ rows: counted }, { rows }] = await Promise.all([
        pool.query<{ total: string }>(`SELECT count(*) AS total FROM berth_audit_events ${where.sql}`, where.params),
        pool.query<{ event: AuditEvent }>(
          `SELECT event FROM berth_audit_events ${where.sql} ORDER BY time DESC, id DESC LIMIT $${where.params.length + 1} OFFSET $${where.params.length + 2}`,
          [...where.params, limit, offset],
        ),
      ]);
      return { events: rows.map((row) => row.event).reverse(), total: Number(counted[0]?.total ?? 0) };
    },
    async *events(query: AuditQuery = {}): AsyncGenerator<AuditEvent> {
      const where = whereOf(query);
      // Keyset pages on (time, id): each page is one short query, whatever the trail's size.
      let after: { time: Date; id: string } | undefined;
      for (;;) {
        const params = [...where.params];
        let page = where.sql;
        if (after) {
          params.push(after.time, after.id);
          page = `${page ? `${page} AND` : 'WHERE'} (time, id) > ($${params.length - 1}, $${params.length})`;
        }
        params.push(exportBatch);
        const { rows } = await pool.query<{ id: string; time: Date; event: AuditEvent }>(
          `SELECT id, time, event FROM berth_audit_events ${page} ORDER BY time, id LIMIT $${params.length}`,
          params,
        );
        for (const row of rows) yield row.event;
        if (rows.length < exportBatch) return;
        const last = rows.at(-1)!;
        after = { time: last.time, id: last.id };
      }
    },
    async prune({ keepDays, now = new Date(), client = 'local' }) {
      const cutoff = auditCutoffDay(keepDays, now);
      const today = now.toISOString().slice(0, 10);
      // keepDays >= 1 puts the cutoff before today; the LEAST keeps today's events safe whatever happens to that.
      const { rows } = await pool.query<{ day: string }>(
        `WITH gone AS (DELETE FROM berth_audit_events WHERE time < LEAST($1::date, $2::date)::timestamp AT TIME ZONE 'UTC' RETURNING time)
         SELECT DISTINCT to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day FROM gone ORDER BY day`,
        [cutoff, today],
      );
      const days = rows.map((row) => row.day);
      if (days.length > 0) {
        await log.record({
          time: now,
          action: 'audit.prune',
          actor: 'berth',
          client,
          outcome: 'success',
          detail: { count: days.length, keepDays, before: cutoff, oldest: days[0], newest: days.at(-1) },
        });
      }
      return days;
    },
    close() {
      closed = true;
      closing ??= (async () => {
        await chain;
        await options.onClose?.();
      })();
      return closing;
    },
  };
  return log;
}
