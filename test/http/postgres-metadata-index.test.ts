import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createRegistry, type Registry } from '../../registry/index.js';
import { silentLogger } from '../../registry/log.js';
import { openPostgresDatabase } from '../../registry/state/postgres/database.js';
import { createFilesystemDriver } from '../../registry/storage/filesystem-driver.js';
import { openPostgresIndexStores } from '../../registry/storage/postgres-index-stores.js';
import { makeImage, pushManifest, request } from '../support/oci-client.js';
import { postgresSkipReason, startPostgres, type PostgresServer } from '../support/services/postgres.js';
import { makeTempDir } from '../support/temp-dir.js';

/**
 * Two registry nodes over one blob store and one PostgreSQL database (the index and the pull records), talked
 * to over HTTP: what is pushed to one is listed and pulled on the other, a tag moved or deleted on one changes on
 * the other at once, and pulls served by either add up.
 */

interface Node {
  registry: Registry;
  url: string;
}

describe('two nodes on one PostgreSQL metadata index', { skip: postgresSkipReason(), timeout: 5 * 60_000 }, () => {
  let server: PostgresServer;
  before(async () => {
    server = await startPostgres();
  });
  after(() => server?.stop());

  async function twoNodes(t: import('node:test').TestContext): Promise<[Node, Node]> {
    const info = await server.createDatabase();
    const target = { url: info.url, password: info.connection.password };
    // The shared blob store: one folder both nodes' drivers write (what S3 is in a real cluster).
    const shared = await makeTempDir(t, 'berth-shared-blobs-');
    const migrated = openPostgresDatabase(target);
    await openPostgresIndexStores(migrated.pool, { migrate: true });
    await migrated.close();
    const start = async (): Promise<Node> => {
      const stores = await openPostgresIndexStores(target);
      const registry = await createRegistry({
        logger: silentLogger(),
        dataDir: await makeTempDir(t, 'berth-node-'),
        driver: createFilesystemDriver(shared),
        stores,
        checkIndexAtStart: false,
      });
      t.after(() => registry.close(1000));
      const { url } = await registry.listen({ host: '127.0.0.1', port: 0 });
      return { registry, url: url.replace(/\/+$/, '') };
    };
    const a = await start();
    await a.registry.checkIndex();
    return [a, await start()];
  }

  const json = async <T>(url: string): Promise<T> => (await (await request('GET', url, { expected: 200 })).json()) as T;

  it('a push to one node is listed and pulled on the other; a move and a delete show there at once', async (t) => {
    const [a, b] = await twoNodes(t);
    const image = await makeImage(a.url, 'team/app', { tag: 'v1' });
    await pushManifest(a.url, 'team/app', 'latest', image.bytes, image.mediaType);
    assert.deepEqual(await json(`${b.url}/v2/_catalog`), { repositories: ['team/app'] });
    assert.deepEqual(await json(`${b.url}/v2/team/app/tags/list`), { name: 'team/app', tags: ['latest', 'v1'] });
    const pulled = await request('GET', `${b.url}/v2/team/app/manifests/latest`, { headers: { accept: image.mediaType }, expected: 200 });
    assert.equal(pulled.headers.get('docker-content-digest'), image.digest);
    assert.deepEqual(Buffer.from(await pulled.arrayBuffer()), image.bytes);

    const next = await makeImage(b.url, 'team/app');
    await pushManifest(b.url, 'team/app', 'latest', next.bytes, next.mediaType);
    const moved = await request('HEAD', `${a.url}/v2/team/app/manifests/latest`, { headers: { accept: next.mediaType }, expected: 200 });
    assert.equal(moved.headers.get('docker-content-digest'), next.digest, 'node A resolves the tag node B moved');

    await request('DELETE', `${a.url}/v2/team/app/manifests/v1`, { expected: 202 });
    assert.deepEqual(await json(`${b.url}/v2/team/app/tags/list`), { name: 'team/app', tags: ['latest'] });
  });

  it('pulls served by both nodes add up in the shared records', async (t) => {
    const [a, b] = await twoNodes(t);
    const image = await makeImage(a.url, 'team/app', { tag: 'v1' });
    const pull = (node: Node) =>
      request('GET', `${node.url}/v2/team/app/manifests/v1`, { headers: { accept: image.mediaType }, expected: 200 }).then((r) => r.arrayBuffer());
    for (const node of [a, b, b]) await pull(node);
    await a.registry.pulls.flush();
    await b.registry.pulls.flush();
    assert.equal((await a.registry.pulls.tagUsage('team/app', 'v1', image.digest)).pullCount, 3);
    assert.equal((await b.registry.pulls.repositoryUsage('team/app')).pullsLast7Days, 3);
  });
});
