import assert from 'node:assert/strict';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { createS3Driver } from '../../registry/storage/s3-driver.js';
import { berthBin, startBerth, type BerthProcess } from '../support/berth-process.js';
import { sha256 } from '../support/oci-client.js';
import { blobPath, createImageLayout, type ImageLayout } from '../support/oci-layout.js';
import { radosgwSkipReason, requireRadosgw, startRadosgw } from '../support/services/radosgw.js';
import { makeTempDir } from '../support/temp-dir.js';
import { requireTools, runOk, toolSkipReason } from '../support/tools.js';
import { radosgwDriverOptions } from '../storage/s3-backend.js';
import { assertPullsExact, objectsOf, objectsWithPlaintext, plaintextMarker } from './encryption-checks.js';
import { dockerRef, skopeoCopy } from './skopeo.js';

/**
 * Encryption at rest end to end, on both backends, with `berth serve` and the `berth encryption` CLI as separate
 * processes (the CLI works online, beside the server): an image pushed before `enable` is encrypted in place, one
 * pushed after is stored encrypted from the start, no stored object holds any of their plaintext (a marker in the
 * config and manifest, samples of every layer), skopeo pulls stay byte-exact, a ranged GET decrypts just its
 * range, and `rotate` while pulls run loses nothing (and a restarted server still reads everything).
 */

const MiB = 1024 * 1024;
const marker = plaintextMarker;

interface Store {
  /** Every stored object's bytes, by path (a raw view below Berth). */
  objects(): Promise<Map<string, Buffer>>;
  env: Record<string, string | undefined>;
}

async function filesUnder(dir: string, found = new Map<string, Buffer>()): Promise<Map<string, Buffer>> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await filesUnder(path, found);
    else if (entry.isFile()) found.set(path, await readFile(path));
  }
  return found;
}

async function assertNoPlaintext(store: Store, images: readonly ImageLayout[]): Promise<number> {
  const objects = await store.objects();
  assert.deepEqual(await objectsWithPlaintext(objects, images), [], 'objects that hold plaintext of an image');
  return [...objects.keys()].filter((path) => path.includes('/blobs/')).length;
}

function describeEncryptionAtRest(name: string, open: (t: TestContext, work: string) => Promise<Store>, skip?: string): void {
  describe(`encryption at rest on ${name}`, { skip: skip ?? toolSkipReason('skopeo'), timeout: 15 * 60_000 }, () => {
    test('enable encrypts what is stored and what comes; pulls stay byte-exact; a rotation while pulls run loses nothing', { timeout: 12 * 60_000 }, async (t) => {
      requireTools('skopeo');
      const work = await makeTempDir(t, 'berth-encryption-');
      const store = await open(t, work);
      const dataDir = join(work, 'data');
      // The master key ring lives outside the data directory, as it must.
      const keyFile = join(work, 'keys', 'encryption-keys.json');
      const env = { ...store.env, BERTH_ENCRYPTION_KEY_FILE: keyFile, XDG_CONFIG_HOME: join(work, 'config') };
      const cli = async (...args: string[]) => (await runOk(process.execPath, [berthBin, ...args, '--data', dataDir], { env, timeoutMs: 300_000 })).stdout;
      let berth: BerthProcess = await startBerth({ dataDir, env });
      t.after(() => berth.stop());
      const layers = [{ bytes: 300 * 1024, files: 8 }, { bytes: 9 * MiB, compress: false }];
      const before = await createImageLayout(join(work, 'before'), { tag: 'v1', layers, labels: { marker }, annotations: { marker } });
      const afterward = await createImageLayout(join(work, 'after'), { tag: 'v2', layers, labels: { marker }, annotations: { marker } });

      await skopeoCopy(before.ref, dockerRef(berth.host, 'team/before', 'v1'), ['--preserve-digests']);
      assert.match(await cli('encryption', 'status'), /Encryption at rest: off/);
      const enabled = await cli('encryption', 'enable');
      assert.match(enabled, /Made a new master key ring/);
      assert.match(enabled, /Encrypted 4 existing blobs/, 'two layers, the config and the manifest');
      assert.equal(((await stat(keyFile)).mode & 0o777).toString(8), '600');
      // The server writes encrypted within its marker refresh (2 s): a push after that is encrypted from the start.
      await new Promise((resolve) => setTimeout(resolve, 2500));
      await skopeoCopy(afterward.ref, dockerRef(berth.host, 'team/after', 'v2'), ['--preserve-digests']);

      const blobs = await assertNoPlaintext(store, [before, afterward]);
      assert.ok(blobs >= 8, `the blobs are in the store (${blobs})`);
      assert.match(await cli('encryption', 'status'), /Blobs: 8 encrypted, 0 plaintext/);
      await assertPullsExact(berth.host, before, 'team/before', join(work, 'pull-before'));
      await assertPullsExact(berth.host, afterward, 'team/after', join(work, 'pull-after'));

      // A ranged GET (a resumed pull) across frame boundaries decrypts exactly its bytes.
      const big = afterward.layers[1];
      assert.ok(big);
      const bigBytes = await readFile(blobPath(afterward.dir, big.digest));
      const range = await fetch(`${berth.url}/v2/team/after/blobs/${big.digest}`, { headers: { range: `bytes=65530-200000` } });
      assert.equal(range.status, 206);
      assert.deepEqual(Buffer.from(await range.arrayBuffer()), bigBytes.subarray(65530, 200001));

      // Garbage collection reads the (encrypted) manifests to mark what they reference: it frees nothing referenced.
      assert.match(await cli('gc', '--grace', '0'), /Freed 0 B in 0 blobs/);

      // Rotation while pulls run: every pull started before, during and after it is byte-exact.
      const ringBefore = JSON.parse(await readFile(keyFile, 'utf8')) as { keys: { id: string }[] };
      let rotating = true;
      const pulls = (async () => {
        let count = 0;
        while (rotating || count < 2) {
          await assertPullsExact(berth.host, count % 2 === 0 ? afterward : before, count % 2 === 0 ? 'team/after' : 'team/before', join(work, `pull-during-${count}`));
          count += 1;
        }
        return count;
      })();
      const rotated = await cli('encryption', 'rotate').finally(() => (rotating = false));
      const pulled = await pulls;
      assert.ok(pulled >= 2, `pulls ran during the rotation (${pulled})`);
      assert.match(rotated, /re-wrapped 8 of 8 data keys \(no blob was rewritten\)/);
      const ringAfter = JSON.parse(await readFile(keyFile, 'utf8')) as { keys: { id: string; retired?: boolean }[] };
      assert.equal(ringAfter.keys.length, 1, 'the old master key left the ring: nothing uses it');
      assert.notEqual(ringAfter.keys[0]?.id, ringBefore.keys[0]?.id);
      await assertNoPlaintext(store, [before, afterward]);

      // A new process (a restart) has only the rotated ring: everything still reads.
      await berth.stop();
      berth = await startBerth({ dataDir, env });
      await assertPullsExact(berth.host, before, 'team/before', join(work, 'pull-restarted'));
      const blob = await fetch(`${berth.url}/v2/team/after/blobs/${big.digest}`);
      assert.equal(sha256(Buffer.from(await blob.arrayBuffer())), big.digest);

      // Started without the ring (another user's default path): refused at start, saying what to set.
      await berth.stop();
      await assert.rejects(
        startBerth({ dataDir, env: { ...env, BERTH_ENCRYPTION_KEY_FILE: join(work, 'elsewhere', 'keys.json') } }),
        /encryption is on for this storage, but there is no key ring at file .*elsewhere.*BERTH_ENCRYPTION_KEY_FILE/,
      );
    });
  });
}

describeEncryptionAtRest('the filesystem (the desktop default)', async (_t, work) => ({
  env: {},
  objects: () => filesUnder(join(work, 'data')),
}));

describeEncryptionAtRest(
  'S3 (radosgw)',
  async (t, _work) => {
    requireRadosgw();
    const radosgw = await startRadosgw();
    t.after(() => radosgw.stop());
    const raw = await createS3Driver(radosgwDriverOptions(radosgw));
    t.after(() => raw.close());
    return {
      env: {
        BERTH_STORAGE: `s3://${radosgw.bucket}?endpoint=${encodeURIComponent(radosgw.endpoint)}&region=${radosgw.region}`,
        AWS_ACCESS_KEY_ID: radosgw.credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: radosgw.credentials.secretAccessKey,
        AWS_PROFILE: undefined,
        AWS_SESSION_TOKEN: undefined,
        AWS_EC2_METADATA_DISABLED: 'true',
      },
      objects: () => objectsOf(raw),
    };
  },
  radosgwSkipReason() ?? toolSkipReason('skopeo'),
);
