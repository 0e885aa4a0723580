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
  {
    id: 3,
    name: 'repository index',
    // The metadata index (registry/storage/repository-index.ts) shared by every node; the same tables as the
    // SQLite index (registry/storage/sqlite-repository-index.ts). Names, tags and digests are COLLATE "C" so their
    // order is bytewise, as in SQLite and JavaScript (a page's `last` means the same on every backend).
    // A writer locks its repository's changes row first (the upsert), so a rebuild's change check and its
    // replacement are atomic against writers on every node.
    sql: `
      CREATE TABLE berth_index_meta (key text PRIMARY KEY, value text NOT NULL);
      CREATE TABLE berth_index_changes (repository text COLLATE "C" PRIMARY KEY, count bigint NOT NULL);
      CREATE TABLE berth_index_repositories (name text COLLATE "C" PRIMARY KEY);
      CREATE TABLE berth_index_tags (
        repository text COLLATE "C" NOT NULL, tag text COLLATE "C" NOT NULL, digest text COLLATE "C" NOT NULL,
        pushed_at timestamptz NOT NULL,
        PRIMARY KEY (repository, tag)
      );
      CREATE TABLE berth_index_links (
        repository text COLLATE "C" NOT NULL, kind text NOT NULL CHECK (kind IN ('layer', 'manifest')),
        digest text COLLATE "C" NOT NULL, committed boolean NOT NULL, intended_at timestamptz NOT NULL,
        PRIMARY KEY (repository, kind, digest)
      );
      CREATE INDEX berth_index_links_by_digest ON berth_index_links (digest);
      -- The catalog: one probe per listed repository for "holds a committed manifest".
      CREATE INDEX berth_index_links_listed ON berth_index_links (repository) WHERE kind = 'manifest' AND committed;
      CREATE TABLE berth_index_referrers (
        repository text COLLATE "C" NOT NULL, subject text COLLATE "C" NOT NULL, digest text COLLATE "C" NOT NULL,
        PRIMARY KEY (repository, subject, digest)
      );
      CREATE TABLE berth_index_manifest_references (
        manifest text COLLATE "C" PRIMARY KEY, blobs text[] NOT NULL, manifests text[] NOT NULL
      );
    `,
  },
  {
    id: 4,
    name: 'pull records',
    // How often and when manifests were pulled (registry/storage/usage-store.ts), summed over every node: totals
    // per reference and per repository, and per repository and UTC day for the recent window. Not derived data:
    // nothing can rebuild it, so later migrations change these tables in place.
    sql: `
      CREATE TABLE berth_reference_pulls (
        repository text COLLATE "C" NOT NULL, reference text COLLATE "C" NOT NULL,
        count bigint NOT NULL CHECK (count >= 0), last_pulled_at timestamptz NOT NULL,
        PRIMARY KEY (repository, reference)
      );
      CREATE TABLE berth_repository_pulls (
        repository text COLLATE "C" PRIMARY KEY, count bigint NOT NULL CHECK (count >= 0), last_pulled_at timestamptz NOT NULL
      );
      CREATE TABLE berth_daily_pulls (
        repository text COLLATE "C" NOT NULL, day integer NOT NULL, count bigint NOT NULL CHECK (count >= 0),
        PRIMARY KEY (repository, day)
      );
      CREATE INDEX berth_daily_pulls_by_day ON berth_daily_pulls (day);
    `,
  },
  {
    id: 5,
    name: 'storage binding',
    // The one storage (bucket and prefix, or data directory) this database's index describes: its random id, also
    // written at the storage's root (/berth-storage-id). A node whose storage holds another id is refused at start
    // (registry/storage/storage-binding.ts), so it cannot "forget" repositories its storage lacks. One row at most.
    sql: `
      CREATE TABLE berth_storage_binding (
        singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
        storage_id text NOT NULL, storage text NOT NULL, bound_at timestamptz NOT NULL DEFAULT now()
      );
    `,
  },
  {
    id: 6,
    name: 'shared secrets',
    // The keys every node must hold alike (registry/state/postgres/shared-keys.ts): the JWT signing key, the secret
    // box's key. Each sealed with the operator's master key (AES-256-GCM, a random nonce, the name as associated
    // data), so the database alone never yields them. The first node to need a key inserts it; a row is never
    // replaced (re-sealing under a new master key keeps the key).
    sql: `
      CREATE TABLE berth_secrets (
        name text PRIMARY KEY,
        sealed text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      );
    `,
  },
  {
    id: 7,
    name: 'quota usage',
    // What namespace quotas read (registry/lifecycle/): the size of each stored blob and manifest by digest (content
    // by digest never changes; derived, filled as content is linked and lazily for links a rebuild found), and the
    // blob bytes served per namespace and calendar month (UTC, 'YYYY-MM'), summed over every node.
    sql: `
      CREATE TABLE berth_index_blob_sizes (digest text COLLATE "C" PRIMARY KEY, size bigint NOT NULL CHECK (size >= 0));
      CREATE TABLE berth_monthly_pull_bytes (
        namespace text COLLATE "C" NOT NULL, month text COLLATE "C" NOT NULL, bytes bigint NOT NULL CHECK (bytes >= 0),
        PRIMARY KEY (namespace, month)
      );
    `,
  },
  {
    id: 8,
    name: 'trash',
    // The trash (registry/lifecycle/trash-store.ts): what a delete took away, until it expires or is restored, seen
    // by every node. Not derived data: nothing can rebuild it. The entry as JSON plus the columns queries filter on.
    sql: `
      CREATE TABLE berth_trash_entries (
        id text PRIMARY KEY, repository text COLLATE "C" NOT NULL, namespace text COLLATE "C" NOT NULL,
        deleted_at timestamptz NOT NULL, expires_at timestamptz NOT NULL, entry jsonb NOT NULL
      );
      CREATE INDEX berth_trash_entries_by_namespace ON berth_trash_entries (namespace, deleted_at);
      CREATE INDEX berth_trash_entries_by_expiry ON berth_trash_entries (expires_at);
    `,
  },
  {
    id: 9,
    name: 'secret revisions',
    // A revision per shared secret, for the one row that changes: the encryption master key ring
    // (registry/state/postgres/shared-key-ring.ts). It grows by one with every change of the ring, so nodes poll a
    // number, not the sealed text, to see another's rotation; re-sealing under a new master key leaves it as it is
    // (the ring is the same, and running nodes must not re-read what their old master key no longer opens).
    sql: `
      ALTER TABLE berth_secrets ADD COLUMN revision bigint NOT NULL DEFAULT 1;
    `,
  },
];
