import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { berthCliOk, blobFileExists } from '../e2e/mirror-fixture.js';
import { dockerRef, skopeoCopy } from '../e2e/skopeo.js';
import { signInAsAdmin } from '../support/berth-admin.js';
import { startBerth } from '../support/berth-process.js';
import { createImageLayout } from '../support/oci-layout.js';
import { makeTempDir } from '../support/temp-dir.js';
import { requireTools, toolSkipReason, type ToolSpec } from '../support/tools.js';
import { assertAccessible } from './accessibility.js';
import { firstPage, launchBrowser, withFailureScreenshot } from './browser-session.js';

/**
 * "Free unused space" right after deleting an image, on a Berth with default settings: the usual run waits out the
 * grace period (the image was pushed moments ago), and the dialog offers to free it now, with the warning, and then
 * does: the deleted image's layer leaves the disk while the image that shares nothing with it stays.
 */

const tools: ToolSpec[] = ['skopeo', { name: '/usr/lib/chromium/chromium', debianPackage: 'chromium' }];

test('Free unused space offers "free now" for a just-deleted image and frees its bytes', { skip: toolSkipReason(...tools), timeout: 120_000 }, async (t) => {
  requireTools(...tools);
  const dataDir = await makeTempDir(t, 'berth-gui-storage-');
  const berth = await startBerth({ dataDir, auth: 'token' });
  t.after(() => berth.stop());
  const secret = (await berthCliOk(['token', 'create', '--name', 'ci', '--scope', 'team/*:pull,push,delete', '--data', dataDir])).trim().split('\n').pop() ?? '';
  const layouts = await makeTempDir(t, 'berth-gui-storage-images-');
  const gone = await createImageLayout(join(layouts, 'gone'), { tag: '1', layers: [{ bytes: 512 * 1024 }] });
  const stays = await createImageLayout(join(layouts, 'stays'), { tag: '1', layers: [{ bytes: 8 * 1024 }] });
  await skopeoCopy(gone.ref, dockerRef(berth.host, 'team/gone', '1'), ['--dest-creds', `ci:${secret}`]);
  await skopeoCopy(stays.ref, dockerRef(berth.host, 'team/stays', '1'), ['--dest-creds', `ci:${secret}`]);
  const cookie = await signInAsAdmin(berth);
  const manifest = await fetch(`${berth.url}/api/manifests?repository=team/gone&reference=1`, { headers: { cookie } }).then((r) => r.json() as Promise<{ digest: string; layers: Array<{ digest: string }> }>);
  const layer = manifest.layers[0]?.digest ?? assert.fail('a layer');
  const deleted = await fetch(`${berth.url}/api/manifests?repository=team/gone&reference=${manifest.digest}`, { method: 'DELETE', headers: { cookie, 'x-berth-admin': '1' } });
  assert.equal(deleted.status, 200);
  assert.ok(await blobFileExists(dataDir, layer), 'deleting the image leaves its layer on disk until collected');
  // The delete went to the trash, which keeps the layer while the image is restorable: dropped for good first.
  assert.match(await berthCliOk(['trash', 'empty', '--namespace', 'team', '--data', dataDir]), /^Dropped 1 trash entry for good/m);

  const context = await launchBrowser(t);
  const page = await firstPage(context);
  await page.goto(await berth.signInUrl());
  await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
  await withFailureScreenshot(page, 'free-now', async () => {
    await page.getByRole('button', { name: 'Free unused space' }).click();
    const dialog = page.getByRole('dialog', { name: 'Free unused space' });
    await dialog.getByText('Nothing to free yet.').waitFor();
    await dialog.getByText(/Skips the hour wait\. Berth first checks that no push and no sync job is still sending layers/).waitFor();
    await assertAccessible(page, 'Free unused space, free-now offer (light, 1280x800)');
    await dialog.getByRole('button', { name: 'Check what freeing now would free' }).click();
    const free = dialog.getByRole('button', { name: /^Free .* now$/ });
    await free.waitFor();
    assert.ok(await blobFileExists(dataDir, layer), 'the check deletes nothing');
    await free.click();
    await dialog.getByRole('status').filter({ hasText: /^Freed / }).waitFor();
  });
  assert.equal(await blobFileExists(dataDir, layer), false, "the deleted image's layer is gone from disk");
  for (const kept of stays.layers) assert.ok(await blobFileExists(dataDir, kept.digest), 'the other image keeps its layers');
});
