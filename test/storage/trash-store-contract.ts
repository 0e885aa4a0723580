import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { TrashEntry, TrashStore } from '../../registry/lifecycle/trash-store.js';

/**
 * The one TrashStore contract suite, run on the SQLite file and on PostgreSQL: entries kept whole (what a restore
 * needs), newest first, narrowed by namespace or repository, removed once, emptied by filter and by expiry, and two
 * instances over one store (two nodes, or the CLI beside the server) seeing each other's entries.
 */
export interface TrashBackend {
  /** A fresh, empty store and a way to open more instances over it; everything opened is closed by `close`. */
  fresh(): Promise<{ store: TrashStore; another(): Promise<TrashStore> }>;
  close(): Promise<void>;
}

let counter = 0;
const digest = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`;

function entry(repository: string, deletedAt: string, expiresAt: string, extra: Partial<TrashEntry> = {}): TrashEntry {
  counter += 1;
  return {
    id: counter.toString(16).padStart(16, '0'),
    repository,
    namespace: repository.split('/')[0] as string,
    deleted: { kind: 'manifest', digest: digest(counter) },
    manifests: [
      { digest: digest(counter), mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 400, tags: ['1', 'latest'] },
      { digest: digest(counter + 1000), mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 300, tags: [], subject: digest(counter) },
    ],
    deletedAt,
    expiresAt,
    deletedBy: 'ci',
    ...extra,
  };
}

export function describeTrashStoreContract(name: string, open: () => Promise<TrashBackend>, options: { skip?: string | undefined } = {}): void {
  describe(`${name}: TrashStore contract`, { skip: options.skip, timeout: 5 * 60_000 }, () => {
    let backend: TrashBackend;
    before(async () => {
      backend = await open();
    });
    after(() => backend?.close());
    const it = (title: string, fn: (opened: { store: TrashStore; another(): Promise<TrashStore> }) => Promise<void>) =>
      test(title, { timeout: 60_000 }, async () => fn(await backend.fresh()));

    it('an entry comes back exactly as added; an unknown id is undefined', async ({ store }) => {
      const added = entry('team/app', '2026-06-01T10:00:00.000Z', '2026-07-01T10:00:00.000Z', { deleted: { kind: 'tag', tag: 'v1' } });
      await store.add(added);
      assert.deepEqual(await store.get(added.id), added);
      assert.equal(await store.get('ffffffffffffffff'), undefined);
      assert.deepEqual(await store.list(), [added]);
    });

    it('lists newest first, narrowed by namespace or repository', async ({ store }) => {
      const old = entry('team/app', '2026-06-01T10:00:00.000Z', '2026-07-01T10:00:00.000Z');
      const newer = entry('team/api', '2026-06-02T10:00:00.000Z', '2026-07-02T10:00:00.000Z');
      const elsewhere = entry('ops/tool', '2026-06-03T10:00:00.000Z', '2026-07-03T10:00:00.000Z', { deleted: { kind: 'repository' } });
      for (const added of [old, newer, elsewhere]) await store.add(added);
      assert.deepEqual((await store.list()).map((e) => e.id), [elsewhere.id, newer.id, old.id]);
      assert.deepEqual((await store.list({ namespace: 'team' })).map((e) => e.id), [newer.id, old.id]);
      assert.deepEqual((await store.list({ repository: 'team/app' })).map((e) => e.id), [old.id]);
      assert.deepEqual(await store.list({ namespace: 'nobody' }), []);
    });

    it('removes an entry once: a second removal (another node restoring it too) reports false', async ({ store, another }) => {
      const added = entry('team/app', '2026-06-01T10:00:00.000Z', '2026-07-01T10:00:00.000Z');
      await store.add(added);
      const other = await another();
      assert.deepEqual(await other.get(added.id), added, 'another instance sees it');
      assert.equal(await other.remove(added.id), true);
      assert.equal(await store.remove(added.id), false);
      assert.equal(await store.get(added.id), undefined);
    });

    it('empties by filter and by expiry, returning what it removed, each entry to one caller only', async ({ store, another }) => {
      const expired = entry('team/app', '2026-06-01T10:00:00.000Z', '2026-06-05T10:00:00.000Z');
      const live = entry('team/app', '2026-06-02T10:00:00.000Z', '2026-07-02T10:00:00.000Z');
      const otherNamespace = entry('ops/tool', '2026-06-01T10:00:00.000Z', '2026-06-04T10:00:00.000Z');
      for (const added of [expired, live, otherNamespace]) await store.add(added);
      const other = await another();
      const [mine, theirs] = await Promise.all([
        store.removeWhere({ expiredBy: new Date('2026-06-10T00:00:00Z') }),
        other.removeWhere({ expiredBy: new Date('2026-06-10T00:00:00Z') }),
      ]);
      assert.deepEqual([...mine, ...theirs].map((e) => e.id).sort(), [expired.id, otherNamespace.id].sort());
      assert.deepEqual((await store.list()).map((e) => e.id), [live.id]);
      // Expiry is inclusive: an entry expiring at the very moment asked about has expired.
      assert.deepEqual(await store.removeWhere({ expiredBy: new Date('2026-07-02T09:59:59.999Z') }), []);
      assert.deepEqual((await store.removeWhere({ namespace: 'team', expiredBy: new Date(live.expiresAt) })).map((e) => e.id), [live.id]);
      const again = entry('team/app', '2026-06-02T10:00:00.000Z', '2026-07-02T10:00:00.000Z');
      await store.add(again);
      assert.deepEqual(await store.removeWhere({ namespace: 'ops' }), []);
      assert.deepEqual((await store.removeWhere({})).map((e) => e.id), [again.id]);
    });

    it('refuses a second entry with the same id', async ({ store }) => {
      const added = entry('team/app', '2026-06-01T10:00:00.000Z', '2026-07-01T10:00:00.000Z');
      await store.add(added);
      await assert.rejects(store.add(added));
      assert.equal((await store.list()).length, 1);
    });
  });
}
