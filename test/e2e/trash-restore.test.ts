import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { parseDigest } from '../../registry/core/digest.js';
import { TrashError } from '../../registry/lifecycle/trash-errors.js';
import { openPostgresIndexStores } from '../../registry/storage/postgres-index-stores.js';
import { createS3Driver, type S3StorageDriver } from '../../registry/storage/s3-driver.js';
import { assertOciError, makeArtifact, makeImage, mediaTypes, request, type Descriptor } from '../support/oci-client.js';
import { blobPath, createImageLayout, type ImageLayout } from '../support/oci-layout.js';
import { createIsolatedPodman } from '../support/podman.js';
import { startRegistry, type RunningRegistry, type StartOptions } from '../support/registry-server.js';
import { postgresSkipReason, requirePostgres, startPostgres, type PostgresServer } from '../support/services/postgres.js';
import { radosgwSkipReason, requireRadosgw, startRadosgw, type RadosgwServer } from '../support/services/radosgw.js';
import { makeTempDir } from '../support/temp-dir.js';
import { requireTools, toolSkipReason } from '../support/tools.js';
import { radosgwDriverOptions } from '../storage/s3-backend.js';
import { sha256File } from './data-dir-check.js';
import { dockerRef, skopeoCopy, skopeoDelete, skopeoInspectRaw } from './skopeo.js';

/**
 * The trash end to end, the same tests on both backends: the desktop default (filesystem, SQLite index and trash)
 * and scale-out (S3 on radosgw, the index and the trash in PostgreSQL). A client's DELETE is what the spec says (the
 * manifest is gone for every client), garbage collection keeps what the trash holds, and a restore brings back the
 * tag and every referrer, which real clients (skopeo, podman) then pull byte-exact.
 */

interface Backend {
  readonly name: string;
  readonly skip: string | undefined;
  /** Options for a fresh registry on this backend (its own bucket prefix or database). */
  options(): Promise<StartOptions>;
}

let radosgw: RadosgwServer | undefined;
let postgres: PostgresServer | undefined;
const drivers: S3StorageDriver[] = [];
const scaleOutSkip = radosgwSkipReason() ?? postgresSkipReason();

const backends: Backend[] = [
  { name: 'filesystem+sqlite', skip: undefined, options: async () => ({}) },
  {
    name: 's3+postgres',
    skip: scaleOutSkip,
    async options() {
      requireRadosgw();
      requirePostgres();
      radosgw ??= await startRadosgw();
      postgres ??= await startPostgres();
      const database = await postgres.createDatabase();
      const driver = await createS3Driver(radosgwDriverOptions(radosgw, radosgw.bucket, { prefix: `trash-${drivers.length}-${Date.now()}` }));
      drivers.push(driver);
      const stores = await openPostgresIndexStores({ url: database.url, password: database.connection.password }, { migrate: true });
      return { driver, stores };
    },
  },
];

after(async () => {
  for (const driver of drivers) driver.close();
  await radosgw?.stop();
  await postgres?.stop();
});

async function registryOn(t: TestContext, backend: Backend): Promise<RunningRegistry> {
  return startRegistry(t, { garbageCollection: false, ...(await backend.options()) });
}

/** Every blob of the layout, pulled by skopeo into a dir, compared by sha256 with what was pushed. */
async function assertPulledByteExact(t: TestContext, ref: string, image: ImageLayout): Promise<void> {
  const pulled = join(await makeTempDir(t), 'pulled');
  await skopeoCopy(ref, `dir:${pulled}`);
  assert.deepEqual(await readFile(join(pulled, 'manifest.json')), image.manifestBytes, 'manifest bytes');
  for (const blob of [image.config, ...image.layers]) {
    assert.equal(await sha256File(join(pulled, blob.digest.replace('sha256:', ''))), await sha256File(blobPath(image.dir, blob.digest)), blob.digest);
  }
}

async function referrerDigests(url: string, repo: string, digest: string): Promise<string[]> {
  const response = await request('GET', `${url}/v2/${repo}/referrers/${digest}`);
  assert.equal(response.status, 200);
  return ((await response.json()) as { manifests: Descriptor[] }).manifests.map((descriptor) => descriptor.digest);
}

for (const backend of backends) {
  describe(`trash and restore [${backend.name}]`, { skip: backend.skip, timeout: 10 * 60_000 }, () => {
    before(() => {
      if (backend.skip === undefined && backend.name !== 'filesystem+sqlite') {
        requireRadosgw();
        requirePostgres();
      }
    });

    test('a deleted image is gone for clients, kept by gc, restored with its tag and referrer, and pulled byte-exact by skopeo and podman', { skip: toolSkipReason('skopeo', 'podman'), timeout: 300_000 }, async (t) => {
      requireTools('skopeo', 'podman');
      const registry = await registryOn(t, backend);
      const host = new URL(registry.url).host;
      const image = await createImageLayout(join(await makeTempDir(t), 'layout'), { tag: 'v1', layers: [{ bytes: 300 * 1024, files: 5 }, { bytes: 200 * 1024 }] });
      const ref = dockerRef(host, 'team/app', 'v1');
      await skopeoCopy(image.ref, ref, ['--preserve-digests']);
      const subject: Descriptor = { mediaType: mediaTypes.ociManifest, digest: image.manifestDigest, size: image.manifestBytes.length };
      const signature = await makeArtifact(registry.url, 'team/app', { artifactType: 'application/vnd.example.signature', subject });
      assert.deepEqual(await referrerDigests(registry.url, 'team/app', image.manifestDigest), [signature.digest]);

      // skopeo delete resolves the tag and deletes the manifest by digest: OCI DELETE semantics, gone for everyone.
      await skopeoDelete(ref);
      await assertOciError(await request('GET', `${registry.url}/v2/team/app/manifests/v1`), 404, 'MANIFEST_UNKNOWN');
      await assertOciError(await request('GET', `${registry.url}/v2/team/app/manifests/${image.manifestDigest}`), 404, 'MANIFEST_UNKNOWN');
      await assertOciError(await request('GET', `${registry.url}/v2/team/app/manifests/${signature.digest}`), 404, 'MANIFEST_UNKNOWN');
      assert.deepEqual(await referrerDigests(registry.url, 'team/app', image.manifestDigest), []);

      const [entry, ...others] = await registry.registry.trash.list();
      assert.ok(entry);
      assert.equal(others.length, 0);
      assert.deepEqual(entry.deleted, { kind: 'manifest', digest: image.manifestDigest });
      assert.deepEqual(entry.manifests.map((manifest) => [manifest.digest, manifest.tags, manifest.subject]), [
        [image.manifestDigest, ['v1'], undefined],
        [signature.digest, [], image.manifestDigest],
      ]);
      assert.equal(entry.deletedBy, 'anonymous');
      // The default: 30 days.
      assert.equal(Date.parse(entry.expiresAt) - Date.parse(entry.deletedAt), 30 * 86_400_000);

      // Collection with no grace at all keeps every byte the entry needs.
      const gc = await registry.registry.collectGarbage({ graceMs: 0 });
      assert.equal(gc.trashManifestsKept, 2);
      assert.equal(gc.blobsDeleted, 0, 'nothing of the trashed image was freed');
      for (const blob of [image.config, ...image.layers]) assert.notEqual(await registry.registry.blobs.size(parseDigest(blob.digest)), undefined, blob.digest);

      const restored = await registry.registry.trash.restore(entry.id);
      assert.deepEqual(restored.tags, ['v1']);
      assert.equal(restored.manifestsRestored, 2);
      assert.deepEqual(await registry.registry.trash.list(), [], 'a restored entry leaves the trash');
      assert.deepEqual(await skopeoInspectRaw(ref), image.manifestBytes);
      assert.deepEqual(await referrerDigests(registry.url, 'team/app', image.manifestDigest), [signature.digest], 'the referrer is back');
      await assertPulledByteExact(t, ref, image);

      // podman, from an empty store: it verifies every blob's digest as it pulls.
      const podman = await createIsolatedPodman(t);
      await podman.runOk(['pull', '--tls-verify=false', `${host}/team/app:v1`]);
      const [local] = JSON.parse((await podman.runOk(['image', 'inspect', `${host}/team/app:v1`])).stdout) as Array<{ Id: string; Digest: string }>;
      assert.equal(local?.Digest, image.manifestDigest);
      assert.equal(`sha256:${local?.Id}`, image.config.digest);

      // And what was restored is an ordinary image again: the next collection keeps it without the trash.
      const after = await registry.registry.collectGarbage({ graceMs: 0 });
      assert.equal(after.trashManifestsKept, 0);
      await assertPulledByteExact(t, ref, image);
    });

    test('a deleted tag comes back; a tag that moved meanwhile is refused, restored as another tag, or forced back', async (t) => {
      const registry = await registryOn(t, backend);
      const { url } = registry;
      const first = await makeImage(url, 'team/web', { tag: 'stable', layers: 2 });
      const tagEntry = await registry.registry.trash.moveTag('team/web', 'stable', { actor: 'ci' });
      assert.ok(tagEntry);
      assert.deepEqual(tagEntry.deleted, { kind: 'tag', tag: 'stable' });
      await assertOciError(await request('GET', `${url}/v2/team/web/manifests/stable`), 404, 'MANIFEST_UNKNOWN');
      // Deleting a tag leaves the manifest pullable by digest, as the spec says.
      assert.equal((await request('GET', `${url}/v2/team/web/manifests/${first.digest}`)).status, 200);

      // Someone pushes another image to the same tag meanwhile.
      const second = await makeImage(url, 'team/web', { tag: 'stable' });
      await assert.rejects(registry.registry.trash.restore(tagEntry.id), (error: unknown) => error instanceof TrashError && error.code === 'BERTH_TRASH_TAG_TAKEN' && error.status === 409);
      const stillSecond = await request('GET', `${url}/v2/team/web/manifests/stable`, { headers: { accept: mediaTypes.ociManifest } });
      assert.equal(stillSecond.headers.get('docker-content-digest'), second.digest, 'a refused restore changed nothing');

      const asOther = await registry.registry.trash.restore(tagEntry.id, { as: 'stable-before' });
      assert.deepEqual(asOther.tags, ['stable-before']);
      const pulled = await request('GET', `${url}/v2/team/web/manifests/stable-before`, { headers: { accept: mediaTypes.ociManifest } });
      assert.ok(Buffer.from(await pulled.arrayBuffer()).equals(first.bytes));

      // Deleted by digest with both tags on it now, then forced back over the moved tag.
      await makeImage(url, 'team/web', { tag: 'other' });
      const putStable = await request('PUT', `${url}/v2/team/web/manifests/stable`, { body: first.bytes, headers: { 'content-type': mediaTypes.ociManifest } });
      assert.equal(putStable.status, 201);
      const manifestEntry = await registry.registry.trash.moveManifest('team/web', first.digest, { actor: 'ci' });
      assert.deepEqual(manifestEntry?.manifests[0]?.tags, ['stable', 'stable-before']);
      await makeImage(url, 'team/web', { tag: 'stable' });
      await assert.rejects(registry.registry.trash.restore(manifestEntry?.id ?? ''), /stable now names another manifest/);
      const forced = await registry.registry.trash.restore(manifestEntry?.id ?? '', { force: true });
      assert.deepEqual(forced.tags, ['stable', 'stable-before']);
      for (const tag of ['stable', 'stable-before']) {
        const response = await request('GET', `${url}/v2/team/web/manifests/${tag}`, { headers: { accept: mediaTypes.ociManifest } });
        assert.ok(Buffer.from(await response.arrayBuffer()).equals(first.bytes), tag);
      }
      for (const layer of first.layers) {
        const blob = await request('GET', `${url}/v2/team/web/blobs/${layer.digest}`);
        assert.ok(Buffer.from(await blob.arrayBuffer()).equals(layer.bytes), layer.digest);
      }
    });

    test('a deleted repository comes back whole; an expired entry is freed by gc and can no longer be restored', async (t) => {
      const registry = await registryOn(t, backend);
      const { url } = registry;
      const one = await makeImage(url, 'team/db', { tag: '1' });
      const two = await makeImage(url, 'team/db', { tag: '2', layers: 2 });
      const moved = await registry.registry.trash.moveRepository('team/db', { actor: 'admin' });
      assert.deepEqual([moved?.tags, moved?.manifests], [2, 2]);
      assert.deepEqual(await registry.registry.repositories.listRepositories(), []);
      await assertOciError(await request('GET', `${url}/v2/team/db/tags/list`), 404, 'NAME_UNKNOWN');
      await registry.registry.collectGarbage({ graceMs: 0 });
      const restored = await registry.registry.trash.restore(moved?.entry.id ?? '');
      assert.deepEqual(restored.tags.sort(), ['1', '2']);
      for (const [tag, image] of [['1', one], ['2', two]] as const) {
        const response = await request('GET', `${url}/v2/team/db/manifests/${tag}`, { headers: { accept: mediaTypes.ociManifest } });
        assert.ok(Buffer.from(await response.arrayBuffer()).equals(image.bytes), tag);
        for (const layer of image.layers) assert.equal((await request('HEAD', `${url}/v2/team/db/blobs/${layer.digest}`)).status, 200);
      }

      // Expiry: a collection 31 days from now drops the entry and frees what only it kept.
      const entry = await registry.registry.trash.moveManifest('team/db', two.digest, { actor: 'admin' });
      assert.ok(entry);
      const future = new Date(Date.now() + 31 * 86_400_000);
      const dry = await registry.registry.collectGarbage({ graceMs: 0, now: future, dryRun: true });
      assert.equal(dry.trashEntriesExpired, 1);
      assert.equal((await registry.registry.trash.list()).length, 1, 'a dry run drops nothing');
      const announced: string[] = [];
      registry.registry.events.on('trash.expired', (event) => announced.push(...event.entries.map((expired) => expired.id)));
      const freed = await registry.registry.collectGarbage({ graceMs: 0, now: future });
      assert.equal(freed.trashEntriesExpired, 1);
      assert.deepEqual(announced, [entry.id], 'announced for the audit trail');
      assert.ok(freed.blobsDeleted >= 4, `the manifest, config and two layers of team/db:2 are freed (${freed.blobsDeleted})`);
      for (const layer of two.layers) assert.equal(await registry.registry.blobs.size(parseDigest(layer.digest)), undefined);
      await assert.rejects(registry.registry.trash.restore(entry.id), (error: unknown) => error instanceof TrashError && error.code === 'BERTH_TRASH_ENTRY_NOT_FOUND');
      // The image not deleted is untouched.
      const kept = await request('GET', `${url}/v2/team/db/manifests/1`, { headers: { accept: mediaTypes.ociManifest } });
      assert.ok(Buffer.from(await kept.arrayBuffer()).equals(one.bytes));
    });
  });
}
