import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { openPostgresDatabase, type PostgresDatabase } from '../../registry/state/postgres/database.js';
import { migrate } from '../../registry/state/postgres/migrations.js';
import { openPostgresRepositoryIndex } from '../../registry/storage/postgres-repository-index.js';
import type { RepositoryIndex } from '../../registry/storage/repository-index.js';
import { postgresSkipReason, startPostgres, type PostgresServer } from '../support/services/postgres.js';
import { describeRepositoryIndexContract } from './repository-index-contract.js';

// A throwaway server for the suite, a fresh migrated database per test; "another instance" is a second pool on
// the same database (another node).
describeRepositoryIndexContract(
  'postgres',
  async () => {
    const server = await startPostgres();
    const pools: PostgresDatabase[] = [];
    const node = (target: { url: string; password: string }) => {
      const database = openPostgresDatabase(target, { maxConnections: 4 });
      pools.push(database);
      return openPostgresRepositoryIndex(database.pool);
    };
    return {
      async fresh() {
        const info = await server.createDatabase();
        const target = { url: info.url, password: info.connection.password };
        const first = openPostgresDatabase(target, { maxConnections: 4 });
        pools.push(first);
        await migrate(first.pool);
        return { index: openPostgresRepositoryIndex(first.pool), another: async () => node(target) };
      },
      async close() {
        await Promise.all(pools.map((database) => database.close()));
        await server.stop();
      },
    };
  },
  { skip: postgresSkipReason() },
);

/**
 * The shape of the queries, not only their answers: with 10,000 tags in one repository and 5,000 repositories in
 * the catalog, a page is one statement, planned as index scans in index order (no sequential scan, no sort), and
 * touches a few dozen buffer pages, not the table. The statements are the ones the index really sends (recorded
 * off its pool) and are explained with the same parameters.
 */
describe('postgres index: pages are one indexed query', { skip: postgresSkipReason(), timeout: 5 * 60_000 }, () => {
  let server: PostgresServer;
  let database: PostgresDatabase;
  const sent: Array<{ text: string; values: unknown[] }> = [];
  let index: RepositoryIndex;
  before(async () => {
    server = await startPostgres();
    const info = await server.createDatabase();
    database = openPostgresDatabase({ url: info.url, password: info.connection.password }, { maxConnections: 2 });
    await migrate(database.pool);
    const recording = new Proxy(database.pool, {
      get(target, property, receiver) {
        if (property !== 'query') return Reflect.get(target, property, receiver) as unknown;
        return (text: string, values: unknown[] = []) => {
          sent.push({ text, values });
          return target.query(text, values);
        };
      },
    });
    index = openPostgresRepositoryIndex(recording);
    const tags = Array.from({ length: 10_000 }, (_, i) => ({ tag: `v${String(i).padStart(5, '0')}`, digest: `sha256:${'a'.repeat(64)}`, pushedAt: new Date() }));
    const started = performance.now();
    assert.equal(await index.replaceRepository('big/app', 0, { exists: true, layers: [], manifests: [`sha256:${'a'.repeat(64)}`], tags, referrers: [] }, new Date()), true);
    console.log(`# a 10,000-tag snapshot replaced in ${(performance.now() - started).toFixed(0)} ms`);
    await database.pool.query(`
      INSERT INTO berth_index_repositories (name) SELECT 'team' || lpad(n::text, 5, '0') || '/app' FROM generate_series(1, 5000) AS n;
      INSERT INTO berth_index_links (repository, kind, digest, committed, intended_at)
        SELECT 'team' || lpad(n::text, 5, '0') || '/app', kind, 'sha256:' || md5(n::text || kind), n % 7 <> 0, now()
        FROM generate_series(1, 5000) AS n, (VALUES ('layer'), ('manifest')) AS k(kind);
      ANALYZE;`);
  });
  after(async () => {
    await database?.close();
    await server?.stop();
  });

  /** Runs `call`, requires it to have sent exactly one statement, and returns that statement's plan nodes. */
  async function planOf(call: () => Promise<unknown>): Promise<{ nodes: Array<Record<string, unknown>>; buffers: number; ms: number }> {
    sent.length = 0;
    const started = performance.now();
    await call();
    const ms = performance.now() - started;
    assert.equal(sent.length, 1, `one statement, got: ${sent.map((s) => s.text).join(' | ')}`);
    const [{ text, values }] = sent as [{ text: string; values: unknown[] }];
    const { rows } = await database.pool.query<{ 'QUERY PLAN': Array<{ Plan: Record<string, unknown> }> }>(
      `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${text}`,
      values,
    );
    const nodes: Array<Record<string, unknown>> = [];
    const walk = (node: Record<string, unknown>) => {
      nodes.push(node);
      for (const child of (node.Plans as Array<Record<string, unknown>> | undefined) ?? []) walk(child);
    };
    const top = rows[0]!['QUERY PLAN'][0]!.Plan;
    walk(top);
    return { nodes, buffers: Number(top['Shared Hit Blocks'] ?? 0) + Number(top['Shared Read Blocks'] ?? 0), ms };
  }

  const describePlan = (nodes: Array<Record<string, unknown>>) => nodes.map((n) => `${String(n['Node Type'])}${n['Relation Name'] ? ` on ${String(n['Relation Name'])}` : ''}`).join(', ');

  test('a 100-tag page deep inside a 10,000-tag repository', async () => {
    let page: string[] | undefined;
    const { nodes, buffers, ms } = await planOf(async () => {
      page = await index.listTagNames('big/app', { last: 'v05000', limit: 100 });
    });
    assert.deepEqual(page?.[0], 'v05001');
    assert.equal(page?.length, 100);
    const plan = describePlan(nodes);
    assert.ok(!/Seq Scan|Sort/.test(plan), plan);
    assert.match(plan, /Index (Only )?Scan on berth_index_tags/);
    assert.ok(buffers < 50, `${buffers} buffers for one page: ${plan}`);
    console.log(`# tag page: ${ms.toFixed(1)} ms, ${buffers} buffers; ${plan}`);
  });

  test('a catalog page of 100 repositories out of 5,000', async () => {
    let page: string[] = [];
    const { nodes, buffers, ms } = await planOf(async () => {
      page = await index.listRepositories({ last: 'team02500/app', limit: 100 });
    });
    // Every 7th repository's manifest is only an intent: not listed.
    assert.equal(page.length, 100);
    assert.equal(page[0], 'team02501/app');
    assert.ok(!page.includes('team02506/app'), 'a repository with only a manifest intent is not listed');
    const plan = describePlan(nodes);
    assert.ok(!/Seq Scan|Sort/.test(plan), plan);
    assert.match(plan, /Index (Only )?Scan on berth_index_repositories/);
    assert.ok(buffers < 60, `${buffers} buffers for one page: ${plan}`);
    console.log(`# catalog page: ${ms.toFixed(1)} ms, ${buffers} buffers; ${plan}`);
    // Bounded by the page, not by where it starts: a page near the end costs what a page in the middle does.
    const late = await planOf(() => index.listRepositories({ last: 'team04800/app', limit: 100 }));
    assert.ok(late.buffers <= buffers + 10, `late page ${late.buffers} buffers vs ${buffers}`);
  });

  test('a tag move is one statement on one row, in its own transaction', async () => {
    sent.length = 0;
    await index.putTag('big/app', 'v05000', `sha256:${'b'.repeat(64)}`, new Date());
    // The pool's query is not used for a change: it runs on a transaction's client (BEGIN, bump, upsert, tag's
    // repository row, COMMIT). What matters to a reader: the tag count is unchanged and the new digest is listed.
    assert.equal(await index.countTags('big/app'), 10_000);
    assert.equal((await index.listTags('big/app', { last: 'v04999', limit: 1 }))?.[0]?.digest, `sha256:${'b'.repeat(64)}`);
  });
});
