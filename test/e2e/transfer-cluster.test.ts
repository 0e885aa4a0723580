import assert from 'node:assert/strict';
import { copyFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { blobPath, createImageLayout } from '../support/oci-layout.js';
import { makeTempDir } from '../support/temp-dir.js';
import { requireTools } from '../support/tools.js';
import { clusterSkipReason, startCluster } from './cluster-fixture.js';
import { sha256File } from './data-dir-check.js';
import { dockerRef, skopeoCopy } from './skopeo.js';
import { corruptArchive, waitForPath } from './transfer-fixture.js';

/**
 * Import on the scale-out backends (S3 on radosgw, PostgreSQL, two nodes behind haproxy): an OCI archive that skopeo
 * wrote, imported with `berth import` from an operator's machine, pulls byte-exact through the balancer; a corrupt
 * one dropped into a node's import folder lands in failed/ and leaves the bucket without a single unreferenced blob.
 */

test('import into S3 + PostgreSQL: pulls byte-exact through the balancer; a corrupt archive in a node\'s folder stores nothing', { skip: clusterSkipReason(), timeout: 600_000 }, async (t) => {
  requireTools('skopeo');
  const cluster = await startCluster({ nodes: 2 });
  t.after(() => cluster.stop());
  const work = await makeTempDir(t, 'berth-cluster-transfer-');
  const image = await createImageLayout(join(work, 'app'), { tag: '1', layers: [{ bytes: 6 * 1024 * 1024, compress: false }, { bytes: 100 * 1024 }] });
  const archive = join(work, 'app.tar');
  await skopeoCopy(image.ref, `oci-archive:${archive}:team/app:1`, ['--preserve-digests']);

  const imported = await cluster.cli(['import', archive]);
  assert.match(imported, /^Imported team\/app:1 from app\.tar \(OCI layout\): 3 blob\(s\) stored/);
  const reader = await cluster.createToken('reader', 'team/*:pull');
  const pulled = join(work, 'pulled');
  await skopeoCopy(dockerRef(cluster.host, 'team/app', '1'), `dir:${pulled}`, ['--src-creds', `reader:${reader}`]);
  assert.deepEqual(await readFile(join(pulled, 'manifest.json')), image.manifestBytes);
  for (const blob of [image.config, ...image.layers]) {
    assert.equal(await sha256File(join(pulled, blob.digest.slice(7))), await sha256File(blobPath(image.dir, blob.digest)), blob.digest);
  }

  const bad = await createImageLayout(join(work, 'bad'), { tag: '1', layers: [{ bytes: 512 * 1024 }] });
  await skopeoCopy(bad.ref, `oci-archive:${join(work, 'bad-source.tar')}:team/bad:1`, ['--preserve-digests']);
  const layer = bad.layers[0]?.digest as string;
  await corruptArchive(join(work, 'bad-source.tar'), join(work, 'bad.tar'), `blobs/sha256/${layer.slice(7)}`);
  const folder = join(cluster.nodes[0]?.dataDir as string, 'import');
  await copyFile(join(work, 'bad.tar'), join(folder, 'bad.tar'));
  await waitForPath(join(folder, 'failed', 'bad.tar.reason.txt'));
  assert.match(await readFile(join(folder, 'failed', 'bad.tar.reason.txt'), 'utf8'), new RegExp(`blobs/sha256/${layer.slice(7)} holds content with digest .* the archive is corrupt`));
  const listed = JSON.parse(await cluster.cli(['image', 'list', '--json'])) as Array<{ repository: string }>;
  assert.deepEqual(listed.map((repo) => repo.repository), ['team/app']);
  // Nothing unreferenced in the bucket: not even the intact config of the refused image was uploaded.
  const gc = JSON.parse(await cluster.cli(['gc', '--dry-run', '--grace', '0', '--json'])) as { blobsDeleted: number; blobsKept: number };
  assert.equal(gc.blobsDeleted, 0);
  assert.equal(gc.blobsKept, 4, 'the imported image: manifest, config and two layers');
});
