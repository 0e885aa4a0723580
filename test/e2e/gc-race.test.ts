import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import type { GarbageCollectionResponse } from '../../registry/admin/contract.js';
import { parseDigest } from '../../registry/core/digest.js';
import type { GarbageCollectionResult } from '../../registry/storage/garbage-collector.js';
import { pathFor } from '../../registry/storage/paths.js';
import { createAccessToken, signInAsAdmin } from '../support/berth-admin.js';
import { berthBin, startBerth, type BerthProcess } from '../support/berth-process.js';
import { jsonBytes, mediaTypes, sha256 } from '../support/oci-client.js';
import { basicHeader } from '../support/registry-auth.js';
import { makeTempDir } from '../support/temp-dir.js';

/**
 * Garbage collection racing pushes, the way issue 13 lost data: old unreferenced layers (a deleted image's, aged
 * past the default 1 h grace), and pushes into NEW repositories that upload those same layers again while the
 * collector sweeps. The push sees the blob exists, keeps it, links it and gets 201 for its manifest; the collector
 * must not delete the blob afterwards. Run against `berth serve` with its defaults (token auth on), through the
 * admin API's collector inside the server and through a `berth gc` child process on the same data directory.
 * An image is broken when its manifest PUT answered 201 but a pull of one of its blobs does not give the bytes.
 */

/** Old layers per iteration that pushes reuse, and as many that nothing reuses (the collector must free those). */
const reusedLayers = 64;
const garbageLayers = 16;
const layersPerImage = 8;
const pushers = 4;
const maxImagesPerPusher = 10;
const iterations = Number(process.env.GC_RACE_ITERATIONS ?? 10);
const twoHoursAgo = () => new Date(Date.now() - 2 * 60 * 60 * 1000);

interface Client {
  readonly url: string;
  readonly headers: Record<string, string>;
}

async function send(client: Client, method: string, path: string, body?: Buffer, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${client.url}${path}`, {
    method,
    headers: { ...client.headers, ...headers },
    body,
    redirect: 'manual',
    signal: AbortSignal.timeout(30_000),
  });
}

/** A monolithic blob push (`POST ?digest=`): for a blob the store already holds, the upload is the reuse. */
async function pushBlob(client: Client, repo: string, bytes: Buffer): Promise<string> {
  const digest = sha256(bytes);
  const response = await send(client, 'POST', `/v2/${repo}/blobs/uploads/?digest=${digest}`, bytes, { 'content-type': 'application/octet-stream' });
  const text = await response.text();
  assert.equal(response.status, 201, `blob push into ${repo}: ${response.status} ${text}`);
  return digest;
}

interface PushedImage {
  repo: string;
  manifest: Buffer;
  /** Config and layers by digest. */
  blobs: Map<string, Buffer>;
}

/** Pushes an image of `layers` plus a fresh config into `repo`; undefined when the manifest PUT was refused. */
async function pushImage(client: Client, repo: string, layers: Buffer[]): Promise<PushedImage | undefined> {
  const blobs = new Map<string, Buffer>();
  const config = jsonBytes({ architecture: 'amd64', os: 'linux', nonce: randomBytes(8).toString('hex') });
  const configDigest = await pushBlob(client, repo, config);
  blobs.set(configDigest, config);
  for (const layer of layers) blobs.set(await pushBlob(client, repo, layer), layer);
  const manifest = jsonBytes({
    schemaVersion: 2,
    mediaType: mediaTypes.ociManifest,
    config: { mediaType: mediaTypes.ociConfig, digest: configDigest, size: config.length },
    layers: layers.map((layer) => ({ mediaType: mediaTypes.ociLayer, digest: sha256(layer), size: layer.length })),
  });
  const response = await send(client, 'PUT', `/v2/${repo}/manifests/v1`, manifest, { 'content-type': mediaTypes.ociManifest });
  const text = await response.text();
  // A refusal is no loss (the client knows and pushes again); only a 201 is a promise to check.
  if (response.status !== 201) {
    assert.equal(response.status, 400, `manifest PUT ${repo}: ${response.status} ${text}`);
    return undefined;
  }
  return { repo, manifest, blobs };
}

/** Whether every blob of the image pulls back byte-exact (the manifest too, by tag). */
async function isComplete(client: Client, image: PushedImage): Promise<boolean> {
  const manifest = await send(client, 'GET', `/v2/${image.repo}/manifests/v1`, undefined, { accept: mediaTypes.ociManifest });
  const manifestBytes = Buffer.from(await manifest.arrayBuffer());
  if (manifest.status !== 200 || !manifestBytes.equals(image.manifest)) return false;
  for (const [digest, bytes] of image.blobs) {
    const response = await send(client, 'GET', `/v2/${image.repo}/blobs/${digest}`);
    const pulled = Buffer.from(await response.arrayBuffer());
    if (response.status !== 200 || !pulled.equals(bytes)) return false;
  }
  return true;
}

/**
 * Layers pushed into a repository without a manifest (what a deleted image leaves), then aged: their blob files and
 * their links look two hours old, so the collector, with its default grace, removes the links and then the blobs.
 */
async function seedOldLayers(client: Client, dataDir: string, repo: string): Promise<Buffer[]> {
  const layers = Array.from({ length: reusedLayers + garbageLayers }, () => randomBytes(1024 + Math.floor(Math.random() * 1024)));
  for (const layer of layers) await pushBlob(client, repo, layer);
  const old = twoHoursAgo();
  for (const layer of layers) {
    const digest = parseDigest(sha256(layer));
    await utimes(join(dataDir, pathFor({ kind: 'blobData', digest })), old, old);
    await utimes(join(dataDir, pathFor({ kind: 'layerLink', repository: repo, digest })), old, old);
  }
  return layers;
}

function pick(layers: readonly Buffer[], count: number): Buffer[] {
  const shuffled = [...layers].sort(() => Math.random() - 0.5);
  return shuffled.slice(0, count);
}

/** Runs one collection; resolves with how many blobs it deleted. */
type Collector = () => Promise<number>;

interface RaceTally {
  iterations: number;
  pushed: number;
  refused: number;
  broken: number;
  /** Blobs the collector deleted: at least the garbage layers, or the race tested nothing. */
  deleted: number;
}

/** Each iteration: fresh old layers, then the collector and `pushers` clients pushing new repositories until it ends. */
async function race(t: TestContext, client: Client, dataDir: string, label: string, collect: Collector): Promise<RaceTally> {
  const tally: RaceTally = { iterations: 0, pushed: 0, refused: 0, broken: 0, deleted: 0 };
  for (let iteration = 0; iteration < iterations; iteration++) {
    const seeded = await seedOldLayers(client, dataDir, `seed/${label}-${iteration}`);
    const layers = seeded.slice(0, reusedLayers);
    let collecting = true;
    const collector = collect().finally(() => {
      collecting = false;
    });
    const images: PushedImage[] = [];
    await Promise.all(
      Array.from({ length: pushers }, async (_, pusher) => {
        // At least one image each, then on for as long as the collector runs (bounded: the store, and with it each
        // collection, grows with every image).
        for (let n = 0; n === 0 || (collecting && n < maxImagesPerPusher); n++) {
          const image = await pushImage(client, `race/${label}-${iteration}-${pusher}-${n}`, pick(layers, layersPerImage));
          if (image) images.push(image);
          else tally.refused += 1;
        }
      }),
    );
    const deleted = await collector;
    assert.ok(deleted >= garbageLayers, `iteration ${iteration}: the collector deleted ${deleted} blobs, not even the ${garbageLayers} nothing reuses`);
    tally.deleted += deleted;
    for (const image of images) {
      if (!(await isComplete(client, image))) tally.broken += 1;
    }
    tally.iterations += 1;
    tally.pushed += images.length;
  }
  t.diagnostic(`${label}: ${tally.iterations} iterations, ${tally.pushed} images pushed (201) while collecting, ${tally.refused} refused, ${tally.broken} broken, ${tally.deleted} blobs collected`);
  return tally;
}

/** `berth gc` with its default grace; resolves with the blobs it deleted. */
function runBerthGc(dataDir: string): Promise<number> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [berthBin, 'gc', '--json', '--data', dataDir], { timeout: 60_000, env: { ...process.env, BERTH_DATA: '' } }, (error, stdout, stderr) => {
      if (error) reject(new Error(`berth gc failed: ${error.message}\n${stderr}`));
      else resolve((JSON.parse(stdout) as GarbageCollectionResult).blobsDeleted);
    });
  });
}

async function startDefaultBerth(t: TestContext): Promise<{ berth: BerthProcess; client: Client; cookie: string; dataDir: string }> {
  const dataDir = await makeTempDir(t, 'berth-gc-race-');
  // No --auth flag: token auth, what a user gets.
  const berth = await startBerth({ dataDir, auth: null, tlsListen: 'off' });
  t.after(() => berth.stop());
  const cookie = await signInAsAdmin(berth);
  const token = await createAccessToken(berth, cookie, 'gc-race', ['*:pull,push,delete']);
  const client = { url: berth.url, headers: { authorization: basicHeader('gc-race', token) } };
  const anonymous = await fetch(`${berth.url}/v2/`);
  await anonymous.arrayBuffer();
  assert.equal(anonymous.status, 401, 'the server runs with token auth');
  return { berth, client, cookie, dataDir };
}

test('GC in the server (admin API) racing pushes into new repositories that reuse old layers: no image that got 201 loses a blob', { timeout: 600_000 }, async (t) => {
  const { berth, client, cookie, dataDir } = await startDefaultBerth(t);
  const tally = await race(t, client, dataDir, 'admin', async () => {
    const response = await fetch(`${berth.url}/api/storage/gc`, {
      method: 'POST',
      headers: { cookie, 'x-berth-admin': '1', 'content-type': 'application/json' },
      body: JSON.stringify({ dryRun: false }),
    });
    const text = await response.text();
    assert.equal(response.status, 200, `POST /api/storage/gc: ${text}`);
    return (JSON.parse(text) as GarbageCollectionResponse).blobsDeleted;
  });
  assert.ok(tally.pushed >= iterations * pushers);
  assert.equal(tally.broken, 0, `${tally.broken} of ${tally.pushed} images pushed with 201 lost a blob`);
});

test('`berth gc` beside the running server racing pushes into new repositories that reuse old layers: no image that got 201 loses a blob', { timeout: 600_000 }, async (t) => {
  const { client, dataDir } = await startDefaultBerth(t);
  const tally = await race(t, client, dataDir, 'cli', () => runBerthGc(dataDir));
  assert.ok(tally.pushed >= iterations * pushers);
  assert.equal(tally.broken, 0, `${tally.broken} of ${tally.pushed} images pushed with 201 lost a blob`);
});
