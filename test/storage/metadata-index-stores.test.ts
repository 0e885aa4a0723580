import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { openPostgresDatabase } from '../../registry/state/postgres/database.js';
import type { TrashEntry } from '../../registry/lifecycle/trash-store.js';
import { openIndexStores } from '../../registry/storage/metadata-index-stores.js';
import { openPostgresIndexStores } from '../../registry/storage/postgres-index-stores.js';
import { makeTempDir } from '../support/temp-dir.js';
import { postgresSkipReason, startPostgres, type PostgresServer } from '../support/services/postgres.js';

/** The factory the configuration uses: migrations on request, one pool for all the stores, ended by the last close. */

const skip = postgresSkipReason();
let server: PostgresServer;
before(async () => {
  if (!skip) server = await startPostgres();
});
after(() => server?.stop());

const trashEntry: TrashEntry = {
  id: '0123456789abcdef',
  repository: 'team/app',
  namespace: 'team',
  deleted: { kind: 'tag', tag: '1' },
  manifests: [{ digest: `sha256:${'a'.repeat(64)}`, mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 10, tags: ['1'] }],
  deletedAt: '2026-06-01T00:00:00.000Z',
  expiresAt: '2026-07-01T00:00:00.000Z',
  deletedBy: 'ci',
};

const connectionsTo = async (database: string) =>
  Number((await server.psql(`SELECT count(*) FROM pg_stat_activity WHERE datname = '${database}' AND application_name = 'berth';`)).trim());

test('the file backend opens the SQLite index, pull records and trash in the data directory', async (t) => {
  const dataDir = await makeTempDir(t, 'berth-index-stores-');
  const stores = await openIndexStores(dataDir, { kind: 'file' });
  await stores.index.putTag('team/app', '1', `sha256:${'a'.repeat(64)}`, new Date());
  await stores.trash.add(trashEntry);
  await stores.index.close();
  await stores.usage.close();
  await stores.trash.close();
  const again = await openIndexStores(dataDir, { kind: 'file' });
  t.after(async () => {
    await again.index.close();
    await again.usage.close();
    await again.trash.close();
  });
  assert.deepEqual(await again.index.listTagNames('team/app', {}), ['1'], 'kept in the data directory');
  assert.deepEqual(await again.trash.get(trashEntry.id), trashEntry);
});

test('opened from a URL: migrates, the stores share one pool, and the last close ends it', { skip }, async () => {
  const info = await server.createDatabase();
  const stores = await openIndexStores('/nonexistent', { kind: 'postgres', target: { url: info.url, password: info.connection.password } }, { migrate: true });
  await stores.index.putTag('team/app', '1', `sha256:${'a'.repeat(64)}`, new Date());
  await stores.usage.add([{ repository: 'team/app', reference: '1', day: 1, count: 2, lastPulledAt: 86_400_000 }]);
  assert.deepEqual(await stores.index.listTagNames('team/app', {}), ['1']);
  assert.ok((await connectionsTo(info.name)) >= 1);

  await stores.index.close();
  await stores.index.close();
  assert.equal((await stores.usage.referenceUsage('team/app', ['1']))?.pullCount, 2, 'the pool stays while the pull records are open');
  await stores.usage.close();
  assert.equal((await stores.trash.list()).length, 0, 'the pool stays while the trash is open');
  await stores.trash.close();
  assert.equal(await connectionsTo(info.name), 0, 'the last close ended the pool');
});

test('over a pool the caller owns: without migrate a fresh database is refused by the first query; the pool stays open', { skip }, async (t) => {
  const info = await server.createDatabase();
  const database = openPostgresDatabase({ url: info.url, password: info.connection.password });
  t.after(() => database.close());
  const stores = await openPostgresIndexStores(database.pool);
  await assert.rejects(stores.index.isReady(), /relation "berth_index_meta" does not exist/);
  await stores.index.close();
  await stores.usage.close();
  await stores.trash.close();
  assert.equal((await database.pool.query('SELECT 1 AS one')).rows[0]?.one, 1);
});

test('a database that refuses the password fails the open with its URL, not later', { skip }, async () => {
  await assert.rejects(openPostgresIndexStores({ url: server.url, password: 'wrong' }, { migrate: true }), (error: Error) =>
    error.message.startsWith(`metadata database ${server.url}: `) && /password authentication failed/.test(error.message));
});
