import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { openPostgresDatabase, type PostgresDatabase } from '../../registry/state/postgres/database.js';
import { migrate, pendingMigrations, type Migration } from '../../registry/state/postgres/migrations.js';
import { migrations } from '../../registry/state/postgres/migration-list.js';
import { postgresForFile } from '../support/services/postgres.js';

const postgres = postgresForFile();
const { skip } = postgres;

/** A fresh database and a pool on it, closed after the test. */
async function freshDatabase(t: import('node:test').TestContext): Promise<PostgresDatabase> {
  const info = await postgres.server().createDatabase();
  const database = openPostgresDatabase({ url: info.url, password: info.connection.password });
  t.after(() => database.close());
  return database;
}

const extra = (id: number, sql: string): Migration => ({ id, name: `test ${id}`, sql });

test('a fresh database gets every migration once; a second run applies nothing', { skip }, async (t) => {
  const database = await freshDatabase(t);
  assert.deepEqual(await pendingMigrations(database.pool), migrations.map(({ id, name }) => ({ id, name })));
  const first = await migrate(database.pool);
  assert.deepEqual(first.map((m) => m.id), migrations.map((m) => m.id));
  assert.deepEqual(await migrate(database.pool), []);
  assert.deepEqual(await pendingMigrations(database.pool), []);
  const { rows } = await database.pool.query<{ id: number; name: string }>('SELECT id, name FROM berth_schema_migrations ORDER BY id');
  assert.deepEqual(rows.map((row) => ({ ...row })), migrations.map(({ id, name }) => ({ id, name })));
});

test('six nodes migrating at once apply each migration exactly once', { skip }, async (t) => {
  const info = await postgres.server().createDatabase();
  // A migration that would fail if run twice (CREATE TABLE without IF NOT EXISTS, then a unique row).
  const list = [...migrations, extra(migrations.length + 1, 'CREATE TABLE once_only (x int PRIMARY KEY); INSERT INTO once_only VALUES (1);')];
  const nodes = Array.from({ length: 6 }, () => openPostgresDatabase({ url: info.url, password: info.connection.password }, { maxConnections: 1 }));
  t.after(() => Promise.all(nodes.map((node) => node.close())));
  const results = await Promise.all(nodes.map((node) => migrate(node.pool, list)));
  const appliedCounts = results.map((applied) => applied.length).sort();
  assert.deepEqual(appliedCounts, [0, 0, 0, 0, 0, list.length], 'one node applied everything, the others nothing');
  const { rows } = await nodes[0]!.pool.query<{ n: string }>('SELECT count(*) AS n FROM once_only');
  assert.equal(rows[0]?.n, '1');
});

test('an appended migration is applied on the next run, alone', { skip }, async (t) => {
  const database = await freshDatabase(t);
  await migrate(database.pool);
  const next = extra(migrations.length + 1, 'CREATE TABLE appended (x int)');
  assert.deepEqual(await migrate(database.pool, [...migrations, next]), [{ id: next.id, name: next.name }]);
  await database.pool.query('SELECT x FROM appended');
});

test('a failing migration applies nothing of its run and names itself', { skip }, async (t) => {
  const database = await freshDatabase(t);
  const list = [...migrations, extra(migrations.length + 1, 'CREATE TABLE half_done (x int)'), extra(migrations.length + 2, 'SELECT no_such_column FROM half_done')];
  await assert.rejects(migrate(database.pool, list), (error: Error & { code?: string }) =>
    error.code === 'BERTH_MIGRATION' && error.message.includes(`migration ${migrations.length + 2} (test ${migrations.length + 2}) failed`) && /no_such_column/.test(error.message));
  const { rows } = await database.pool.query<{ found: boolean }>("SELECT to_regclass('half_done') IS NOT NULL AS found, to_regclass('berth_state_head') IS NOT NULL AS head");
  assert.deepEqual({ ...rows[0] }, { found: false, head: false });
  assert.equal((await pendingMigrations(database.pool, list)).length, list.length);
});

test('a database migrated by a newer Berth is refused with what to do', { skip }, async (t) => {
  const database = await freshDatabase(t);
  await migrate(database.pool, [...migrations, extra(migrations.length + 1, 'SELECT 1')]);
  await assert.rejects(migrate(database.pool), /schema is at migration \d+, newer than this Berth knows \(\d+\): upgrade Berth/);
});

test('a migration list with a gap or a duplicate id is refused before anything runs', { skip }, async (t) => {
  const database = await freshDatabase(t);
  await assert.rejects(migrate(database.pool, [...migrations, extra(migrations.length + 2, 'SELECT 1')]), /ids must be 1, 2, 3/);
  await assert.rejects(migrate(database.pool, [...migrations, extra(migrations.length, 'SELECT 1')]), /ids must be 1, 2, 3/);
  assert.equal((await pendingMigrations(database.pool)).length, migrations.length);
});

test('a wrong password is an authentication error, not a hang', { skip }, async () => {
  const database = openPostgresDatabase({ url: postgres.server().url, password: 'wrong' });
  try {
    await assert.rejects(migrate(database.pool), /password authentication failed for user "berth"/);
  } finally {
    await database.close();
  }
});
