import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createManifestCache, type CachedManifest } from '../../registry/storage/manifest-cache.js';

const manifest = (digest: string): CachedManifest => ({ digest, mediaType: 'application/vnd.oci.image.manifest.v1+json', bytes: Buffer.from(digest), etag: `"${digest}"` });

/** A load the test finishes when it wants, counting how often the store was read. */
function controlledLoads() {
  const pending: Array<(value: CachedManifest | undefined) => void> = [];
  let reads = 0;
  return {
    load: () =>
      new Promise<CachedManifest | undefined>((resolve) => {
        reads += 1;
        pending.push(resolve);
      }),
    finish: (value: CachedManifest | undefined) => (pending.shift() as (value: CachedManifest | undefined) => void)(value),
    get reads() {
      return reads;
    },
  };
}

describe('manifest cache', () => {
  it('lets concurrent misses of one key share a single read of the store', async () => {
    const cache = createManifestCache();
    const store = controlledLoads();
    const answers = Promise.all(Array.from({ length: 20 }, () => cache.getOrLoad('team/app', '1', store.load)));
    store.finish(manifest('sha256:a'));
    assert.deepEqual((await answers).map((answer) => answer?.digest), Array(20).fill('sha256:a'));
    assert.equal(store.reads, 1);
    // Cached now: no read at all.
    assert.equal((await cache.getOrLoad('team/app', '1', store.load))?.digest, 'sha256:a');
    assert.equal(store.reads, 1);
  });

  it('never hands a load that a write overtook to a request made after the write', async () => {
    const cache = createManifestCache();
    const store = controlledLoads();
    const before = cache.getOrLoad('team/app', '1', store.load);
    // A push moves the tag while the old manifest is being read.
    cache.invalidate('team/app');
    const after = cache.getOrLoad('team/app', '1', store.load);
    assert.equal(store.reads, 2, 'the request after the write reads afresh');
    store.finish(manifest('sha256:old'));
    store.finish(manifest('sha256:new'));
    assert.equal((await before)?.digest, 'sha256:old');
    assert.equal((await after)?.digest, 'sha256:new');
    // The overtaken read was not cached over the fresh one.
    assert.equal((await cache.getOrLoad('team/app', '1', store.load))?.digest, 'sha256:new');
    assert.equal(store.reads, 2);
  });

  it('caches a load that started after the last write, and forgets a failed one', async () => {
    const cache = createManifestCache();
    cache.invalidate('team/app');
    assert.equal((await cache.getOrLoad('team/app', '1', async () => manifest('sha256:a')))?.digest, 'sha256:a');
    assert.equal(cache.get('team/app', '1')?.digest, 'sha256:a');
    await assert.rejects(cache.getOrLoad('team/app', '2', async () => Promise.reject(new Error('disk gone'))), /disk gone/);
    assert.equal((await cache.getOrLoad('team/app', '2', async () => manifest('sha256:b')))?.digest, 'sha256:b');
  });

  it('sees another process\'s change by the change counter, long before the TTL', async () => {
    // The counter stands for the local index's row, which another process (the CLI) bumps.
    let count = 7;
    let clock = 1_000;
    const cache = createManifestCache({ ttlMs: 60_000, changeCount: () => count, now: () => clock });
    const store = controlledLoads();
    const first = cache.getOrLoad('team/app', '1', store.load);
    store.finish(manifest('sha256:a'));
    assert.equal((await first)?.digest, 'sha256:a');
    assert.equal((await cache.getOrLoad('team/app', '1', store.load))?.digest, 'sha256:a');
    assert.equal(store.reads, 1, 'an unchanged counter: served from the cache');
    count += 1; // the CLI deleted the tag
    assert.equal((await cache.getOrLoad('team/app', '1', store.load))?.digest, 'sha256:a', 'within the millisecond of the last read: not yet');
    clock += 1;
    const afterDelete = cache.getOrLoad('team/app', '1', store.load);
    assert.equal(store.reads, 2, 'a changed counter: read afresh');
    store.finish(undefined);
    assert.equal(await afterDelete, undefined);
    assert.equal(cache.get('team/app', '1'), undefined);
  });

  it('does not join a load that began before another process\'s change', async () => {
    let count = 1;
    let clock = 1_000;
    const cache = createManifestCache({ changeCount: () => count, now: () => clock });
    const store = controlledLoads();
    const before = cache.getOrLoad('team/app', '1', store.load);
    count += 1; // another process moved the tag while the old manifest was read
    clock += 1;
    const after = cache.getOrLoad('team/app', '1', store.load);
    assert.equal(store.reads, 2);
    store.finish(manifest('sha256:old'));
    store.finish(manifest('sha256:new'));
    assert.equal((await before)?.digest, 'sha256:old');
    assert.equal((await after)?.digest, 'sha256:new');
    assert.equal((await cache.getOrLoad('team/app', '1', store.load))?.digest, 'sha256:new');
    assert.equal(store.reads, 2, 'the read begun at the current count is the one cached');
  });

  it('trusts nothing cached while the counter cannot be read', async () => {
    let broken = false;
    let clock = 1_000;
    const cache = createManifestCache({
      now: () => clock,
      changeCount: () => {
        if (broken) throw new Error('database is locked');
        return 1;
      },
    });
    assert.equal((await cache.getOrLoad('team/app', '1', async () => manifest('sha256:a')))?.digest, 'sha256:a');
    broken = true;
    clock += 1;
    assert.equal((await cache.getOrLoad('team/app', '1', async () => manifest('sha256:b')))?.digest, 'sha256:b');
  });
});
