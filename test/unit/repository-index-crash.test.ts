import assert from 'node:assert/strict';
import { digestOf, parseDigest } from '../../registry/core/digest.js';
import { createBlobStore } from '../../registry/storage/blob-store.js';
import type { StorageDriver } from '../../registry/storage/driver.js';
import { createFilesystemDriver } from '../../registry/storage/filesystem-driver.js';
import { buildRepositoryIndex } from '../../registry/storage/repository-index-builder.js';
import type { RepositoryIndex } from '../../registry/storage/repository-index.js';
import { createRepositoryStore, type RepositoryStore } from '../../registry/storage/repository-store.js';
import { testOnEachIndex, type IndexBackendUnderTest } from '../support/index-backends.js';
import { makeTempDir, type AfterHook } from '../support/temp-dir.js';

/**
 * A kill -9 at each step of a write, simulated deterministically: the step throws and nothing after it runs (the
 * real kill -9 under concurrent pushes is test/e2e/crash-consistency.test.ts). Afterwards a fresh process's view of
 * the index must never list a tag whose files are not there, must keep every link a write may have made (what
 * collection relies on), and the verify must bring it back to what the files say. On every index backend.
 */

const killed = () => new Error('killed');

/** A driver that dies when it is about to write or delete a path matching `at`. */
function dyingDriver(real: StorageDriver, at: RegExp): StorageDriver {
  return {
    ...real,
    async putContent(path, content) {
      if (at.test(path)) throw killed();
      return real.putContent(path, content);
    },
    async delete(path) {
      if (at.test(path)) throw killed();
      return real.delete(path);
    },
  };
}

/** An index that dies on a call of method `at` (the process died right after the file operation before it). */
function dyingIndex(real: RepositoryIndex, at: keyof RepositoryIndex): RepositoryIndex {
  return new Proxy(real, {
    get(target, property, receiver) {
      if (property === at) return async () => Promise.reject(killed());
      return Reflect.get(target, property, receiver) as unknown;
    },
  });
}

interface Setup {
  dataDir: string;
  driver: StorageDriver;
  /** Opens an index instance over this test's index store. */
  openIndex(): Promise<RepositoryIndex>;
  /** The stores a fresh process opens after the crash. */
  reopen(): Promise<{ store: RepositoryStore; index: RepositoryIndex }>;
}

async function setup(t: AfterHook, backend: IndexBackendUnderTest): Promise<Setup> {
  const dataDir = await makeTempDir(t, 'berth-index-crash-');
  const driver = createFilesystemDriver(dataDir);
  const openIndex = await backend.fresh(t);
  return {
    dataDir,
    driver,
    openIndex,
    async reopen() {
      const index = await openIndex();
      return { store: createRepositoryStore(driver, createBlobStore(driver), index), index };
    },
  };
}

const config = Buffer.from('{"architecture":"amd64","os":"linux"}');
const configDigest = digestOf(config);

async function storesOver(t: AfterHook, s: Setup, driver: StorageDriver, index?: (real: RepositoryIndex) => RepositoryIndex) {
  const real = await s.openIndex();
  await real.markReady();
  const blobs = createBlobStore(driver);
  await blobs.write(parseDigest(configDigest), config);
  const wrapped = index ? index(real) : real;
  return createRepositoryStore(driver, blobs, wrapped);
}

function manifest(): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
      layers: [],
    }),
  );
}

async function push(store: RepositoryStore, tag: string): Promise<string> {
  await store.linkBlob('team/app', parseDigest(configDigest));
  return (await store.putManifest('team/app', tag, manifest(), 'application/vnd.oci.image.manifest.v1+json')).digest;
}

testOnEachIndex('killed before the tag link is written: no tag listed; the revision is kept for collection', async (t, backend) => {
  const s = await setup(t, backend);
  const store = await storesOver(t, s, dyingDriver(s.driver, /_manifests\/tags\//));
  await assert.rejects(push(store, 'v1'), /killed/);
  const after = await s.reopen();
  assert.deepEqual(await after.store.listTags('team/app'), []);
  assert.equal(await after.index.isLinkedAnywhere(digestOf(manifest())), true);
  await buildRepositoryIndex(s.driver, createBlobStore(s.driver), after.index);
  assert.deepEqual(await after.store.listTags('team/app'), []);
});

testOnEachIndex('killed after the tag link was written, before the index heard of it: not listed until the verify adds it', async (t, backend) => {
  const s = await setup(t, backend);
  const store = await storesOver(t, s, s.driver, (real) => dyingIndex(real, 'putTag'));
  await assert.rejects(push(store, 'v1'), /killed/);
  const after = await s.reopen();
  assert.deepEqual(await after.store.listTags('team/app'), []);
  await buildRepositoryIndex(s.driver, createBlobStore(s.driver), after.index);
  assert.deepEqual(await after.store.listTags('team/app'), ['v1']);
});

testOnEachIndex('killed while the revision link is written: its intent keeps the manifest for collection, also through a verify (a write may be in flight)', async (t, backend) => {
  const s = await setup(t, backend);
  const store = await storesOver(t, s, dyingDriver(s.driver, /_manifests\/revisions\//));
  await assert.rejects(push(store, 'v1'), /killed/);
  const after = await s.reopen();
  assert.deepEqual(await after.store.listTags('team/app'), []);
  // The intent survives a verify while it may still be a write in flight...
  await buildRepositoryIndex(s.driver, createBlobStore(s.driver), after.index);
  assert.equal(await after.index.isLinkedAnywhere(digestOf(manifest())), true);
});

testOnEachIndex('killed while a tag is deleted: the index stops listing it first; the file, still there, is listed again after the verify', async (t, backend) => {
  const s = await setup(t, backend);
  const store = await storesOver(t, s, dyingDriver(s.driver, /_manifests\/tags\/gone$/));
  await push(await storesOver(t, s, s.driver), 'gone');
  await assert.rejects(store.deleteTag('team/app', 'gone'), /killed/);
  const after = await s.reopen();
  assert.deepEqual(await after.store.listTags('team/app'), []);
  await buildRepositoryIndex(s.driver, createBlobStore(s.driver), after.index);
  assert.deepEqual(await after.store.listTags('team/app'), ['gone']);
});

testOnEachIndex('killed after a layer link was deleted, before the index heard of it: collection still keeps the blob until the verify', async (t, backend) => {
  const s = await setup(t, backend);
  await push(await storesOver(t, s, s.driver), 'v1');
  const store = await storesOver(t, s, s.driver, (real) => dyingIndex(real, 'removeLink'));
  await assert.rejects(store.unlinkBlob('team/app', parseDigest(configDigest)), /killed/);
  const after = await s.reopen();
  assert.equal(await after.index.isLinkedAnywhere(configDigest), true);
  await buildRepositoryIndex(s.driver, createBlobStore(s.driver), after.index);
  assert.equal(await after.index.isLinkedAnywhere(configDigest), false);
});

testOnEachIndex('a manifest deleted by digest takes the tags the files hold, also one the index missed in a crash', async (t, backend) => {
  const s = await setup(t, backend);
  const store = await storesOver(t, s, s.driver, (real) => dyingIndex(real, 'putTag'));
  await assert.rejects(push(store, 'v1'), /killed/);
  const after = await s.reopen();
  assert.equal(await after.store.deleteManifest('team/app', parseDigest(digestOf(manifest()))), true);
  await buildRepositoryIndex(s.driver, createBlobStore(s.driver), after.index);
  assert.deepEqual(await after.store.listTags('team/app'), [], 'no tag left pointing at the deleted manifest');
});
