import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { berthCliOk } from '../e2e/mirror-fixture.js';
import { dockerRef, skopeoCopy } from '../e2e/skopeo.js';
import { corruptArchive } from '../e2e/transfer-fixture.js';
import { startBerth } from '../support/berth-process.js';
import { createImageLayout } from '../support/oci-layout.js';
import { makeTempDir } from '../support/temp-dir.js';
import { requireTools, toolSkipReason, type ToolSpec } from '../support/tools.js';
import { assertAccessible } from './accessibility.js';
import { firstPage, launchBrowser, navLink, withFailureScreenshot } from './browser-session.js';

/**
 * The Images page's drop zone in real chromium, on a Berth with default settings: an archive chosen with the button
 * is uploaded with progress and imported (its image then pulls byte-exact with skopeo); a damaged archive dropped
 * onto the zone (a real DataTransfer drop) is refused with the entry at fault named, and imports nothing.
 */

const tools: ToolSpec[] = ['skopeo', { name: '/usr/lib/chromium/chromium', debianPackage: 'chromium' }];

test('drag-and-drop import on the Images page: a good archive imports with progress, a damaged one is refused by name', { skip: toolSkipReason(...tools), timeout: 180_000 }, async (t) => {
  requireTools(...tools);
  const work = await makeTempDir(t, 'berth-gui-import-');
  const dataDir = join(work, 'data');
  const berth = await startBerth({ dataDir, auth: 'token' });
  t.after(() => berth.stop());
  const good = await createImageLayout(join(work, 'good'), { tag: '1', layers: [{ bytes: 3 * 1024 * 1024 }] });
  const bad = await createImageLayout(join(work, 'bad'), { tag: '1', layers: [{ bytes: 256 * 1024 }] });
  const goodTar = join(work, 'good.tar');
  await skopeoCopy(good.ref, `oci-archive:${goodTar}:team/app:1`, ['--preserve-digests']);
  await skopeoCopy(bad.ref, `oci-archive:${join(work, 'bad-source.tar')}:team/bad:1`, ['--preserve-digests']);
  const badLayer = bad.layers[0]?.digest as string;
  const badTar = join(work, 'bad.tar');
  await corruptArchive(join(work, 'bad-source.tar'), badTar, `blobs/sha256/${badLayer.slice(7)}`);

  const context = await launchBrowser(t);
  const page = await firstPage(context);
  await page.goto(await berth.signInUrl());
  await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
  await navLink(page, 'Images').click();
  await page.getByRole('heading', { name: 'Images', level: 1 }).waitFor();
  const zone = page.getByTestId('import-drop-zone');

  await withFailureScreenshot(page, 'import-choose', async () => {
    await zone.getByText('Import images from an archive').waitFor();
    await page.getByLabel('Archive to import').setInputFiles(goodTar);
    const done = zone.getByRole('status').filter({ hasText: 'Imported good.tar' });
    await done.waitFor({ timeout: 60_000 });
    await done.getByRole('link', { name: 'team/app:1' }).waitFor();
    await done.getByText(/2 layer\(s\) and config\(s\) stored/).waitFor();
    // The list below refreshed by itself.
    await page.getByRole('link', { name: 'team/app', exact: true }).waitFor();
    await assertAccessible(page, 'Images page, an archive imported (light, 1280x800)');
  });

  await withFailureScreenshot(page, 'import-drop', async () => {
    const bytes = (await readFile(badTar)).toString('base64');
    // A DataTransfer made in the page, as a file dragged from the desktop brings (the test's types have no DOM lib).
    const transfer = await page.evaluateHandle(`(() => {
      const data = Uint8Array.from(atob(${JSON.stringify(bytes)}), (c) => c.charCodeAt(0));
      const dt = new DataTransfer();
      dt.items.add(new File([data], 'bad.tar', { type: 'application/x-tar' }));
      return dt;
    })()`);
    await zone.dispatchEvent('dragover', { dataTransfer: transfer });
    await zone.dispatchEvent('drop', { dataTransfer: transfer });
    const refused = zone.getByRole('alert');
    await refused.getByText('bad.tar was not imported').waitFor({ timeout: 60_000 });
    await refused.getByText(new RegExp(`archive entry blobs/sha256/${badLayer.slice(7)} holds content with digest .* the archive is corrupt`)).waitFor();
    await refused.getByText('BERTH_ARCHIVE_INVALID').waitFor();
  });
  assert.equal(await page.getByRole('link', { name: 'team/bad', exact: true }).count(), 0, 'nothing of the damaged archive is listed');

  const reader = (await berthCliOk(['token', 'create', '--name', 'reader', '--scope', 'team/*:pull', '--data', dataDir])).trim().split('\n').pop() ?? '';
  const pulled = join(work, 'pulled');
  await skopeoCopy(dockerRef(berth.host, 'team/app', '1'), `dir:${pulled}`, ['--src-creds', `reader:${reader}`]);
  assert.deepEqual(await readFile(join(pulled, 'manifest.json')), good.manifestBytes);
  const audit = (await berthCliOk(['audit', '--action', 'image.import', '--json', '--data', dataDir])).trim().split('\n').map((line) => JSON.parse(line) as { outcome: string; repository?: string; client: string });
  assert.deepEqual(audit.map((event) => `${event.outcome} ${event.repository ?? '-'}`).sort(), ['failure -', 'success team/app']);
});
