import { join } from 'node:path';
import Database from 'better-sqlite3';
import { openPrivateSqlite } from './private-sqlite.js';
import type { LinkKind, ManifestReferences, PageRequest, RepositoryIndex, RepositorySnapshot, RepositoryUsage, TagEntry } from './repository-index.js';

/**
 * The metadata index in SQLite (better-sqlite3), one file under `<data>/index/` shared by the server and the CLI
 * processes. WAL mode lets readers run beside one writer across processes; `synchronous=NORMAL` keeps a write a
 * memory copy plus a WAL append (no fsync per link): a killed process loses nothing committed, and what an OS
 * crash might lose is repaired by the start-up verify (storage/repository-index-builder.ts).
 *
 * The schema is versioned: an index written by another schema version is dropped and rebuilt from the link files.
 */
export const indexSchemaVersion = 2;

const schema = `
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE changes (repository TEXT PRIMARY KEY, count INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE repositories (name TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE tags (
  repository TEXT NOT NULL, tag TEXT NOT NULL, digest TEXT NOT NULL, pushed_at INTEGER NOT NULL,
  PRIMARY KEY (repository, tag)
) WITHOUT ROWID;
CREATE TABLE links (
  repository TEXT NOT NULL, kind TEXT NOT NULL, digest TEXT NOT NULL,
  committed INTEGER NOT NULL, intended_at INTEGER NOT NULL,
  PRIMARY KEY (repository, kind, digest)
) WITHOUT ROWID;
CREATE INDEX links_by_digest ON links (digest);
CREATE TABLE referrers (
  repository TEXT NOT NULL, subject TEXT NOT NULL, digest TEXT NOT NULL,
  PRIMARY KEY (repository, subject, digest)
) WITHOUT ROWID;
CREATE TABLE manifest_references (manifest TEXT PRIMARY KEY, targets TEXT NOT NULL) WITHOUT ROWID;
`;

const everyTable = ['meta', 'changes', 'repositories', 'tags', 'links', 'referrers', 'manifest_references', 'blob_sizes'];

/** Added after schema 2 without a version change: a table an older index lacks is simply created (sizes fill lazily). */
const additions = `
CREATE TABLE IF NOT EXISTS blob_sizes (digest TEXT PRIMARY KEY, size INTEGER NOT NULL) WITHOUT ROWID;
`;

/** Opens (creating or migrating) the index at `<dataDir>/index/repositories.sqlite`, owner-only. */
export function openSqliteRepositoryIndex(dataDir: string): RepositoryIndex {
  // An older, wider index is tightened by berth serve's start-up repair of the data directory like every other path.
  const db = openPrivateSqlite(join(dataDir, 'index', 'repositories.sqlite'));
  migrate(db);
  return createIndex(db);
}

function migrate(db: Database.Database): void {
  db.transaction(() => {
    const hasMeta = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").get() !== undefined;
    const version = hasMeta
      ? (db.prepare("SELECT value FROM meta WHERE key = 'schema'").get() as { value: string } | undefined)?.value
      : undefined;
    if (version === String(indexSchemaVersion)) {
      db.exec(additions);
      return;
    }
    // Another schema (or none): the index is derived data, so it is dropped and built again from the link files.
    for (const table of everyTable) db.exec(`DROP TABLE IF EXISTS ${table}`);
    db.exec(schema);
    db.exec(additions);
    db.prepare("INSERT INTO meta (key, value) VALUES ('schema', ?)").run(String(indexSchemaVersion));
  }).immediate();
}

/** Binds `@namespace`, `@below` (`ns/`) and `@after` (`ns0`). */
const inNamespace = '(repository = @namespace OR (repository >= @below AND repository < @after))';
const namespaceBounds = (namespace: string) => ({ namespace, below: `${namespace}/`, after: `${namespace}0` });

function createIndex(db: Database.Database): RepositoryIndex {
  const statements = {
    ready: db.prepare("SELECT value FROM meta WHERE key = 'ready'").pluck(),
    markReady: db.prepare("INSERT INTO meta (key, value) VALUES ('ready', '1') ON CONFLICT (key) DO UPDATE SET value = '1'"),
    changeCount: db.prepare('SELECT count FROM changes WHERE repository = ?').pluck(),
    bump: db.prepare('INSERT INTO changes (repository, count) VALUES (?, 1) ON CONFLICT (repository) DO UPDATE SET count = count + 1'),
    addRepository: db.prepare('INSERT OR IGNORE INTO repositories (name) VALUES (?)'),
    hasRepository: db.prepare('SELECT 1 FROM repositories WHERE name = ?').pluck(),
    intend: db.prepare(
      'INSERT INTO links (repository, kind, digest, committed, intended_at) VALUES (?, ?, ?, 0, ?) ON CONFLICT DO NOTHING',
    ),
    commit: db.prepare(
      `INSERT INTO links (repository, kind, digest, committed, intended_at) VALUES (?, ?, ?, 1, ?)
       ON CONFLICT DO UPDATE SET committed = 1`,
    ),
    removeLink: db.prepare('DELETE FROM links WHERE repository = ? AND kind = ? AND digest = ?'),
    putTag: db.prepare(
      `INSERT INTO tags (repository, tag, digest, pushed_at) VALUES (?, ?, ?, ?)
       ON CONFLICT DO UPDATE SET digest = excluded.digest, pushed_at = excluded.pushed_at`,
    ),
    removeTag: db.prepare('DELETE FROM tags WHERE repository = ? AND tag = ?'),
    putReferrer: db.prepare('INSERT OR IGNORE INTO referrers (repository, subject, digest) VALUES (?, ?, ?)'),
    removeReferrer: db.prepare('DELETE FROM referrers WHERE repository = ? AND subject = ? AND digest = ?'),
    putReferences: db.prepare('INSERT OR IGNORE INTO manifest_references (manifest, targets) VALUES (?, ?)'),
    listRepositories: db
      .prepare(
        "SELECT DISTINCT repository FROM links WHERE kind = 'manifest' AND committed = 1 AND repository > ? ORDER BY repository LIMIT ? OFFSET ?",
      )
      .pluck(),
    knownRepositories: db.prepare('SELECT name FROM repositories ORDER BY name').pluck(),
    listTags: db.prepare('SELECT tag, digest, pushed_at FROM tags WHERE repository = ? AND tag > ? ORDER BY tag LIMIT ? OFFSET ?'),
    listTagNames: db.prepare('SELECT tag FROM tags WHERE repository = ? AND tag > ? ORDER BY tag LIMIT ? OFFSET ?').pluck(),
    countTags: db.prepare('SELECT count(*) FROM tags WHERE repository = ?').pluck(),
    listReferrers: db.prepare('SELECT digest FROM referrers WHERE repository = ? AND subject = ? ORDER BY digest').pluck(),
    linked: db.prepare(
      "SELECT repository, kind, digest FROM links UNION ALL SELECT repository, 'tag', digest FROM tags ORDER BY repository",
    ),
    referencesOf: db.prepare('SELECT targets FROM manifest_references WHERE manifest = ?').pluck(),
    linkedAnywhere: db.prepare('SELECT 1 FROM links WHERE digest = ? LIMIT 1').pluck(),
    putBlobSize: db.prepare('INSERT OR IGNORE INTO blob_sizes (digest, size) VALUES (?, ?)'),
    // A namespace's repositories are `ns` and the range ['ns/', 'ns0'): '0' follows '/' in byte order, and the range
    // (unlike LIKE, where '_' is a wildcard and a valid name character) is a scan of the links' primary key.
    namespaceUsage: db.prepare(
      `SELECT coalesce(sum(s.size), 0) AS bytes, count(*) AS blobs FROM (SELECT DISTINCT digest FROM links WHERE ${inNamespace}) d
       LEFT JOIN blob_sizes s ON s.digest = d.digest`,
    ),
    namespaceUnsized: db
      .prepare(
        `SELECT d.digest FROM (SELECT DISTINCT digest FROM links WHERE ${inNamespace}) d
         WHERE NOT EXISTS (SELECT 1 FROM blob_sizes s WHERE s.digest = d.digest) LIMIT @limit`,
      )
      .pluck(),
    namespaceLinks: db.prepare(`SELECT 1 FROM links WHERE (${inNamespace}) AND digest = @digest LIMIT 1`).pluck(),
    repositoryBytes: db.prepare(
      `SELECT d.repository, coalesce(sum(s.size), 0) AS bytes, count(*) AS blobs, json_group_array(d.digest) FILTER (WHERE s.size IS NULL) AS unsized
       FROM (SELECT DISTINCT repository, digest FROM links) d LEFT JOIN blob_sizes s ON s.digest = d.digest GROUP BY d.repository`,
    ),
    repositoryTags: db.prepare('SELECT repository, count(*) AS tags, max(pushed_at) AS last FROM tags GROUP BY repository'),
    tagsOf: db.prepare('SELECT tag, digest, pushed_at FROM tags WHERE repository = ?'),
    linksOf: db.prepare('SELECT kind, digest, committed FROM links WHERE repository = ?'),
    referrersOf: db.prepare('SELECT subject, digest FROM referrers WHERE repository = ?'),
    clearTags: db.prepare('DELETE FROM tags WHERE repository = ?'),
    clearReferrers: db.prepare('DELETE FROM referrers WHERE repository = ?'),
    clearLinks: db.prepare('DELETE FROM links WHERE repository = ? AND (committed = 1 OR intended_at < ?)'),
    clearRepository: db.prepare('DELETE FROM repositories WHERE name = ?'),
  };

  // IMMEDIATE: the write lock is taken up front, so a writer in another process makes this wait (busy_timeout)
  // instead of failing the upgrade from a read.
  const inChange = db.transaction((repository: string, work: () => void) => {
    work();
    statements.bump.run(repository);
  });
  const change = (repository: string, work: () => void) => inChange.immediate(repository, work);
  const changesOf = (repository: string) => (statements.changeCount.get(repository) as number | undefined) ?? 0;
  // SQLite's LIMIT -1 means no limit; '' sorts before every name and tag.
  const bounds = (page: PageRequest) => [page.last ?? '', page.limit ?? -1, page.offset ?? 0] as const;

  const replace = db.transaction((repository: string, expected: number, snapshot: RepositorySnapshot, keepIntentsAfter: number) => {
    if (changesOf(repository) !== expected) return false;
    statements.clearTags.run(repository);
    statements.clearReferrers.run(repository);
    statements.clearLinks.run(repository, keepIntentsAfter);
    if (snapshot.exists) statements.addRepository.run(repository);
    else statements.clearRepository.run(repository);
    const now = Date.now();
    for (const digest of snapshot.layers) statements.commit.run(repository, 'layer', digest, now);
    for (const digest of snapshot.manifests) statements.commit.run(repository, 'manifest', digest, now);
    for (const tag of snapshot.tags) statements.putTag.run(repository, tag.tag, tag.digest, tag.pushedAt.getTime());
    for (const referrer of snapshot.referrers) statements.putReferrer.run(repository, referrer.subject, referrer.digest);
    statements.bump.run(repository);
    return true;
  });

  // One read transaction: the four reads describe one moment (a writer in another process may commit between
  // statements), and a transaction per statement took and released SQLite's shared lock each time (fcntl twice and
  // an fstat; the collector's index check reads every repository's snapshot).
  const snapshot = db.transaction((repository: string): { snapshot: RepositorySnapshot; intents: number } | undefined => {
    if (statements.hasRepository.get(repository) === undefined) return undefined;
    const tags = statements.tagsOf.all(repository) as Array<{ tag: string; digest: string; pushed_at: number }>;
    const links = statements.linksOf.all(repository) as Array<{ kind: LinkKind; digest: string; committed: number }>;
    const held: RepositorySnapshot = {
      exists: true,
      layers: links.filter((link) => link.committed && link.kind === 'layer').map((link) => link.digest),
      manifests: links.filter((link) => link.committed && link.kind === 'manifest').map((link) => link.digest),
      tags: tags.map((row) => ({ tag: row.tag, digest: row.digest, pushedAt: new Date(row.pushed_at) })),
      referrers: statements.referrersOf.all(repository) as Array<{ subject: string; digest: string }>,
    };
    return { snapshot: held, intents: links.filter((link) => !link.committed).length };
  });

  const forget = db.transaction((repository: string, expected: number) => {
    if (changesOf(repository) !== expected) return false;
    statements.clearTags.run(repository);
    statements.clearReferrers.run(repository);
    statements.clearLinks.run(repository, Number.MAX_SAFE_INTEGER);
    statements.clearRepository.run(repository);
    statements.bump.run(repository);
    return true;
  });

  return {
    async isReady() {
      return statements.ready.get() === '1';
    },
    async markReady() {
      statements.markReady.run();
    },
    async changeCount(repository) {
      return changesOf(repository);
    },
    changeCountNow: changesOf,

    async intendLink(repository, kind, digest) {
      change(repository, () => statements.intend.run(repository, kind, digest, Date.now()));
    },
    async commitLink(repository, kind, digest) {
      change(repository, () => {
        statements.commit.run(repository, kind, digest, Date.now());
        statements.addRepository.run(repository);
      });
    },
    async removeLink(repository, kind, digest) {
      change(repository, () => statements.removeLink.run(repository, kind, digest));
    },
    async putTag(repository, tag, digest, pushedAt) {
      change(repository, () => {
        statements.putTag.run(repository, tag, digest, pushedAt.getTime());
        statements.addRepository.run(repository);
      });
    },
    async removeTag(repository, tag) {
      change(repository, () => statements.removeTag.run(repository, tag));
    },
    async putReferrer(repository, subject, digest) {
      change(repository, () => statements.putReferrer.run(repository, subject, digest));
    },
    async removeReferrer(repository, subject, digest) {
      change(repository, () => statements.removeReferrer.run(repository, subject, digest));
    },
    async putReferences(manifest, references) {
      statements.putReferences.run(manifest, JSON.stringify(references));
    },

    async listRepositories(page) {
      return statements.listRepositories.all(...bounds(page)) as string[];
    },
    async knownRepositories() {
      return statements.knownRepositories.all() as string[];
    },
    async listTagNames(repository, page) {
      if (statements.hasRepository.get(repository) === undefined) return undefined;
      return statements.listTagNames.all(repository, ...bounds(page)) as string[];
    },
    async listTags(repository, page) {
      if (statements.hasRepository.get(repository) === undefined) return undefined;
      const rows = statements.listTags.all(repository, ...bounds(page)) as Array<{ tag: string; digest: string; pushed_at: number }>;
      return rows.map((row): TagEntry => ({ tag: row.tag, digest: row.digest, pushedAt: new Date(row.pushed_at) }));
    },
    async countTags(repository) {
      return statements.countTags.get(repository) as number;
    },
    async snapshotOf(repository) {
      return snapshot(repository);
    },
    async listReferrers(repository, subject) {
      return statements.listReferrers.all(repository, subject) as string[];
    },

    async replaceRepository(repository, expectedChanges, snapshot, keepIntentsAfter) {
      return replace.immediate(repository, expectedChanges, snapshot, keepIntentsAfter.getTime());
    },
    async forgetRepository(repository, expectedChanges) {
      return forget.immediate(repository, expectedChanges);
    },

    async linkedDigests() {
      return statements.linked.all() as Array<{ repository: string; kind: LinkKind | 'tag'; digest: string }>;
    },
    async referencesOf(manifest) {
      const targets = statements.referencesOf.get(manifest) as string | undefined;
      return targets === undefined ? undefined : (JSON.parse(targets) as ManifestReferences);
    },
    async isLinkedAnywhere(digest) {
      return statements.linkedAnywhere.get(digest) !== undefined;
    },
    async putBlobSize(digest, size) {
      statements.putBlobSize.run(digest, size);
    },
    async namespaceUsage(namespace, unsizedLimit = 1000) {
      const bounds = namespaceBounds(namespace);
      // One read transaction: the sum and the unsized list describe the same moment.
      return db.transaction(() => {
        const totals = statements.namespaceUsage.get(bounds) as { bytes: number; blobs: number };
        const unsized = statements.namespaceUnsized.all({ ...bounds, limit: unsizedLimit }) as string[];
        return { bytes: totals.bytes, blobs: totals.blobs, unsized };
      })();
    },
    async namespaceLinks(namespace, digest) {
      return statements.namespaceLinks.get({ ...namespaceBounds(namespace), digest }) !== undefined;
    },

    async repositoryUsages() {
      // One read transaction: the sizes and the tags describe the same moment.
      return db.transaction(() => {
        const tags = new Map(
          (statements.repositoryTags.all() as Array<{ repository: string; tags: number; last: number }>).map((row) => [row.repository, row]),
        );
        return (statements.repositoryBytes.all() as Array<{ repository: string; bytes: number; blobs: number; unsized: string | null }>).map((row) => {
          const tagged = tags.get(row.repository);
          const usage: RepositoryUsage = {
            repository: row.repository,
            bytes: row.bytes,
            blobs: row.blobs,
            unsized: row.unsized === null ? [] : (JSON.parse(row.unsized) as string[]),
            tags: tagged?.tags ?? 0,
          };
          if (tagged) usage.lastTagPushedAt = new Date(tagged.last);
          return usage;
        });
      })();
    },

    async close() {
      if (db.open) db.close();
    },
  };
}
