import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseDigest } from '../../registry/core/digest.js';
import { pathExists } from '../../registry/storage/driver.js';
import { pathFor } from '../../registry/storage/paths.js';
import { createS3Driver } from '../../registry/storage/s3-driver.js';
import { radosgwDriverOptions } from '../storage/s3-backend.js';
import { berthBin, startBerth, type BerthProcess } from '../support/berth-process.js';
import { patchChunk, request, sha256, startUpload } from '../support/oci-client.js';
import { blobPath, createImageLayout } from '../support/oci-layout.js';
import { postgresSkipReason, requirePostgres, startPostgres, type PostgresServer } from '../support/services/postgres.js';
import { radosgwSkipReason, requireRadosgw, startRadosgw, type RadosgwServer } from '../support/services/radosgw.js';
import { makeTempDir } from '../support/temp-dir.js';
import { requireTools, run, toolSkipReason, type RunResult } from '../support/tools.js';
import { sha256File } from './data-dir-check.js';
import { dockerRef, skopeoCopy, skopeoCopyResult, skopeoDelete, skopeoInspectRaw, skopeoListTags } from './skopeo.js';

/**
 * Two `berth serve` nodes (each its own data directory) over one radosgw bucket (`--storage s3://...`) and one
 * PostgreSQL database (`--metadata postgres://...`), the way issue 10's team registry runs: what is pushed through
 * one node is pulled, listed and deleted through the other; `berth gc` against the shared backends keeps what is
 * referenced; a chunked upload may finish on another node; a node with other storage is refused at start.
 */
const MiB = 1024 * 1024;

describe('two berth serve nodes on S3 storage and PostgreSQL metadata', { skip: postgresSkipReason() ?? radosgwSkipReason() ?? toolSkipReason('skopeo'), timeout: 10 * 60_000 }, () => {
  let pg: PostgresServer;
  let s3: RadosgwServer;
  before(async () => {
    requirePostgres();
    requireRadosgw();
    requireTools('skopeo');
    [pg, s3] = await Promise.all([startPostgres(), startRadosgw()]);
  });
  after(async () => {
    await Promise.all([pg?.stop(), s3?.stop()]);
  });

  test('push on A, pull, list and delete on B, gc keeps what is referenced, a chunked push finishes on the other node', async (t) => {
    const db = await pg.createDatabase();
    const work = await makeTempDir(t);
    const storage = `s3://${s3.bucket}?endpoint=${s3.endpoint}&region=${s3.region}&prefix=team/`;
    // The operator's master key (a node on a shared database needs one to open the keys the nodes share).
    const masterKeyFile = join(work, 'master.key');
    await writeFile(masterKeyFile, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
    // Everything through the environment, as a service manager hands it over: nothing secret on a command line.
    const env = {
      BERTH_MASTER_KEY_FILE: masterKeyFile,
      BERTH_STORAGE: storage,
      BERTH_METADATA: db.url,
      PGPASSWORD: db.connection.password,
      AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
    };
    const cli = (args: readonly string[], extra: Record<string, string | undefined> = {}): Promise<RunResult> =>
      run(process.execPath, [berthBin, ...args], { env: { ...env, ...extra }, timeoutMs: 60_000 });
    const dataA = join(work, 'node-a');
    const dataB = join(work, 'node-b');
    const nodes: BerthProcess[] = [];
    t.after(() => Promise.all(nodes.map((node) => node.stop())));
    // Both start at once on a fresh database and bucket: they migrate and bind under their locks, and agree.
    const started = await Promise.all([dataA, dataB].map((dataDir) => startBerth({ dataDir, env, startTimeoutMs: 60_000 })));
    nodes.push(...started);
    const [nodeA, nodeB] = started as [BerthProcess, BerthProcess];
    assert.equal(nodeA.ready.storage, storage, 'the ready line names the storage');
    const hostA = new URL(nodeA.url).host;
    const hostB = new URL(nodeB.url).host;

    const image = await createImageLayout(join(work, 'app'), {
      tag: 'v1',
      // One layer over a 16 MiB multipart part, one small: both paths of the S3 writer.
      layers: [{ bytes: 300 * 1024, files: 10 }, { bytes: 20 * MiB, compress: false }],
    });
    const doomed = await createImageLayout(join(work, 'doomed'), { tag: 'old', layers: [{ bytes: 200 * 1024, files: 5, compress: false }] });
    await skopeoCopy(image.ref, dockerRef(hostA, 'team/app', 'v1'), ['--preserve-digests']);
    await skopeoCopy(doomed.ref, dockerRef(hostA, 'team/app', 'old'), ['--preserve-digests']);

    // Node B serves it byte-exact: manifest, config and every layer.
    assert.deepEqual(await skopeoInspectRaw(dockerRef(hostB, 'team/app', 'v1')), image.manifestBytes);
    const pulled = join(work, 'pulled');
    await skopeoCopy(dockerRef(hostB, 'team/app', 'v1'), `dir:${pulled}`);
    assert.deepEqual(await readFile(join(pulled, 'manifest.json')), image.manifestBytes);
    for (const blob of [image.config, ...image.layers]) {
      assert.equal(await sha256File(join(pulled, blob.digest.replace('sha256:', ''))), await sha256File(blobPath(image.dir, blob.digest)), blob.digest);
    }
    assert.deepEqual((await skopeoListTags(hostB, 'team/app')).sort(), ['old', 'v1']);
    // No image content in either data directory: it is all in the bucket.
    for (const dataDir of [dataA, dataB]) {
      assert.equal(existsSync(join(dataDir, 'blobs')), false, `no blobs in ${dataDir}`);
      assert.equal(existsSync(join(dataDir, 'repositories')), false, `no repositories in ${dataDir}`);
    }

    // Deleted through B, gone on A (by digest and from the tag list). A's manifest cache keeps an entry for at
    // most its TTL (1 s, storage/manifest-cache.ts) after another node's change: the 404 must come within that.
    await skopeoDelete(dockerRef(hostB, 'team/app', doomed.manifestDigest));
    const deletedAt = Date.now();
    let goneStatus = 0;
    while (Date.now() - deletedAt < 2000) {
      const gone = await request('GET', `${nodeA.url}/v2/team/app/manifests/${doomed.manifestDigest}`, {
        headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
      });
      await gone.arrayBuffer();
      goneStatus = gone.status;
      if (goneStatus === 404) break;
      await sleep(50);
    }
    assert.equal(goneStatus, 404, 'node A still serves the manifest deleted through node B 2 s later');
    assert.deepEqual(await skopeoListTags(hostA, 'team/app'), ['v1']);

    // The delete went to the trash in the shared database: node A's CLI sees node B's entry, and gc keeps its
    // blobs until it is emptied (or expires).
    const trashed = await cli(['trash', 'list', '--json', '--data', dataA]);
    assert.equal(trashed.code, 0, trashed.stderr);
    assert.deepEqual((JSON.parse(trashed.stdout) as Array<{ deleted: unknown }>).map((entry) => entry.deleted), [{ kind: 'manifest', digest: doomed.manifestDigest }]);
    const kept = await cli(['gc', '--data', dataA, '--grace', '0s', '--json']);
    assert.equal(kept.code, 0, kept.stderr);
    assert.deepEqual((({ blobsDeleted, trashManifestsKept }) => ({ blobsDeleted, trashManifestsKept }))(JSON.parse(kept.stdout) as { blobsDeleted: number; trashManifestsKept: number }), { blobsDeleted: 0, trashManifestsKept: 1 });
    const emptied = await cli(['trash', 'empty', '--data', dataA]);
    assert.equal(emptied.code, 0, emptied.stderr);

    // berth gc on the shared backends (grace 0: nothing is pushing) frees the deleted image's own blobs only.
    const gc = await cli(['gc', '--data', dataA, '--grace', '0s', '--json']);
    assert.equal(gc.code, 0, gc.stderr);
    const result = JSON.parse(gc.stdout) as { blobsDeleted: number; blobsKept: number; relinkedDuringRun: number };
    // The deleted image's manifest, config and layer: on S3 too (a move there is copy+delete, which must keep the
    // blob's age, or the collector takes every quarantined blob for one stored again and frees nothing).
    assert.equal(result.blobsDeleted, 3, gc.stdout);
    assert.equal(result.relinkedDuringRun, 0, gc.stdout);
    const afterGc = join(work, 'after-gc');
    await skopeoCopy(dockerRef(hostA, 'team/app', 'v1'), `dir:${afterGc}`);
    for (const blob of [image.config, ...image.layers]) {
      assert.equal(await sha256File(join(afterGc, blob.digest.replace('sha256:', ''))), await sha256File(blobPath(image.dir, blob.digest)), blob.digest);
    }
    const doomedLayer = doomed.layers[0]?.digest ?? '';
    const freed = await request('HEAD', `${nodeB.url}/v2/team/app/blobs/${doomedLayer}`);
    assert.equal(freed.status, 404, 'the unreferenced layer is not served any more');
    // And its bytes are gone from the bucket itself, not only its link.
    const bucket = await createS3Driver(radosgwDriverOptions(s3, s3.bucket, { prefix: 'team/' }));
    t.after(() => bucket.close());
    assert.equal(await pathExists(bucket, pathFor({ kind: 'blobData', digest: parseDigest(doomedLayer) })), false, 'the layer\'s data is deleted');
    assert.equal(await pathExists(bucket, pathFor({ kind: 'blobData', digest: parseDigest(image.layers[1]?.digest ?? '') })), true);

    // A chunked push: every PATCH to node A, the closing PUT to node B with the same upload URL. B never saw the
    // running hash (it is per process) and hashes the stored bytes again: the digest must still be right.
    const bytes = Buffer.concat([Buffer.alloc(6 * MiB, 1), Buffer.alloc(5 * MiB, 2), Buffer.alloc(MiB + 7, 3)]);
    const digest = sha256(bytes);
    const on = (node: BerthProcess, session: string) => `${node.url}${new URL(session).pathname}${new URL(session).search}`;
    let session = await startUpload(nodeA.url, 'team/chunked');
    let offset = 0;
    for (const chunk of [bytes.subarray(0, 6 * MiB), bytes.subarray(6 * MiB, 11 * MiB), bytes.subarray(11 * MiB)]) {
      session = await patchChunk(nodeA.url, on(nodeA, session), chunk, offset);
      offset += chunk.length;
    }
    const close = `${on(nodeB, session)}${session.includes('?') ? '&' : '?'}digest=${encodeURIComponent(digest)}`;
    const done = await request('PUT', close, { expected: 201 });
    await done.arrayBuffer();
    const blob = await request('GET', `${nodeA.url}/v2/team/chunked/blobs/${digest}`, { expected: 200 });
    assert.equal(sha256(Buffer.from(await blob.arrayBuffer())), digest);

    // berth status names both backends.
    const status = await cli(['status', '--data', dataB, '--json']);
    assert.equal(status.code, 0, status.stderr);
    const report = JSON.parse(status.stdout) as { storageBackend: string; metadata: string; storage?: unknown };
    assert.deepEqual({ storageBackend: report.storageBackend, metadata: report.metadata, storage: report.storage }, { storageBackend: storage, metadata: db.url, storage: undefined });
    const text = await cli(['status', '--data', dataA]);
    assert.match(text.stdout, new RegExp(`Storage: ${storage.replace(/[.?]/g, '\\$&')}$`, 'm'));

    // A third node with another bucket is refused at start, saying which storage the database belongs to.
    const otherBucket = await s3.createBucket();
    const refused = await cli(['serve', '--data', join(work, 'node-c'), '--listen', '127.0.0.1:0', '--tls-listen', 'off', '--auth', 'none'], {
      BERTH_STORAGE: `s3://${otherBucket}?endpoint=${s3.endpoint}&region=${s3.region}`,
    });
    assert.equal(refused.code, 1, refused.stderr + refused.stdout);
    assert.match(refused.stderr + refused.stdout, new RegExp(`belongs to the storage ${storage.replace(/[.?]/g, '\\$&')} \\(storage id [0-9a-f]{32}`));
    // And so is one on its own data directory (the filesystem default).
    const local = await cli(['serve', '--data', join(work, 'node-d'), '--listen', '127.0.0.1:0', '--tls-listen', 'off', '--auth', 'none'], { BERTH_STORAGE: undefined });
    assert.equal(local.code, 1, local.stderr + local.stdout);
    assert.match(local.stderr + local.stdout, /this node's storage filesystem .*node-d holds no Berth storage id/);
    // Credentials in the URL never get that far.
    const leaky = await cli(['status', '--data', dataA, '--storage', `s3://AKID:${s3.credentials.secretAccessKey}@${s3.bucket}`]);
    assert.equal(leaky.code, 2);
    assert.match(leaky.stderr, /the URL contains credentials: remove them; credentials come from the standard AWS environment/);
    assert.ok(!leaky.stderr.includes(s3.credentials.secretAccessKey));
    const stillServes = await skopeoCopyResult(dockerRef(hostB, 'team/app', 'v1'), `dir:${join(work, 'last')}`);
    assert.equal(stillServes.code, 0, 'the refused nodes changed nothing for the others');
  });
});
