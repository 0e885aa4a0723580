import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { startDistribution } from '../support/distribution.js';
import { blobPath, createImageLayout } from '../support/oci-layout.js';
import { makeTempDir } from '../support/temp-dir.js';
import { requireTools, toolSkipReason } from '../support/tools.js';
import { pushImage } from '../mirror/fixtures.js';
import { sha256File } from './data-dir-check.js';
import { berthCliOk, startMirror, upstreamGets, waitForCachedBlob } from './mirror-fixture.js';
import { skopeoCopy } from './skopeo.js';

/**
 * Pull-through into an encrypted store: two cold pulls of one image at once share one upstream fetch, whose
 * followers read the upload data while it is being written (encrypted, frame by frame); both are byte-exact and
 * nothing of the image is stored in plaintext.
 */

const tools = ['docker-registry', 'skopeo'] as const;

test('pull-through mirror with encryption at rest', { skip: toolSkipReason(...tools), timeout: 180_000 }, async (t) => {
  requireTools(...tools);
  const work = await makeTempDir(t, 'berth-mirror-encrypted-');
  // The children (the CLI, berth serve) inherit it: the ring lives outside the data directory.
  process.env.BERTH_ENCRYPTION_KEY_FILE = join(work, 'keys', 'encryption-keys.json');
  const dist = await startDistribution({ logLevel: 'warn' });
  t.after(() => dist.stop());
  const image = await createImageLayout(join(work, 'image'), { tag: '1', layers: [{ bytes: 12 * 1024 * 1024, compress: false }, { bytes: 200_000, files: 4 }] });
  await pushImage(image.ref, dist.host, 'library/big:1');
  const mirror = await startMirror(t, {
    upstreams: [{ name: 'up', url: dist.url, flags: ['--default'] }],
    prepare: async (dataDir) => {
      assert.match(await berthCliOk(['encryption', 'enable', '--data', dataDir]), /new content is written encrypted/);
    },
  });

  const pulls = [0, 1].map(async (index) => {
    const out = join(work, `pull-${index}`);
    await skopeoCopy(`docker://${mirror.host}/up/library/big:1`, `dir:${out}`);
    for (const blob of [image.config, ...image.layers]) assert.equal(await sha256File(join(out, blob.digest.replace('sha256:', ''))), blob.digest);
  });
  await Promise.all(pulls);
  assert.equal(upstreamGets(dist.requests(), `/v2/library/big/blobs/${image.layers[0]?.digest}`), 1, 'one upstream fetch served both pulls');

  for (const blob of [image.config, ...image.layers]) await waitForCachedBlob(mirror.dataDir, blob.digest);
  const samples: Buffer[] = [];
  for (const layer of image.layers) {
    const bytes = await readFile(blobPath(image.dir, layer.digest));
    for (const at of [Math.floor(bytes.length / 2), Math.floor(bytes.length * 0.9)]) {
      for (let offset = at; offset + 48 <= bytes.length; offset += 512) {
        if (new Set(bytes.subarray(offset, offset + 48)).size >= 32) {
          samples.push(bytes.subarray(offset, offset + 48));
          break;
        }
      }
    }
  }
  let files = 0;
  for (const entry of await readdir(join(mirror.dataDir, 'blobs'), { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    files += 1;
    const bytes = await readFile(join(entry.parentPath, entry.name));
    for (const sample of samples) assert.equal(bytes.indexOf(sample), -1, `${entry.name} holds plaintext`);
  }
  assert.ok(files >= 4, `the image's blobs are cached (${files})`);
  assert.match(await berthCliOk(['encryption', 'status', '--data', mirror.dataDir]), /Blobs: \d+ encrypted, 0 plaintext/);
});
