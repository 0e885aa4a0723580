import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { createImageLayout } from '../support/oci-layout.js';
import { makeTempDir } from '../support/temp-dir.js';
import { requireTools, toolSkipReason } from '../support/tools.js';
import { startTestServer } from './berth-fixture.js';
import { startCountingProxy } from './counting-proxy.js';
import { listBlobFiles, sha256File } from './data-dir-check.js';
import { dockerRef, skopeoCopy } from './skopeo.js';

/**
 * Copying an image between repositories of one registry must not send the layers again: skopeo asks for a
 * cross-repository mount (`POST /v2/B/blobs/uploads/?mount=<digest>&from=A`) and Berth answers 201 by linking
 * the existing blob. A proxy in front of Berth sees every request, so the test measures what was uploaded.
 */
const options = { skip: toolSkipReason('skopeo'), timeout: 60_000 };

test('skopeo copy between repositories mounts layers instead of uploading them', options, async (t) => {
  requireTools('skopeo');
  const server = await startTestServer(t);
  const proxy = await startCountingProxy(t, server.url);
  const work = await makeTempDir(t);
  const layers = [{ bytes: 2 * 1024 * 1024 }, { bytes: 1024 * 1024, files: 8 }];
  const image = await createImageLayout(join(work, 'layout'), { tag: 'v1', layers });
  const layerBytes = image.layers.reduce((sum, layer) => sum + layer.size, 0);

  await skopeoCopy(image.ref, dockerRef(proxy.host, 'team/source', 'v1'));
  const blobsBefore = (await listBlobFiles(server.dataDir)).length;
  assert.equal(blobsBefore, image.layers.length + 2, 'layers, config and manifest stored once each');
  proxy.requests.length = 0;

  await skopeoCopy(dockerRef(proxy.host, 'team/source', 'v1'), dockerRef(proxy.host, 'other/target', 'v1'));

  const toTarget = proxy.requests.filter((request) => request.url.startsWith('/v2/other/target/blobs/'));
  for (const layer of image.layers) {
    const mount = toTarget.find((request) => request.method === 'POST' && request.url.includes(`mount=${encodeURIComponent(layer.digest)}`));
    assert.ok(mount, `no mount request for ${layer.digest}; requests: ${JSON.stringify(toTarget)}`);
    assert.equal(mount.status, 201, `mount of ${layer.digest} answered ${mount.status}, so the client falls back to uploading`);
  }
  const uploaded = toTarget.reduce((sum, request) => sum + request.bodyBytes, 0);
  // skopeo uploads the small config again (it does not try to mount configs); the layers must not travel.
  assert.ok(uploaded <= image.config.size, `${uploaded} bytes uploaded to the target (layers: ${layerBytes}, config: ${image.config.size})`);
  assert.equal((await listBlobFiles(server.dataDir)).length, blobsBefore, 'a copy within the registry added blob files');

  // The target really holds the image: pull it straight from Berth and compare bytes.
  const out = join(work, 'out');
  await skopeoCopy(dockerRef(server.host, 'other/target', 'v1'), `dir:${out}`);
  assert.deepEqual(await readFile(join(out, 'manifest.json')), image.manifestBytes);
  for (const layer of image.layers) assert.equal(await sha256File(join(out, layer.digest.slice(7))), layer.digest);
});
