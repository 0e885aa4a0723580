import type pg from 'pg';
import { inTransaction } from '../state/postgres/database.js';
import type { LinkKind, ManifestReferences, PageRequest, RepositoryIndex, RepositorySnapshot, RepositoryUsage, TagEntry } from './repository-index.js';

/**
 * The metadata index in PostgreSQL, shared by every node of a scale-out Berth: the same rows and semantics as the
 * SQLite index (storage/sqlite-repository-index.ts), in the tables of migration 3 (state/postgres/migration-list.ts).
 *
 * Concurrency: every change runs in one transaction that first upserts its repository's row in
 * `berth_index_changes` (bumping the counter), which row-locks it until COMMIT. replaceRepository and
 * forgetRepository take the same lock before they compare the counter, so "unchanged since expectedChanges, then
 * replace" is atomic against writers on any node (a writer waits for the rebuild or the rebuild sees its bump).
 * Transactions touch one repository's row only, so they cannot deadlock on each other.
 *
 * The schema is applied by the migration runner (`berth migrate`, or at start), not here; the pool belongs to
 * whoever opened it (close() leaves it open: the state store and the pull records share it).
 */
export function openPostgresRepositoryIndex(pool: pg.Pool): RepositoryIndex {
  return createIndex(pool);
}

/** Rows fetched per round trip while collection reads every link (a cursor: one snapshot, bounded memory per fetch). */
const linkedFetchSize = 10_000;

const sql = {
  ready: "SELECT value FROM berth_index_meta WHERE key = 'ready'",
  markReady: "INSERT INTO berth_index_meta (key, value) VALUES ('ready', '1') ON CONFLICT (key) DO UPDATE SET value = '1'",
  changeCount: 'SELECT count FROM berth_index_changes WHERE repository = $1',
  // Takes the repository's row lock for the rest of the transaction.
  bump: `INSERT INTO berth_index_changes (repository, count) VALUES ($1, 1)
         ON CONFLICT (repository) DO UPDATE SET count = berth_index_changes.count + 1`,
  // The lock without a change, returning the counter as it is (0 for a repository never changed).
  lockChanges: `INSERT INTO berth_index_changes (repository, count) VALUES ($1, 0)
                ON CONFLICT (repository) DO UPDATE SET count = berth_index_changes.count RETURNING count`,
  addRepository: 'INSERT INTO berth_index_repositories (name) VALUES ($1) ON CONFLICT DO NOTHING',
  intend: `INSERT INTO berth_index_links (repository, kind, digest, committed, intended_at) VALUES ($1, $2, $3, false, $4)
           ON CONFLICT DO NOTHING`,
  commit: `INSERT INTO berth_index_links (repository, kind, digest, committed, intended_at) VALUES ($1, $2, $3, true, $4)
           ON CONFLICT (repository, kind, digest) DO UPDATE SET committed = true`,
  removeLink: 'DELETE FROM berth_index_links WHERE repository = $1 AND kind = $2 AND digest = $3',
  // A tag move is this one row update.
  putTag: `INSERT INTO berth_index_tags (repository, tag, digest, pushed_at) VALUES ($1, $2, $3, $4)
           ON CONFLICT (repository, tag) DO UPDATE SET digest = excluded.digest, pushed_at = excluded.pushed_at`,
  removeTag: 'DELETE FROM berth_index_tags WHERE repository = $1 AND tag = $2',
  putReferrer: 'INSERT INTO berth_index_referrers (repository, subject, digest) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING',
  removeReferrer: 'DELETE FROM berth_index_referrers WHERE repository = $1 AND subject = $2 AND digest = $3',
  putReferences: 'INSERT INTO berth_index_manifest_references (manifest, blobs, manifests) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING',

  // Range scans from `last` on the repositories' primary key and the partial index berth_index_links_listed
  // (the repeated bound lets a merge join start there instead of at the first repository). LIMIT NULL is no limit.
  listRepositories: `SELECT r.name FROM berth_index_repositories r
                     WHERE r.name > $1 AND EXISTS (
                       SELECT 1 FROM berth_index_links l
                       WHERE l.repository = r.name AND l.repository > $1 AND l.kind = 'manifest' AND l.committed)
                     ORDER BY r.name LIMIT $2 OFFSET $3`,
  knownRepositories: 'SELECT name FROM berth_index_repositories ORDER BY name',
  // A range scan of the tags' primary key (repository, tag), in its order. Tags imply a known repository, so only
  // an empty page needs the second query (hasRepository) to tell "no tags here" from "no such repository".
  listTags: 'SELECT tag, digest, pushed_at FROM berth_index_tags WHERE repository = $1 AND tag > $2 ORDER BY tag LIMIT $3 OFFSET $4',
  countTags: 'SELECT count(*)::integer AS count FROM berth_index_tags WHERE repository = $1',
  hasRepository: 'SELECT 1 FROM berth_index_repositories WHERE name = $1',
  tagsOf: 'SELECT tag, digest, pushed_at FROM berth_index_tags WHERE repository = $1 ORDER BY tag',
  linksOf: 'SELECT kind, digest, committed FROM berth_index_links WHERE repository = $1 ORDER BY kind, digest',
  referrersOf: 'SELECT subject, digest FROM berth_index_referrers WHERE repository = $1 ORDER BY subject, digest',
  listReferrers: 'SELECT digest FROM berth_index_referrers WHERE repository = $1 AND subject = $2 ORDER BY digest',
  referencesOf: 'SELECT blobs, manifests FROM berth_index_manifest_references WHERE manifest = $1',
  linkedAnywhere: 'SELECT 1 FROM berth_index_links WHERE digest = $1 LIMIT 1',
  putBlobSize: 'INSERT INTO berth_index_blob_sizes (digest, size) VALUES ($1, $2) ON CONFLICT DO NOTHING',
  // A namespace's repositories are `ns` and the range ['ns/', 'ns0') in the "C" collation ('0' follows '/'): a range
  // scan of the links' primary key, unlike LIKE (where '_', a valid name character, is a wildcard).
  namespaceUsage: `SELECT coalesce(sum(s.size), 0)::bigint AS bytes, count(*)::bigint AS blobs,
                     (array_agg(d.digest) FILTER (WHERE s.size IS NULL))[1:$4] AS unsized
                   FROM (SELECT DISTINCT digest FROM berth_index_links
                         WHERE repository = $1 OR (repository >= $2 AND repository < $3)) d
                   LEFT JOIN berth_index_blob_sizes s ON s.digest = d.digest`,
  namespaceLinks: `SELECT 1 FROM berth_index_links WHERE (repository = $1 OR (repository >= $2 AND repository < $3)) AND digest = $4 LIMIT 1`,
  repositoryBytes: `SELECT d.repository, coalesce(sum(s.size), 0)::bigint AS bytes, count(*)::bigint AS blobs,
                      coalesce(array_agg(d.digest) FILTER (WHERE s.size IS NULL), '{}') AS unsized
                    FROM (SELECT DISTINCT repository, digest FROM berth_index_links) d
                    LEFT JOIN berth_index_blob_sizes s ON s.digest = d.digest GROUP BY d.repository`,
  repositoryTags: 'SELECT repository, count(*)::bigint AS tags, max(pushed_at) AS last FROM berth_index_tags GROUP BY repository',

  clearTags: 'DELETE FROM berth_index_tags WHERE repository = $1',
  clearReferrers: 'DELETE FROM berth_index_referrers WHERE repository = $1',
  // Intents younger than $2 survive a replacement (a write in flight); a null $2 clears them all.
  clearLinks: 'DELETE FROM berth_index_links WHERE repository = $1 AND (committed OR $2::timestamptz IS NULL OR intended_at < $2)',
  clearRepository: 'DELETE FROM berth_index_repositories WHERE name = $1',
  // Bulk writes of a snapshot: one statement per table. DISTINCT, because an upsert may not touch a row twice.
  commitLinks: `INSERT INTO berth_index_links (repository, kind, digest, committed, intended_at)
                SELECT DISTINCT $1::text, u.kind, u.digest, true, $4::timestamptz FROM unnest($2::text[], $3::text[]) AS u(kind, digest)
                ON CONFLICT (repository, kind, digest) DO UPDATE SET committed = true`,
  // The last entry of a tag wins, as with one upsert per tag.
  putTags: `INSERT INTO berth_index_tags (repository, tag, digest, pushed_at)
            SELECT DISTINCT ON (u.tag) $1::text, u.tag, u.digest, u.pushed_at
            FROM unnest($2::text[], $3::text[], $4::timestamptz[]) WITH ORDINALITY AS u(tag, digest, pushed_at, n)
            ORDER BY u.tag, u.n DESC`,
  putReferrers: `INSERT INTO berth_index_referrers (repository, subject, digest)
                 SELECT $1::text, u.subject, u.digest FROM unnest($2::text[], $3::text[]) AS u(subject, digest)
                 ON CONFLICT DO NOTHING`,
  linkedCursor: `DECLARE berth_linked NO SCROLL CURSOR FOR
                 SELECT repository, kind, digest FROM berth_index_links
                 UNION ALL SELECT repository, 'tag'::text, digest FROM berth_index_tags
                 ORDER BY repository`,
} as const;

interface TagRow {
  tag: string;
  digest: string;
  pushed_at: Date;
}

const tagEntryOf = (row: TagRow): TagEntry => ({ tag: row.tag, digest: row.digest, pushedAt: row.pushed_at });
/**
 * '' sorts before every name and tag; a null limit is none. PostgreSQL text cannot hold NUL, which a client's
 * `last` may: cut there, which keeps the order exact (no name or tag holds NUL, so s > p + NUL + x exactly when
 * s > p).
 */
const bounds = (page: PageRequest) => [(page.last ?? '').split('\0', 1)[0], page.limit ?? null, page.offset ?? 0] as const;

function createIndex(pool: pg.Pool): RepositoryIndex {
  const change = (repository: string, work: (client: pg.PoolClient) => Promise<unknown>) =>
    inTransaction(pool, async (client) => {
      await client.query(sql.bump, [repository]);
      await work(client);
    });

  const changesOf = async (repository: string): Promise<number> => {
    // bigint arrives as a string; a counter stays far below 2^53.
    const { rows } = await pool.query<{ count: string }>(sql.changeCount, [repository]);
    return rows[0] === undefined ? 0 : Number(rows[0].count);
  };

  /** Locks the repository's counter; true when it still says `expected` (then the caller may rewrite the rows). */
  const unchanged = async (client: pg.PoolClient, repository: string, expected: number): Promise<boolean> => {
    const { rows } = await client.query<{ count: string }>(sql.lockChanges, [repository]);
    return Number(rows[0]?.count ?? 0) === expected;
  };

  const clear = async (client: pg.PoolClient, repository: string, keepIntentsAfter: Date | null) => {
    await client.query(sql.clearTags, [repository]);
    await client.query(sql.clearReferrers, [repository]);
    await client.query(sql.clearLinks, [repository, keepIntentsAfter]);
  };

  const listTags = async (repository: string, page: PageRequest): Promise<TagEntry[] | undefined> => {
    const { rows } = await pool.query<TagRow>(sql.listTags, [repository, ...bounds(page)]);
    if (rows.length === 0 && ((await pool.query(sql.hasRepository, [repository])).rowCount ?? 0) === 0) return undefined;
    return rows.map(tagEntryOf);
  };

  return {
    async isReady() {
      const { rows } = await pool.query<{ value: string }>(sql.ready);
      return rows[0]?.value === '1';
    },
    async markReady() {
      await pool.query(sql.markReady);
    },
    async changeCount(repository) {
      return changesOf(repository);
    },

    async intendLink(repository, kind, digest) {
      await change(repository, (client) => client.query(sql.intend, [repository, kind, digest, new Date()]));
    },
    async commitLink(repository, kind, digest) {
      await change(repository, async (client) => {
        await client.query(sql.commit, [repository, kind, digest, new Date()]);
        await client.query(sql.addRepository, [repository]);
      });
    },
    async removeLink(repository, kind, digest) {
      await change(repository, (client) => client.query(sql.removeLink, [repository, kind, digest]));
    },
    async putTag(repository, tag, digest, pushedAt) {
      await change(repository, async (client) => {
        await client.query(sql.putTag, [repository, tag, digest, pushedAt]);
        await client.query(sql.addRepository, [repository]);
      });
    },
    async removeTag(repository, tag) {
      await change(repository, (client) => client.query(sql.removeTag, [repository, tag]));
    },
    async putReferrer(repository, subject, digest) {
      await change(repository, (client) => client.query(sql.putReferrer, [repository, subject, digest]));
    },
    async removeReferrer(repository, subject, digest) {
      await change(repository, (client) => client.query(sql.removeReferrer, [repository, subject, digest]));
    },
    async putReferences(manifest, references) {
      await pool.query(sql.putReferences, [manifest, references.blobs, references.manifests]);
    },

    async listRepositories(page) {
      const { rows } = await pool.query<{ name: string }>(sql.listRepositories, [...bounds(page)]);
      return rows.map((row) => row.name);
    },
    async knownRepositories() {
      const { rows } = await pool.query<{ name: string }>(sql.knownRepositories);
      return rows.map((row) => row.name);
    },
    async listTagNames(repository, page) {
      return (await listTags(repository, page))?.map((entry) => entry.tag);
    },
    listTags,
    async countTags(repository) {
      const { rows } = await pool.query<{ count: number }>(sql.countTags, [repository]);
      return rows[0]?.count ?? 0;
    },
    async snapshotOf(repository) {
      // One snapshot of the database for the four reads (a writer between them would make them disagree).
      return inTransaction(pool, async (client) => {
        await client.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY');
        if ((await client.query(sql.hasRepository, [repository])).rowCount === 0) return undefined;
        const tags = await client.query<TagRow>(sql.tagsOf, [repository]);
        const links = (await client.query<{ kind: LinkKind; digest: string; committed: boolean }>(sql.linksOf, [repository])).rows;
        const referrers = await client.query<{ subject: string; digest: string }>(sql.referrersOf, [repository]);
        const snapshot: RepositorySnapshot = {
          exists: true,
          layers: links.filter((link) => link.committed && link.kind === 'layer').map((link) => link.digest),
          manifests: links.filter((link) => link.committed && link.kind === 'manifest').map((link) => link.digest),
          tags: tags.rows.map(tagEntryOf),
          referrers: referrers.rows.map((row) => ({ subject: row.subject, digest: row.digest })),
        };
        return { snapshot, intents: links.filter((link) => !link.committed).length };
      });
    },
    async listReferrers(repository, subject) {
      const { rows } = await pool.query<{ digest: string }>(sql.listReferrers, [repository, subject]);
      return rows.map((row) => row.digest);
    },

    async replaceRepository(repository, expectedChanges, snapshot, keepIntentsAfter) {
      return inTransaction(pool, async (client) => {
        if (!(await unchanged(client, repository, expectedChanges))) return false;
        await clear(client, repository, keepIntentsAfter);
        await client.query(snapshot.exists ? sql.addRepository : sql.clearRepository, [repository]);
        const links = [
          ...snapshot.layers.map((digest) => ['layer', digest] as const),
          ...snapshot.manifests.map((digest) => ['manifest', digest] as const),
        ];
        if (links.length > 0) {
          await client.query(sql.commitLinks, [repository, links.map(([kind]) => kind), links.map(([, digest]) => digest), new Date()]);
        }
        if (snapshot.tags.length > 0) {
          const { tags } = snapshot;
          await client.query(sql.putTags, [repository, tags.map((t) => t.tag), tags.map((t) => t.digest), tags.map((t) => t.pushedAt)]);
        }
        if (snapshot.referrers.length > 0) {
          const { referrers } = snapshot;
          await client.query(sql.putReferrers, [repository, referrers.map((r) => r.subject), referrers.map((r) => r.digest)]);
        }
        await client.query(sql.bump, [repository]);
        return true;
      });
    },
    async forgetRepository(repository, expectedChanges) {
      return inTransaction(pool, async (client) => {
        if (!(await unchanged(client, repository, expectedChanges))) return false;
        await clear(client, repository, null);
        await client.query(sql.clearRepository, [repository]);
        await client.query(sql.bump, [repository]);
        return true;
      });
    },

    async linkedDigests() {
      // A cursor in a read-only transaction: one consistent view (as collection needs), fetched in bounded batches.
      return inTransaction(pool, async (client) => {
        await client.query('SET TRANSACTION READ ONLY');
        await client.query(sql.linkedCursor);
        const all: Array<{ repository: string; kind: LinkKind | 'tag'; digest: string }> = [];
        for (;;) {
          const { rows } = await client.query<{ repository: string; kind: LinkKind | 'tag'; digest: string }>(
            `FETCH ${linkedFetchSize} FROM berth_linked`,
          );
          for (const row of rows) all.push({ repository: row.repository, kind: row.kind, digest: row.digest });
          if (rows.length < linkedFetchSize) return all;
        }
      });
    },
    async referencesOf(manifest) {
      const { rows } = await pool.query<{ blobs: string[]; manifests: string[] }>(sql.referencesOf, [manifest]);
      const row = rows[0];
      return row === undefined ? undefined : ({ blobs: row.blobs, manifests: row.manifests } satisfies ManifestReferences);
    },
    async isLinkedAnywhere(digest) {
      return ((await pool.query(sql.linkedAnywhere, [digest])).rowCount ?? 0) > 0;
    },
    async putBlobSize(digest, size) {
      await pool.query(sql.putBlobSize, [digest, size]);
    },
    async namespaceUsage(namespace, unsizedLimit = 1000) {
      const { rows } = await pool.query<{ bytes: string; blobs: string; unsized: string[] | null }>(sql.namespaceUsage, [
        namespace,
        `${namespace}/`,
        `${namespace}0`,
        unsizedLimit,
      ]);
      const row = rows[0];
      return { bytes: Number(row?.bytes ?? 0), blobs: Number(row?.blobs ?? 0), unsized: row?.unsized ?? [] };
    },
    async namespaceLinks(namespace, digest) {
      return ((await pool.query(sql.namespaceLinks, [namespace, `${namespace}/`, `${namespace}0`, digest])).rowCount ?? 0) > 0;
    },
    async repositoryUsages() {
      const [bytes, tags] = await inTransaction(pool, async (client) => {
        // One snapshot for both reads: the sizes and the tags describe the same moment.
        await client.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY');
        return [
          await client.query<{ repository: string; bytes: string; blobs: string; unsized: string[] }>(sql.repositoryBytes),
          await client.query<{ repository: string; tags: string; last: Date }>(sql.repositoryTags),
        ] as const;
      });
      const tagged = new Map(tags.rows.map((row) => [row.repository, row]));
      return bytes.rows.map((row) => {
        const tag = tagged.get(row.repository);
        const usage: RepositoryUsage = { repository: row.repository, bytes: Number(row.bytes), blobs: Number(row.blobs), unsized: row.unsized, tags: Number(tag?.tags ?? 0) };
        if (tag) usage.lastTagPushedAt = tag.last;
        return usage;
      });
    },

    async close() {
      // The pool is its opener's to end.
    },
  };
}
