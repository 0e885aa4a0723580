import type { Migration } from './migrations.js';

/**
 * Every schema change of Berth's PostgreSQL metadata, oldest first. Adding one means appending an entry with the
 * next id; a released entry is never edited or renumbered (nodes that applied it would disagree with new ones).
 * Each runs inside the migration transaction: no CREATE INDEX CONCURRENTLY, no VACUUM.
 */
export const migrations: readonly Migration[] = [
  {
    id: 1,
    name: 'state sections',
    // The app state (registry/state/schema.ts) one row per top-level section, as JSON. The head row's version
    // grows by one with every change; a section carries the version that last wrote it, so a node that knows
    // version N reloads only the sections newer than N. Writers lock the head row (SELECT ... FOR UPDATE).
    sql: `
      CREATE TABLE berth_state_head (
        id smallint PRIMARY KEY CHECK (id = 1),
        version bigint NOT NULL
      );
      INSERT INTO berth_state_head (id, version) VALUES (1, 0);
      CREATE TABLE berth_state_sections (
        section text PRIMARY KEY,
        doc jsonb NOT NULL,
        version bigint NOT NULL
      );
    `,
  },
  {
    id: 2,
    name: 'audit events',
    // The audit trail of every node (registry/auth/postgres-audit-log.ts): the event as recorded, plus the
    // columns the queries filter on. Ordered by (time, id): id breaks ties in the order events were recorded.
    sql: `
      CREATE TABLE berth_audit_events (
        id bigserial PRIMARY KEY,
        time timestamptz NOT NULL,
        action text NOT NULL,
        actor text NOT NULL,
        namespace text,
        event jsonb NOT NULL
      );
      CREATE INDEX berth_audit_events_by_time ON berth_audit_events (time, id);
      CREATE INDEX berth_audit_events_by_namespace ON berth_audit_events (namespace, time, id);
    `,
  },
];
