import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { parseDigest } from '../../registry/core/digest.js';
import { createBlobStore, type BlobStore } from '../../registry/storage/blob-store.js';
import { quarantineBlob, restoreBlob } from '../../registry/storage/blob-quarantine.js';
import { isPathNotFound, type StorageDriver } from '../../registry/storage/driver.js';
import { createFilesystemDriver } from '../../registry/storage/filesystem-driver.js';
import { pathFor } from '../../registry/storage/paths.js';
import { collectGarbage } from '../../registry/storage/garbage-collector.js';
import { createRepositoryStore, type RepositoryStore } from '../../registry/storage/repository-store.js';
import type { RepositoryIndex } from '../../registry/storage/repository-index.js';
import { createUploadStore, type UploadStore } from '../../registry/storage/upload-store.js';
import { testOnEachIndex, type IndexBackendUnderTest } from '../support/index-backends.js';
import { makeTempDir, type AfterHook } from '../support/temp-dir.js';

/**
 * The collector over real stores on a temp directory, pushed to the way the /v2 handlers push (upload session,
 * adopt, link, then the manifest). Ages are simulated with the collector's `now` option instead of sleeping.
 * Every case runs on each metadata index backend (SQLite, PostgreSQL): collection marks from the index only.
 */

const ociManifest = 'application/vnd.oci.image.manifest.v1+json';
const ociIndex = 'application/vnd.oci.image.index.v1+json';
const hour = 60 * 60 * 1000;
const later = () => new Date(Date.now() + 2 * hour);

interface Stores {
  driver: StorageDriver;
  blobs: BlobStore;
  uploads: UploadStore;
  repositories: RepositoryStore;
  index: RepositoryIndex;
}

interface Blob {
  digest: string;
  size: number;
  bytes: Buffer;
}

interface Pushed {
  digest: string;
  bytes: Buffer;
  blobs: Blob[];
}

async function openStores(t: AfterHook, backend: IndexBackendUnderTest, driver?: StorageDriver): Promise<Stores> {
  const real = driver ?? createFilesystemDriver(await makeTempDir(t, 'berth-gc-'));
  const blobs = createBlobStore(real);
  const index = await (await backend.fresh(t))();
  return { driver: real, blobs, index, uploads: createUploadStore(real, blobs), repositories: createRepositoryStore(real, blobs, index) };
}

function digestOf(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** An upload session completed and linked, as `PUT /v2/<repo>/blobs/uploads/<id>?digest=` does. */
async function pushBlob(stores: Stores, repo: string, bytes: Buffer): Promise<Blob> {
  const digest = digestOf(bytes);
  const session = await stores.uploads.start(repo);
  await stores.uploads.complete(repo, session.id, parseDigest(digest), Readable.from([bytes]));
  await stores.repositories.linkBlob(repo, parseDigest(digest));
  return { digest, size: bytes.length, bytes };
}

async function pushImage(stores: Stores, repo: string, reference: string | undefined, layers: Buffer[]): Promise<Pushed> {
  const config = await pushBlob(stores, repo, Buffer.from(JSON.stringify({ os: 'linux', nonce: randomBytes(8).toString('hex') })));
  const pushedLayers: Blob[] = [];
  for (const layer of layers) pushedLayers.push(await pushBlob(stores, repo, layer));
  const bytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: ociManifest,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config.digest, size: config.size },
      layers: pushedLayers.map((layer) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layer.digest, size: layer.size })),
    }),
  );
  const digest = digestOf(bytes);
  await stores.repositories.putManifest(repo, reference ?? digest, bytes, ociManifest);
  return { digest, bytes, blobs: [config, ...pushedLayers] };
}

async function pushIndex(stores: Stores, repo: string, tag: string, children: Pushed[]): Promise<Pushed> {
  const bytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: ociIndex,
      manifests: children.map((child, i) => ({
        mediaType: ociManifest,
        digest: child.digest,
        size: child.bytes.length,
        platform: { os: 'linux', architecture: i === 0 ? 'amd64' : 'arm64' },
      })),
    }),
  );
  const digest = digestOf(bytes);
  await stores.repositories.putManifest(repo, tag, bytes, ociIndex);
  return { digest, bytes, blobs: [] };
}

async function stored(stores: Stores, digest: string): Promise<boolean> {
  return (await stores.blobs.size(parseDigest(digest))) !== undefined;
}

/** Every tag resolves to a manifest whose blobs (and children, recursively) are all readable in its repository. */
async function assertEveryTagComplete(stores: Stores): Promise<void> {
  for (const repo of await stores.repositories.listRepositories()) {
    for (const tag of (await stores.repositories.listTags(repo)) ?? []) {
      const manifest = await stores.repositories.getManifest(repo, tag);
      assert.ok(manifest, `${repo}:${tag} resolves`);
      await assertComplete(stores, repo, manifest.bytes, `${repo}:${tag}`);
    }
  }
}

async function assertComplete(stores: Stores, repo: string, bytes: Buffer, where: string): Promise<void> {
  const body = JSON.parse(bytes.toString('utf8')) as { config?: { digest: string }; layers?: { digest: string }[]; manifests?: { digest: string }[] };
  for (const blob of [...(body.config ? [body.config] : []), ...(body.layers ?? [])]) {
    assert.notEqual(await stores.repositories.blobSize(repo, parseDigest(blob.digest)), undefined, `${where}: blob ${blob.digest} is pullable`);
  }
  for (const child of body.manifests ?? []) {
    const childBytes = await stores.blobs.read(parseDigest(child.digest));
    assert.ok(childBytes, `${where}: child ${child.digest} is stored`);
    await assertComplete(stores, repo, childBytes, `${where} > ${child.digest}`);
  }
}

testOnEachIndex('frees exactly the blobs of a deleted image; a layer shared with another repository stays (dry run reports the same)', async (t, backend) => {
  const stores = await openStores(t, backend);
  const shared = randomBytes(3000);
  const doomed = await pushImage(stores, 'team/a', 'v1', [shared, randomBytes(5000)]);
  const kept = await pushImage(stores, 'team/b', 'v1', [shared, randomBytes(700)]);
  assert.ok(await stores.repositories.deleteManifest('team/a', parseDigest(doomed.digest)));

  const expectedFreed = [doomed.digest, doomed.blobs[0]?.digest, doomed.blobs[2]?.digest] as string[];
  const expectedBytes = doomed.bytes.length + (doomed.blobs[0]?.size ?? 0) + 5000;

  const dry = await collectGarbage(stores.driver, stores.index, { graceMs: 0, dryRun: true });
  assert.equal(dry.dryRun, true);
  assert.equal(dry.blobsDeleted, 3);
  assert.equal(dry.bytesFreed, expectedBytes);
  assert.equal(dry.layerLinksRemoved, 3, 'config, shared layer and own layer are unlinked from team/a');
  for (const digest of expectedFreed) assert.ok(await stored(stores, digest), `dry run kept ${digest}`);

  const result = await collectGarbage(stores.driver, stores.index, { graceMs: 0 });
  const figures = (r: typeof result) => [r.blobsDeleted, r.bytesFreed, r.layerLinksRemoved, r.manifestsKept];
  assert.deepEqual(figures(result), figures(dry), 'the dry run reported exactly what the run did');
  assert.equal(result.manifestsKept, 1);
  assert.equal(result.blobsKept, 4, 'the kept image: manifest, config, two layers');
  assert.equal(result.bytesKept, kept.bytes.length + kept.blobs.reduce((sum, blob) => sum + blob.size, 0));
  for (const digest of expectedFreed) assert.equal(await stored(stores, digest), false, `${digest} was freed`);
  assert.ok(await stored(stores, digestOf(shared)), 'the shared layer stays');
  // The --json figures say where the time went, step by step in run order, adding up to the whole run.
  assert.deepEqual(Object.keys(result.phasesMs), ['recover', 'verify', 'trash', 'mark', 'layerSweep', 'secondLook', 'blobSweep']);
  const phases = Object.values(result.phasesMs);
  assert.ok(phases.every((ms) => Number.isInteger(ms) && ms >= 0), JSON.stringify(result.phasesMs));
  assert.ok(phases.reduce((sum, ms) => sum + ms, 0) <= result.durationMs + phases.length, `${JSON.stringify(result.phasesMs)} within ${result.durationMs} ms`);
  assert.equal(await stores.repositories.blobSize('team/a', parseDigest(digestOf(shared))), undefined, 'but is no longer visible in team/a');
  await assertEveryTagComplete(stores);

  const again = await collectGarbage(stores.driver, stores.index, { graceMs: 0 });
  assert.equal(again.blobsDeleted + again.layerLinksRemoved, 0, 'a second run finds nothing');
});

testOnEachIndex('an index keeps children that were deleted by digest; untagged manifests keep their blobs', async (t, backend) => {
  const stores = await openStores(t, backend);
  const amd = await pushImage(stores, 'multi/app', undefined, [randomBytes(400)]);
  const arm = await pushImage(stores, 'multi/app', undefined, [randomBytes(400)]);
  const index = await pushIndex(stores, 'multi/app', 'latest', [amd, arm]);
  assert.ok(await stores.repositories.deleteManifest('multi/app', parseDigest(arm.digest)));
  const untagged = await pushImage(stores, 'multi/app', 'old', [randomBytes(300)]);
  assert.ok(await stores.repositories.deleteTag('multi/app', 'old'));

  const result = await collectGarbage(stores.driver, stores.index, { graceMs: 0 });
  assert.equal(result.blobsDeleted, 0);
  assert.equal(result.layerLinksRemoved, 0);
  assert.equal(result.manifestsKept, 4, 'index, both children (one only through the index), the untagged image');
  for (const digest of [index.digest, amd.digest, arm.digest, ...amd.blobs.map((b) => b.digest), ...arm.blobs.map((b) => b.digest)]) {
    assert.ok(await stored(stores, digest), `${digest} stays`);
  }
  assert.ok(await stores.repositories.getManifest('multi/app', untagged.digest), 'the untagged image is pullable by digest');
  await assertComplete(stores, 'multi/app', untagged.bytes, 'untagged');
  await assertEveryTagComplete(stores);

  // Deleting the index too makes the whole family garbage, except the untagged revision.
  assert.ok(await stores.repositories.deleteManifest('multi/app', parseDigest(index.digest)));
  const second = await collectGarbage(stores.driver, stores.index, { graceMs: 0 });
  // index; arm (manifest, config, layer); amd stays a revision.
  assert.equal(second.blobsDeleted, 4);
  assert.ok(await stored(stores, amd.digest));
  assert.equal(await stored(stores, arm.digest), false);
});

testOnEachIndex('grace: a blob uploaded for a push in progress survives the default grace and goes with grace 0', async (t, backend) => {
  const stores = await openStores(t, backend);
  await pushImage(stores, 'team/app', 'v1', [randomBytes(100)]);
  const inProgress = await pushBlob(stores, 'team/app', randomBytes(2048));
  // An upload moved into the store but not yet linked (the moment between adopt and link).
  const unlinkedBytes = randomBytes(1024);
  const session = await stores.uploads.start('team/app');
  await stores.uploads.complete('team/app', session.id, parseDigest(digestOf(unlinkedBytes)), Readable.from([unlinkedBytes]));
  // And an upload session still open: never the collector's business.
  const open = await stores.uploads.start('team/app');
  await stores.uploads.append('team/app', open.id, Readable.from([randomBytes(64)]));

  const spared = await collectGarbage(stores.driver, stores.index, { graceMs: hour });
  assert.equal(spared.blobsDeleted, 0);
  assert.equal(spared.layerLinksRemoved, 0);
  assert.equal(spared.youngSpared, 2, 'the young layer link and the young unlinked blob');
  assert.ok(await stores.repositories.blobSize('team/app', parseDigest(inProgress.digest)));

  const aged = await collectGarbage(stores.driver, stores.index, { graceMs: hour, now: later(), dryRun: true });
  assert.equal(aged.blobsDeleted, 2, 'two hours later both are old enough');

  const result = await collectGarbage(stores.driver, stores.index, { graceMs: 0 });
  assert.equal(result.blobsDeleted, 2);
  assert.equal(result.bytesFreed, 2048 + 1024);
  assert.equal(result.layerLinksRemoved, 1);
  const openSession = await stores.uploads.status('team/app', open.id);
  assert.equal(openSession.offset, 64, 'the open upload session is untouched');
  await assertEveryTagComplete(stores);
});

testOnEachIndex('a repository with an unreadable manifest keeps all its layer links (never guess what it referenced)', async (t, backend) => {
  const stores = await openStores(t, backend);
  const broken = await pushImage(stores, 'team/app', 'v1', [randomBytes(100)]);
  const deleted = await pushImage(stores, 'team/app', 'v2', [randomBytes(100)]);
  await stores.repositories.deleteManifest('team/app', parseDigest(deleted.digest));
  await stores.driver.putContent(pathFor({ kind: 'blobData', digest: parseDigest(broken.digest) }), 'not a manifest');

  // An index built afresh from the files (the one that saw the push remembers what the manifest referenced: below).
  const rebuilt = await (await backend.fresh(t))();
  const result = await collectGarbage(stores.driver, rebuilt, { graceMs: 0 });
  assert.equal(result.unreadableManifests, 1);
  assert.equal(result.layerLinksRemoved, 0);
  assert.equal(result.blobsDeleted, 1, 'only the deleted manifest itself, which no link references');
  for (const blob of [...broken.blobs, ...deleted.blobs]) assert.ok(await stored(stores, blob.digest));
});

testOnEachIndex('a manifest whose bytes went bad keeps what the index recorded it references; the rest is collected', async (t, backend) => {
  const stores = await openStores(t, backend);
  const broken = await pushImage(stores, 'team/app', 'v1', [randomBytes(100)]);
  const deleted = await pushImage(stores, 'team/app', 'v2', [randomBytes(100)]);
  await stores.repositories.deleteManifest('team/app', parseDigest(deleted.digest));
  await stores.driver.putContent(pathFor({ kind: 'blobData', digest: parseDigest(broken.digest) }), 'not a manifest');

  const result = await collectGarbage(stores.driver, stores.index, { graceMs: 0 });
  assert.equal(result.unreadableManifests, 0);
  assert.equal(result.layerLinksRemoved, 2, "the deleted image's config and layer");
  for (const blob of broken.blobs) assert.ok(await stored(stores, blob.digest));
  for (const blob of deleted.blobs) assert.equal(await stored(stores, blob.digest), false);
});

testOnEachIndex('a manifest pushed while the collector runs keeps the layers it needs', async (t, backend) => {
  const dir = await makeTempDir(t, 'berth-gc-');
  const real = createFilesystemDriver(dir);
  const stores = await openStores(t, backend, real);
  // Layers of an image deleted long ago are still linked in the repository; a client re-pushes that image now.
  const image = await pushImage(stores, 'team/app', 'v1', [randomBytes(900)]);
  await stores.repositories.deleteManifest('team/app', parseDigest(image.digest));
  let pushedDuringRun = false;
  // A real driver with a push injected at the worst moment: after the repository was marked, while the collector
  // looks at the first unreferenced layer link's age.
  const racing: StorageDriver = {
    ...real,
    async stat(path) {
      if (!pushedDuringRun && path.includes('/_layers/')) {
        pushedDuringRun = true;
        await stores.repositories.putManifest('team/app', 'v1', image.bytes, ociManifest);
      }
      return real.stat(path);
    },
  };
  const result = await collectGarbage(racing, stores.index, { graceMs: 0 });
  assert.ok(pushedDuringRun);
  assert.equal(result.layerLinksRemoved, 0);
  // Not removed and restored later: a pull between the two would have failed.
  assert.equal(result.relinkedDuringRun, 0, 'the links were never removed');
  assert.equal(result.blobsDeleted, 0);
  await assertEveryTagComplete(stores);
});

testOnEachIndex('a blob linked by a push into a new repository during the blob sweep is not deleted', async (t, backend) => {
  const dir = await makeTempDir(t, 'berth-gc-');
  const real = createFilesystemDriver(dir);
  const stores = await openStores(t, backend, real);
  const orphan = await pushBlob(stores, 'team/a', randomBytes(500));
  await stores.repositories.unlinkBlob('team/a', parseDigest(orphan.digest));
  let linked = false;
  // The same content pushed into a brand-new repository right as the blob sweep starts (the blob exists, so the
  // upload is dropped and only the link is written).
  const racing: StorageDriver = {
    ...real,
    async list(path) {
      if (!linked && path === '/blobs') {
        linked = true;
        await pushBlob(stores, 'team/new', orphan.bytes);
      }
      return real.list(path);
    },
  };
  const result = await collectGarbage(racing, stores.index, { graceMs: 0 });
  assert.equal(result.blobsDeleted, 0);
  assert.equal(result.relinkedDuringRun, 1);
  assert.ok(await stores.repositories.blobSize('team/new', parseDigest(orphan.digest)));
});

/**
 * A real driver on which `work` runs once, right before the collector's first delete of a blob's bytes (the
 * moment its last check has passed): the worst moment for a push to link or upload that blob.
 */
function atFirstBlobDelete(real: StorageDriver, work: () => Promise<void>): { driver: StorageDriver; ran: () => boolean } {
  let ran = false;
  const driver: StorageDriver = {
    ...real,
    async delete(path) {
      if (!ran && (path.startsWith('/blobs/') || path.startsWith('/gc-quarantine/'))) {
        ran = true;
        await work();
      }
      return real.delete(path);
    },
  };
  return { driver, ran: () => ran };
}

testOnEachIndex('a blob linked into a new repository (as a mount does, no upload) right before the collector deletes it is kept', async (t, backend) => {
  const real = createFilesystemDriver(await makeTempDir(t, 'berth-gc-'));
  const stores = await openStores(t, backend, real);
  const orphan = await pushBlob(stores, 'team/a', randomBytes(500));
  await stores.repositories.unlinkBlob('team/a', parseDigest(orphan.digest));
  let linked: unknown;
  const racing = atFirstBlobDelete(real, async () => {
    linked = await stores.repositories.linkBlob('team/mounted', parseDigest(orphan.digest));
  });
  const result = await collectGarbage(racing.driver, stores.index, { graceMs: 0 });
  assert.ok(racing.ran());
  assert.equal(result.relinkedDuringRun, 0, 'it was not linked at the last check');
  // The link came after the last check, so the collector deleted the old copy; the push's look after its link
  // found the blob in the quarantine and put it back first.
  assert.equal(linked, true, 'linkBlob found the blob');
  assert.equal(await stores.repositories.blobSize('team/mounted', parseDigest(orphan.digest)), orphan.size);
  assert.deepEqual(await stores.blobs.read(parseDigest(orphan.digest)), orphan.bytes);
  assert.equal(result.layerLinksRemoved, 0);
});

testOnEachIndex('a push that uploads a blob the store holds, right before the collector deletes it, keeps its blob', async (t, backend) => {
  const real = createFilesystemDriver(await makeTempDir(t, 'berth-gc-'));
  const stores = await openStores(t, backend, real);
  const orphan = await pushBlob(stores, 'team/a', randomBytes(700));
  await stores.repositories.unlinkBlob('team/a', parseDigest(orphan.digest));
  const racing = atFirstBlobDelete(real, async () => {
    await pushImage(stores, 'team/new', 'v1', [orphan.bytes]);
  });
  await collectGarbage(racing.driver, stores.index, { graceMs: 0 });
  assert.ok(racing.ran());
  await assertEveryTagComplete(stores);
  assert.deepEqual(await stores.blobs.read(parseDigest(orphan.digest)), orphan.bytes);
});

testOnEachIndex('a blob in the quarantine is restored by the first reader, and by the next run after a collector was killed', async (t, backend) => {
  const real = createFilesystemDriver(await makeTempDir(t, 'berth-gc-'));
  const stores = await openStores(t, backend, real);
  const image = await pushImage(stores, 'team/app', 'v1', [randomBytes(300)]);
  const layer = parseDigest(image.blobs[1]?.digest ?? '');
  assert.ok(await quarantineBlob(real, layer));
  await assert.rejects(real.stat(pathFor({ kind: 'blobData', digest: layer })), isPathNotFound);
  assert.equal(await stores.repositories.blobSize('team/app', layer), 300, 'a pull finds it');
  await assert.rejects(real.stat(pathFor({ kind: 'quarantinedBlob', digest: layer })), isPathNotFound, 'moved back, not copied');
  // Left there by a killed collector: the next run puts it back before judging (it is linked, so it stays).
  assert.ok(await quarantineBlob(real, layer));
  const result = await collectGarbage(real, stores.index, { graceMs: 0 });
  assert.equal(result.blobsDeleted, 0);
  assert.equal((await real.stat(pathFor({ kind: 'blobData', digest: layer }))).size, 300);
  await assertEveryTagComplete(stores);
});

testOnEachIndex('a reader that misses a blob while the collector puts it back still finds it (seen as a 400 on a push racing gc)', async (t, backend) => {
  const real = createFilesystemDriver(await makeTempDir(t, 'berth-gc-'));
  const stores = await openStores(t, backend, real);
  const image = await pushImage(stores, 'team/app', 'v1', [randomBytes(300)]);
  const layer = parseDigest(image.blobs[1]?.digest ?? '');
  const blobData = pathFor({ kind: 'blobData', digest: layer });
  assert.ok(await quarantineBlob(real, layer));
  // The reader's first look in /blobs misses; right after it, the collector restores the blob (its own check found a
  // link), so the reader's look in the quarantine misses too.
  let raced = false;
  const racing: StorageDriver = {
    ...real,
    async stat(path) {
      if (path !== blobData || raced) return real.stat(path);
      raced = true;
      const miss = await real.stat(path).then(() => undefined, (error: unknown) => error);
      assert.ok(await restoreBlob(real, layer), 'the collector puts it back');
      throw miss;
    },
  };
  assert.equal(await createBlobStore(racing).size(layer), 300, 'the reader looks in /blobs again and finds it');
  assert.ok(raced);
});

testOnEachIndex('crash safety: killed at any delete, every tag still resolves to a complete image, and the next run finishes the job', async (t, backend) => {
  const build = async (stores: Stores) => {
    const shared = randomBytes(256);
    const a = await pushImage(stores, 'crash/a', 'v1', [shared, randomBytes(128)]);
    await pushImage(stores, 'crash/a', 'v2', [shared, randomBytes(128)]);
    const child = await pushImage(stores, 'crash/b', undefined, [shared]);
    await pushIndex(stores, 'crash/b', 'multi', [child]);
    await stores.repositories.deleteManifest('crash/a', parseDigest(a.digest));
  };
  const reference = await openStores(t, backend);
  await build(reference);
  const full = await collectGarbage(reference.driver, reference.index, { graceMs: 0, dryRun: true });
  const deletes = full.blobsDeleted + full.layerLinksRemoved;
  assert.ok(deletes >= 5, `the scenario has garbage (${deletes} deletes)`);

  for (let crashAt = 0; crashAt < deletes; crashAt++) {
    const real = createFilesystemDriver(await makeTempDir(t, 'berth-gc-crash-'));
    const stores = await openStores(t, backend, real);
    await build(stores);
    let count = 0;
    let deleted = 0;
    // kill -9 right before the n-th delete: no delete from then on (deletes already in flight beside it may finish).
    const crashing: StorageDriver = {
      ...real,
      async delete(path) {
        if (count++ >= crashAt) throw new Error('killed');
        await real.delete(path);
        deleted += 1;
      },
    };
    await assert.rejects(collectGarbage(crashing, stores.index, { graceMs: 0 }), /killed/);
    assert.equal(deleted, crashAt);
    await assertEveryTagComplete(stores);
    const rest = await collectGarbage(real, stores.index, { graceMs: 0 });
    assert.equal(rest.blobsDeleted + rest.layerLinksRemoved, deletes - crashAt, `crash at ${crashAt}: the next run deletes the rest`);
    await assertEveryTagComplete(stores);
  }
});

testOnEachIndex('a blob whose only link is an intent (a push writing its link right now) is kept', async (t, backend) => {
  const stores = await openStores(t, backend);
  const orphan = await pushBlob(stores, 'team/app', randomBytes(300));
  await stores.repositories.unlinkBlob('team/app', parseDigest(orphan.digest));
  // Another push of the same blob has recorded its link's intent and is about to write the link file.
  await stores.index.intendLink('team/other', 'layer', orphan.digest);
  const result = await collectGarbage(stores.driver, stores.index, { graceMs: 0 });
  assert.equal(result.blobsDeleted, 0);
  assert.ok(await stored(stores, orphan.digest));
});

testOnEachIndex('the work grows linearly with the store: storage operations for 40 repositories are about 4x those for 10', async (t, backend) => {
  /** Storage operations of one real collection over `repositories` repositories of one image and one garbage layer each. */
  const operations = async (repositories: number): Promise<number> => {
    const real = createFilesystemDriver(await makeTempDir(t, 'berth-gc-scale-'));
    const stores = await openStores(t, backend, real);
    for (let i = 0; i < repositories; i++) {
      const repo = `scale/r${i}`;
      await pushImage(stores, repo, 'v1', [randomBytes(64)]);
      await pushBlob(stores, repo, randomBytes(64));
    }
    let count = 0;
    const counting = Object.fromEntries(
      Object.entries(real).map(([key, value]) => [key, typeof value === 'function' ? (...args: unknown[]) => (count++, (value as (...a: unknown[]) => unknown).apply(real, args)) : value]),
    ) as unknown as StorageDriver;
    const result = await collectGarbage(counting, stores.index, { graceMs: 0 });
    assert.equal(result.blobsDeleted, repositories, 'each garbage layer goes');
    return count;
  };
  const small = await operations(10);
  const large = await operations(40);
  // A collection that looked at every repository for every candidate blob would need about 16x.
  assert.ok(large <= small * 4.5, `${large} operations for 40 repositories, ${small} for 10`);
});

/** What the trash hands a collection (lifecycle/trash.ts collectionRoots), fixed for the test. */
function trashHolding(roots: Array<{ repository: string; digest: string }>, expired = 0) {
  return {
    async collectionRoots() {
      return { expired: Array.from({ length: expired }, () => ({}) as never), roots };
    },
  };
}

testOnEachIndex('trash roots keep a deleted image whole (bytes, layer links, an index and its children), also in a repository with no link left', async (t, backend) => {
  const stores = await openStores(t, backend);
  const trashed = await pushImage(stores, 'team/a', 'v1', [randomBytes(4000)]);
  const amd = await pushImage(stores, 'team/gone', undefined, [randomBytes(1000)]);
  const arm = await pushImage(stores, 'team/gone', undefined, [randomBytes(1000)]);
  const index = await pushIndex(stores, 'team/gone', 'multi', [amd, arm]);
  const other = await pushImage(stores, 'team/a', 'v2', [randomBytes(500)]);
  assert.ok(await stores.repositories.deleteManifest('team/a', parseDigest(trashed.digest)));
  await stores.repositories.deleteRepository('team/gone');
  const trash = trashHolding([
    { repository: 'team/a', digest: trashed.digest },
    { repository: 'team/gone', digest: index.digest },
  ]);

  const result = await collectGarbage(stores.driver, stores.index, { graceMs: 0, trash });
  assert.equal(result.blobsDeleted, 0, 'nothing the trash holds is freed');
  assert.equal(result.layerLinksRemoved, 0, 'the deleted image keeps its layer links in its repository');
  assert.equal(result.trashManifestsKept, 2);
  for (const blob of [...trashed.blobs, ...amd.blobs, ...arm.blobs]) assert.ok(await stored(stores, blob.digest), blob.digest);
  for (const digest of [trashed.digest, index.digest, amd.digest, arm.digest]) assert.ok(await stored(stores, digest), digest);
  assert.notEqual(await stores.repositories.blobSize('team/a', parseDigest(trashed.blobs[1]?.digest ?? '')), undefined);
  await assertComplete(stores, 'team/a', other.bytes, 'team/a:v2');

  // Without the entries (expired and dropped), the same content is garbage.
  const freed = await collectGarbage(stores.driver, stores.index, { graceMs: 0, trash: trashHolding([], 2) });
  assert.equal(freed.trashEntriesExpired, 2);
  assert.equal(freed.blobsDeleted, trashed.blobs.length + 1 + amd.blobs.length + 1 + arm.blobs.length + 1 + 1);
  assert.ok(await stored(stores, other.digest), 'the image not deleted stays');
  await assertEveryTagComplete(stores);
});

testOnEachIndex('a trash root whose bytes are gone does not stop its repository\'s layer links from being judged', async (t, backend) => {
  const stores = await openStores(t, backend);
  const doomed = await pushImage(stores, 'team/a', 'v1', [randomBytes(2000)]);
  await pushImage(stores, 'team/a', 'v2', [randomBytes(300)]);
  assert.ok(await stores.repositories.deleteManifest('team/a', parseDigest(doomed.digest)));
  const result = await collectGarbage(stores.driver, stores.index, { graceMs: 0, trash: trashHolding([{ repository: 'team/a', digest: `sha256:${'0'.repeat(64)}` }]) });
  assert.equal(result.unreadableManifests, 0);
  assert.equal(result.layerLinksRemoved, doomed.blobs.length, 'the deleted image\'s links go as without the trash');
  await assertEveryTagComplete(stores);
});
