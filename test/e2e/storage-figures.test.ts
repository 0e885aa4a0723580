import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { StorageResponse } from '../../registry/admin/contract.js';
import { signInAsAdmin } from '../support/berth-admin.js';
import { startBerth, type BerthProcess } from '../support/berth-process.js';
import { createImageLayout, type ImageLayout } from '../support/oci-layout.js';
import { radosgwSkipReason, requireRadosgw, startRadosgw, type RadosgwServer } from '../support/services/radosgw.js';
import { createTempDir, removeDir } from '../support/temp-dir.js';
import { requireTools, toolSkipReason } from '../support/tools.js';
import { dockerRef, skopeoCopy } from './skopeo.js';

/**
 * The storage figures of /metrics and of the admin storage page describe where `berth serve` keeps image content: the
 * data directory by default, and with `--storage s3://...` (through BERTH_STORAGE, its other settings the defaults)
 * the bucket, not the data directory, which then holds no blob at all. One meter serves both, so after garbage
 * collection neither shows the freed blobs.
 */
const MiB = 1024 * 1024;

type Backend = 'filesystem' | 's3';

function describeStorageFigures(backend: Backend): void {
  const title = backend === 's3' ? 'S3 storage (radosgw)' : 'the default storage (the data directory)';
  const skip = (backend === 's3' ? radosgwSkipReason() : undefined) ?? toolSkipReason('skopeo');
  describe(`storage figures with ${title}`, { skip, timeout: 10 * 60_000 }, () => {
    let radosgw: RadosgwServer | undefined;
    let work: string;
    let berth: BerthProcess;
    let cookie: string;
    let image: ImageLayout;

    before(async () => {
      requireTools('skopeo');
      work = await createTempDir('berth-storage-figures-');
      if (backend === 's3') {
        requireRadosgw();
        radosgw = await startRadosgw();
      }
      image = await createImageLayout(join(work, 'layout'), {
        tag: 'v1',
        // One layer over the S3 driver's 16 MiB part, so the figure is a multipart object's size, not a single PUT's.
        layers: [{ bytes: 20 * MiB, compress: false }, { bytes: 300 * 1024, files: 8 }],
      });
      const env = radosgw
        ? {
            BERTH_STORAGE: `s3://${radosgw.bucket}?endpoint=${encodeURIComponent(radosgw.endpoint)}&region=${radosgw.region}`,
            AWS_ACCESS_KEY_ID: radosgw.credentials.accessKeyId,
            AWS_SECRET_ACCESS_KEY: radosgw.credentials.secretAccessKey,
            // Nothing of the machine's own AWS settings may leak in.
            AWS_PROFILE: undefined,
            AWS_SESSION_TOKEN: undefined,
            AWS_CONFIG_FILE: join(work, 'no-aws-config'),
            AWS_SHARED_CREDENTIALS_FILE: join(work, 'no-aws-credentials'),
            AWS_EC2_METADATA_DISABLED: 'true',
          }
        : { BERTH_STORAGE: undefined };
      berth = await startBerth({ dataDir: join(work, 'data'), env, startTimeoutMs: 60_000 });
      cookie = await signInAsAdmin(berth);
    });
    after(async () => {
      await berth?.stop();
      await radosgw?.stop();
      if (work) await removeDir(work);
    });

    const scrape = async (): Promise<{ bytes: number; blobs: number }> => {
      const text = await (await fetch(`${berth.url}/metrics`)).text();
      const value = (name: string): number => {
        const line = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
        assert.ok(line, `/metrics has no ${name} line:\n${text.slice(0, 2000)}`);
        return Number(line[1]);
      };
      return { bytes: value('berth_storage_bytes'), blobs: value('berth_storage_blobs') };
    };
    const storagePage = async (): Promise<StorageResponse> => {
      const response = await fetch(`${berth.url}/api/storage`, { headers: { cookie, 'x-berth-admin': '1' } });
      const text = await response.text();
      assert.equal(response.status, 200, `GET /api/storage: ${text}`);
      return JSON.parse(text) as StorageResponse;
    };
    /** The page reuses a walk for up to 5 s: asks again until the figure changed (at most 30 s). */
    const storagePageUntil = async (bytes: number): Promise<StorageResponse> => {
      const until = Date.now() + 30_000;
      for (;;) {
        const page = await storagePage();
        if (page.bytes === bytes || Date.now() > until) return page;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    };

    test('an empty store: both report nothing stored', async () => {
      assert.deepEqual(await scrape(), { bytes: 0, blobs: 0 });
      assert.deepEqual(await storagePage(), { bytes: 0, blobs: 0, repositories: 0 });
    });

    test(`after a skopeo push, the page and /metrics count the blobs${backend === 's3' ? ' in the bucket; the data directory holds none' : ''}`, async () => {
      await skopeoCopy(image.ref, dockerRef(berth.host, 'team/app', 'v1'), ['--preserve-digests']);
      // Layers, config and the manifest itself: every one is a blob.
      const bytes = image.totalBytes + image.manifestBytes.length;
      const blobs = image.layers.length + 2;
      assert.deepEqual(await storagePageUntil(bytes), { bytes, blobs, repositories: 1 });
      assert.deepEqual(await scrape(), { bytes, blobs }, '/metrics shares the walk the page just made');
      if (backend === 's3') {
        const local = await readdir(join(work, 'data'));
        assert.ok(!local.includes('blobs'), `the data directory has no blobs/ to measure: ${local.join(', ')}`);
      }
    });

    test('garbage collection frees the deleted image once the trash lets it go, and both show it at once', async () => {
      const deleted = await fetch(`${berth.url}/v2/team/app/manifests/${image.manifestDigest}`, { method: 'DELETE' });
      assert.equal(deleted.status, 202, `DELETE manifest: ${await deleted.text()}`);
      // A delete goes to the trash first (kept 30 days, blobs and all): emptied here, so the collection may free it.
      const emptied = await fetch(`${berth.url}/api/trash`, { method: 'DELETE', headers: { cookie, 'x-berth-admin': '1' } });
      assert.equal(emptied.status, 200, `DELETE /api/trash: ${await emptied.text()}`);
      const response = await fetch(`${berth.url}/api/storage/gc`, {
        method: 'POST',
        headers: { cookie, 'x-berth-admin': '1', 'content-type': 'application/json' },
        body: JSON.stringify({ skipGracePeriod: true }),
      });
      const text = await response.text();
      assert.equal(response.status, 200, `POST /api/storage/gc: ${text}`);
      assert.equal((JSON.parse(text) as { blobsDeleted: number }).blobsDeleted, image.layers.length + 2, text);
      const page = await storagePage();
      assert.deepEqual({ bytes: page.bytes, blobs: page.blobs }, { bytes: 0, blobs: 0 }, 'no figure from before the collection');
      assert.deepEqual(await scrape(), { bytes: 0, blobs: 0 });
    });
  });
}

describeStorageFigures('filesystem');
describeStorageFigures('s3');
