import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdir, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { AuditResponse, GarbageCollectionResponse, StorageResponse } from '../../registry/admin/contract.js';
import { parseDigest } from '../../registry/core/digest.js';
import { berthBin } from '../support/berth-process.js';
import {
  jsonBytes,
  mediaTypes,
  pushBlob,
  pushManifest,
  request,
  sha256,
  uniqueRepo,
  type Descriptor,
  type PushedBlob,
} from '../support/oci-client.js';
import { startRegistry, type RunningRegistry } from '../support/registry-server.js';
import { assertAdminError, startAdminServer, type AdminServer } from './admin-fixture.js';

/**
 * Garbage collection end to end: images pushed and deleted over /v2, collection run through the library, the
 * `berth gc` command and the admin API, and the survivors pulled back byte-exact.
 *
 * A delete goes to the trash, which keeps its content until the entry expires: these registries keep deletes for
 * 0 days (the entry has expired by the next collection, which drops it and frees its content). What the trash keeps
 * with the default 30 days is test/e2e/trash-restore.test.ts's subject.
 */
const trashNothing = { trashDays: () => 0 };

interface TestImage {
  repo: string;
  config: PushedBlob;
  layers: PushedBlob[];
  bytes: Buffer;
  digest: string;
  descriptor: Descriptor;
}

async function pushImage(url: string, repo: string, tag: string | undefined, layers: Buffer[]): Promise<TestImage> {
  const config = await pushBlob(url, repo, jsonBytes({ architecture: 'amd64', os: 'linux', nonce: randomBytes(8).toString('hex') }));
  const pushed: PushedBlob[] = [];
  for (const layer of layers) pushed.push(await pushBlob(url, repo, layer));
  const bytes = jsonBytes({
    schemaVersion: 2,
    mediaType: mediaTypes.ociManifest,
    config: { mediaType: mediaTypes.ociConfig, digest: config.digest, size: config.size },
    layers: pushed.map((layer) => ({ mediaType: mediaTypes.ociLayer, digest: layer.digest, size: layer.size })),
  });
  const digest = sha256(bytes);
  await pushManifest(url, repo, tag ?? digest, bytes, mediaTypes.ociManifest);
  return { repo, config, layers: pushed, bytes, digest, descriptor: { mediaType: mediaTypes.ociManifest, digest, size: bytes.length } };
}

/** Two images sharing a layer, in two repositories; the first is deleted by digest. */
async function pushPairAndDeleteOne(url: string): Promise<{ doomed: TestImage; kept: TestImage; shared: Buffer; freedBytes: number }> {
  const shared = randomBytes(4096);
  const doomed = await pushImage(url, uniqueRepo('gc'), 'v1', [shared, randomBytes(10_000)]);
  const kept = await pushImage(url, uniqueRepo('gc'), 'v1', [shared, randomBytes(3000)]);
  const deleted = await request('DELETE', `${url}/v2/${doomed.repo}/manifests/${doomed.digest}`, { expected: 202 });
  await deleted.arrayBuffer();
  // What only the deleted image used: its manifest, its config and its own layer.
  const freedBytes = doomed.bytes.length + doomed.config.size + (doomed.layers[1]?.size ?? 0);
  return { doomed, kept, shared, freedBytes };
}

async function fetchBytes(url: string, accept?: string): Promise<{ status: number; bytes: Buffer }> {
  const response = await request('GET', url, accept ? { headers: { accept } } : {});
  return { status: response.status, bytes: Buffer.from(await response.arrayBuffer()) };
}

/** Pulls an image the way a client does and compares every byte with what was pushed. */
async function assertPullable(url: string, image: TestImage, reference = 'v1'): Promise<void> {
  const manifest = await fetchBytes(`${url}/v2/${image.repo}/manifests/${reference}`, mediaTypes.ociManifest);
  assert.equal(manifest.status, 200, `${image.repo}:${reference} manifest`);
  assert.ok(manifest.bytes.equals(image.bytes), 'manifest bytes are exact');
  for (const blob of [image.config, ...image.layers]) {
    const pulled = await fetchBytes(`${url}/v2/${image.repo}/blobs/${blob.digest}`);
    assert.equal(pulled.status, 200, `${image.repo} blob ${blob.digest}`);
    assert.ok(pulled.bytes.equals(blob.bytes), `blob ${blob.digest} bytes are exact`);
  }
}

async function blobStatus(url: string, repo: string, digest: string): Promise<number> {
  const response = await request('HEAD', `${url}/v2/${repo}/blobs/${digest}`);
  await response.arrayBuffer();
  return response.status;
}

/** Pretends `ms` have passed since everything under `dir` was written (the collector judges ages by mtime). */
async function ageFiles(dir: string, ms: number): Promise<void> {
  const past = new Date(Date.now() - ms);
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) await utimes(join(entry.parentPath, entry.name), past, past);
  }
}

interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

function berth(args: string[]): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(process.execPath, [berthBin, ...args], { timeout: 20_000, env: { ...process.env, BERTH_DATA: '' } }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

describe('garbage collection over a running registry', () => {
  let reg: RunningRegistry;
  before(async () => {
    reg = await startRegistry(undefined, { garbageCollection: false, ...trashNothing });
  });
  after(() => reg.close());

  it('frees exactly what a deleted image used; the shared layer and the other image stay pullable byte-exact', async () => {
    const { doomed, kept, shared, freedBytes } = await pushPairAndDeleteOne(reg.url);
    // Before collection a deleted image's blobs are still linked in its repository: no space was freed yet.
    assert.equal(await blobStatus(reg.url, doomed.repo, doomed.layers[1]?.digest ?? ''), 200);

    const dry = await reg.registry.collectGarbage({ dryRun: true, graceMs: 0 });
    assert.equal(dry.blobsDeleted, 3);
    assert.equal(dry.bytesFreed, freedBytes);
    assert.equal(dry.layerLinksRemoved, 3);
    assert.equal(await blobStatus(reg.url, doomed.repo, doomed.layers[1]?.digest ?? ''), 200, 'a dry run deletes nothing');

    const result = await reg.registry.collectGarbage({ graceMs: 0 });
    assert.equal(result.dryRun, false);
    assert.equal(result.blobsDeleted, 3);
    assert.equal(result.bytesFreed, freedBytes);
    assert.equal(result.layerLinksRemoved, 3);
    for (const digest of [doomed.digest, doomed.config.digest, doomed.layers[1]?.digest ?? '']) {
      assert.equal(await reg.registry.blobs.size(parseDigest(digest)), undefined, `${digest} is gone from disk`);
    }
    assert.equal(await blobStatus(reg.url, doomed.repo, sha256(shared)), 404, 'the shared layer is no longer visible where it was deleted');
    await assertPullable(reg.url, kept);
  });

  it('keeps an untagged manifest and an index whose child was deleted by digest', async () => {
    const repo = uniqueRepo('gc');
    const image = await pushImage(reg.url, repo, 'old', [randomBytes(2000)]);
    await (await request('DELETE', `${reg.url}/v2/${repo}/manifests/old`, { expected: 202 })).arrayBuffer();
    const amd = await pushImage(reg.url, repo, undefined, [randomBytes(1000)]);
    const arm = await pushImage(reg.url, repo, undefined, [randomBytes(1000)]);
    const index = jsonBytes({
      schemaVersion: 2,
      mediaType: mediaTypes.ociIndex,
      manifests: [
        { ...amd.descriptor, platform: { os: 'linux', architecture: 'amd64' } },
        { ...arm.descriptor, platform: { os: 'linux', architecture: 'arm64' } },
      ],
    });
    await pushManifest(reg.url, repo, 'multi', index, mediaTypes.ociIndex);
    await (await request('DELETE', `${reg.url}/v2/${repo}/manifests/${arm.digest}`, { expected: 202 })).arrayBuffer();

    await reg.registry.collectGarbage({ graceMs: 0 });
    await assertPullable(reg.url, image, image.digest);
    await assertPullable(reg.url, amd, amd.digest);
    const pulledIndex = await fetchBytes(`${reg.url}/v2/${repo}/manifests/multi`, mediaTypes.ociIndex);
    assert.ok(pulledIndex.bytes.equals(index));
    for (const digest of [arm.digest, arm.config.digest, ...arm.layers.map((layer) => layer.digest)]) {
      assert.notEqual(await reg.registry.blobs.size(parseDigest(digest)), undefined, `the index's child ${digest} is still stored`);
    }
  });

  it('spares a blob uploaded for a push in progress for the grace period', async () => {
    const repo = uniqueRepo('gc');
    const inProgress = await pushBlob(reg.url, repo, randomBytes(3000));
    const spared = await reg.registry.collectGarbage();
    assert.equal(spared.graceMs, 60 * 60 * 1000, 'the default grace is an hour');
    assert.ok(spared.youngSpared >= 1);
    assert.equal(await blobStatus(reg.url, repo, inProgress.digest), 200);
    const pulled = await fetchBytes(`${reg.url}/v2/${repo}/blobs/${inProgress.digest}`);
    assert.ok(pulled.bytes.equals(inProgress.bytes));

    const collected = await reg.registry.collectGarbage({ graceMs: 0 });
    assert.ok(collected.blobsDeleted >= 1);
    assert.equal(await blobStatus(reg.url, repo, inProgress.digest), 404);
    assert.equal(await reg.registry.blobs.size(parseDigest(inProgress.digest)), undefined);
  });
});

describe('berth gc', () => {
  let reg: RunningRegistry;
  before(async () => {
    reg = await startRegistry(undefined, { garbageCollection: false, ...trashNothing });
  });
  after(() => reg.close());

  it('reports in a dry run, then frees the space beside the running server (exit 0)', async () => {
    const { doomed, kept, freedBytes } = await pushPairAndDeleteOne(reg.url);

    const dry = await berth(['gc', '--dry-run', '--grace', '0', '--data', reg.dataDir]);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /^Dry run: would free \d+(\.\d)? KiB in 3 blobs \(3 unreferenced layer links to remove\)\./m);
    assert.match(dry.stdout, /Run without --dry-run/);
    assert.equal(await blobStatus(reg.url, doomed.repo, doomed.config.digest), 200);

    const json = await berth(['gc', '--grace', '0', '--json', '--data', reg.dataDir]);
    assert.equal(json.code, 0, json.stderr);
    const result = JSON.parse(json.stdout) as GarbageCollectionResponse;
    assert.equal(result.blobsDeleted, 3);
    assert.equal(result.bytesFreed, freedBytes);
    assert.equal(await blobStatus(reg.url, doomed.repo, doomed.config.digest), 404);
    await assertPullable(reg.url, kept);

    const again = await berth(['gc', '--grace', '0', '--data', reg.dataDir]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /^Freed 0 B in 0 blobs/m);
    assert.match(again.stdout, /Kept [\d.]+ KiB in 4 blobs, \d+ manifests? in \d+ repositories\./);
  });

  it('spares recent uploads by default and refuses a bad grace or data directory', async () => {
    const repo = uniqueRepo('gc');
    const blob = await pushBlob(reg.url, repo, randomBytes(100));
    const run = await berth(['gc', '--data', reg.dataDir]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /Spared \d+ unreferenced blobs? or links? younger than 1h/);
    assert.equal(await blobStatus(reg.url, repo, blob.digest), 200);

    const badGrace = await berth(['gc', '--grace', 'soon', '--data', reg.dataDir]);
    assert.equal(badGrace.code, 2);
    assert.match(badGrace.stderr, /--grace: invalid duration "soon"/);
    const noData = await berth(['gc', '--data', join(reg.rootDir, 'missing')]);
    assert.equal(noData.code, 1);
    assert.match(noData.stderr, /no Berth data directory/);
    const help = await berth(['--help']);
    assert.match(help.stdout, /^ {2}gc +free the disk space of deleted images/m);
  });
});

describe('POST /api/storage/gc', () => {
  let admin: AdminServer;
  before(async () => {
    admin = await startAdminServer();
    // The setting the GUI and `berth trash days gc 0` write: deletes in namespace gc are not kept.
    assert.equal((await admin.api('PUT', '/api/trash/days', { namespace: 'gc', days: 0 })).status, 200);
  });
  after(() => admin.close());

  it('reports in a dry run, frees after the grace period, updates the storage figures and audits the run', async () => {
    const { doomed, kept, freedBytes } = await pushPairAndDeleteOne(admin.url);

    assertAdminError(await admin.api('POST', '/api/storage/gc', undefined, { 'x-berth-admin': '0' }), 403, 'BERTH_ADMIN_CSRF');
    assertAdminError(await admin.api('POST', '/api/storage/gc', { dryRun: 'yes' }), 400, 'BERTH_VALIDATION');

    const fresh = await admin.api<GarbageCollectionResponse>('POST', '/api/storage/gc', { dryRun: false });
    assert.equal(fresh.status, 200);
    assert.equal(fresh.body.blobsDeleted, 0, 'everything was pushed less than an hour ago');
    assert.ok(fresh.body.youngSpared >= 3);

    await ageFiles(admin.dataDir, 2 * 60 * 60 * 1000);
    const before = (await admin.api<StorageResponse>('GET', '/api/storage')).body;
    const dry = await admin.api<GarbageCollectionResponse>('POST', '/api/storage/gc', { dryRun: true });
    assert.equal(dry.status, 200);
    assert.deepEqual([dry.body.dryRun, dry.body.blobsDeleted, dry.body.bytesFreed], [true, 3, freedBytes]);
    assert.equal(await blobStatus(admin.url, doomed.repo, doomed.config.digest), 200);

    const run = await admin.api<GarbageCollectionResponse>('POST', '/api/storage/gc', undefined);
    assert.equal(run.status, 200);
    assert.deepEqual([run.body.dryRun, run.body.blobsDeleted, run.body.bytesFreed], [false, 3, freedBytes]);
    assert.equal(await blobStatus(admin.url, doomed.repo, doomed.config.digest), 404);
    await assertPullable(admin.url, kept);

    const afterRun = (await admin.api<StorageResponse>('GET', '/api/storage')).body;
    assert.equal(afterRun.bytes, before.bytes - freedBytes, 'the storage figures are fresh, not cached');
    assert.equal(afterRun.blobs, before.blobs - 3);

    const audit = await admin.api<AuditResponse>('GET', '/api/audit?action=storage.gc');
    // The dry run is no change; the first run freed nothing but dropped the expired trash entry.
    assert.deepEqual(audit.body.events.map((event) => event.detail), [
      { blobsDeleted: 0, bytesFreed: 0, layerLinksRemoved: 0, graceMs: 60 * 60 * 1000, trashEntriesExpired: 1 },
      { blobsDeleted: 3, bytesFreed: freedBytes, layerLinksRemoved: 3, graceMs: 60 * 60 * 1000, trashEntriesExpired: 0 },
    ]);
  });
  it('reclaims now without the grace period, refuses while a push has sent layers but not its image, and audits it', async () => {
    const { doomed, kept, freedBytes } = await pushPairAndDeleteOne(admin.url);
    // Pushed a few seconds ago: far inside the hour of grace.
    await ageFiles(admin.dataDir, 5_000);
    const normal = await admin.api<GarbageCollectionResponse>('POST', '/api/storage/gc', { dryRun: true });
    assert.equal(normal.body.blobsDeleted, 0, 'the periodic rules wait out the grace period');
    const plan = await admin.api<GarbageCollectionResponse>('POST', '/api/storage/gc', { dryRun: true, skipGracePeriod: true });
    assert.equal(plan.status, 200);
    assert.deepEqual([plan.body.dryRun, plan.body.blobsDeleted, plan.body.bytesFreed], [true, 3, freedBytes]);

    // A push under way: its layer is uploaded, its manifest not yet sent.
    const pending = uniqueRepo('gc-pending');
    const layer = await pushBlob(admin.url, pending, randomBytes(2048));
    const refused = assertAdminError(await admin.api('POST', '/api/storage/gc', { skipGracePeriod: true }), 409, 'BERTH_GC_PUSH_IN_PROGRESS');
    assert.match(refused.error.message, new RegExp(`a push to ${pending} is still going on`));
    assert.equal(await blobStatus(admin.url, doomed.repo, doomed.config.digest), 200, 'nothing was deleted');
    const config = await pushBlob(admin.url, pending, jsonBytes({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [layer.digest] } }));
    const manifest = jsonBytes({
      schemaVersion: 2,
      mediaType: mediaTypes.ociManifest,
      config: { mediaType: mediaTypes.ociConfig, digest: config.digest, size: config.size },
      layers: [{ mediaType: mediaTypes.ociLayer, digest: layer.digest, size: layer.size }],
    });
    await pushManifest(admin.url, pending, 'v1', manifest, mediaTypes.ociManifest);

    const run = await admin.api<GarbageCollectionResponse>('POST', '/api/storage/gc', { skipGracePeriod: true });
    assert.equal(run.status, 200);
    assert.deepEqual([run.body.blobsDeleted, run.body.bytesFreed], [3, freedBytes]);
    assert.equal(await blobStatus(admin.url, doomed.repo, doomed.config.digest), 404);
    await assertPullable(admin.url, kept);
    assert.equal(await blobStatus(admin.url, pending, layer.digest), 200, 'the push that finished keeps its layers');
    const audit = await admin.api<AuditResponse>('GET', '/api/audit?action=storage.gc');
    assert.deepEqual(audit.body.events.at(-1)?.detail, { blobsDeleted: 3, bytesFreed: freedBytes, layerLinksRemoved: 3, graceMs: 1, trashEntriesExpired: 1, skipGracePeriod: true });
  });
});
