import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { berthCliOk } from '../e2e/mirror-fixture.js';
import { sha256File } from '../e2e/data-dir-check.js';
import { dockerRef, skopeoCopy } from '../e2e/skopeo.js';
import { startBerth } from '../support/berth-process.js';
import { blobPath, createImageLayout } from '../support/oci-layout.js';
import { makeTempDir } from '../support/temp-dir.js';
import { requireTools, toolSkipReason } from '../support/tools.js';
import { assertAccessible } from './accessibility.js';
import { screenshot, settle, waitFor, withFailureScreenshot } from './browser-session.js';
import { guiTools, signedInPage } from './gui-fixture.js';

/**
 * The Trash page in a real chromium against a real `berth serve` (default token auth, 30 trash days): an image deleted
 * in the Images page is listed there and comes back with its Restore button, pulled byte-exact by skopeo afterwards;
 * a restore whose tag was pushed again meanwhile is refused with the reason and an offer to move the tag back.
 */

test('the Trash page lists what was deleted and restores it; a moved tag is refused, then moved back on request', { skip: toolSkipReason(...guiTools), timeout: 180_000 }, async (t) => {
  requireTools(...guiTools);
  const dataDir = await makeTempDir(t, 'berth-gui-trash-');
  const berth = await startBerth({ dataDir, auth: 'token' });
  t.after(() => berth.stop());
  const data = ['--data', dataDir];
  const secret = (await berthCliOk(['token', 'create', '--name', 'ci', '--scope', 'team/*:pull,push', ...data])).trim().split('\n').pop() ?? '';
  const work = await makeTempDir(t, 'berth-gui-trash-images-');
  const image = await createImageLayout(join(work, 'app'), { tag: '1', layers: [{ bytes: 16 * 1024 }] });
  const other = await createImageLayout(join(work, 'other'), { tag: '1', layers: [{ bytes: 8 * 1024 }] });
  const ref = dockerRef(berth.host, 'team/app', '1');
  await skopeoCopy(image.ref, ref, ['--dest-creds', `ci:${secret}`, '--preserve-digests']);

  const { page } = await signedInPage(t, berth);
  const pageErrors: string[] = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));
  const step = (name: string, fn: () => Promise<void>) => t.test(name, () => withFailureScreenshot(page, name, fn));
  const axe: string[] = [];
  const trashRow = (name: RegExp) => page.getByRole('table', { name: 'Deleted images' }).getByRole('row', { name });

  await step('an empty trash says so', async () => {
    await page.goto(`${berth.url}/ui/trash`);
    await page.getByRole('heading', { name: 'The trash is empty' }).waitFor();
  });

  await step('a tag deleted in Images is listed in the Trash and restored by its button', async () => {
    await page.goto(`${berth.url}/ui/images/team/app`);
    await page.getByRole('table', { name: 'Tags of team/app' }).getByRole('button', { name: 'Delete tag 1' }).click();
    const dialog = page.getByRole('dialog', { name: 'Delete tag?' });
    await dialog.getByText(/It goes to the Trash, where it can be restored/).waitFor();
    await dialog.getByRole('button', { name: 'Delete tag' }).click();
    const offer = page.getByRole('dialog', { name: 'Delete repository team/app too?' });
    await offer.getByRole('button', { name: 'Cancel' }).click();

    await page.getByRole('navigation').getByRole('link', { name: 'Trash' }).first().click();
    await page.waitForURL(/\/ui\/trash$/);
    const row = trashRow(/team\/app:1/);
    await row.getByText('by admin').waitFor();
    await settle(page);
    axe.push(await assertAccessible(page, 'Trash page (1280x800)'));
    await screenshot(page, 'trash');
    await row.getByRole('button', { name: 'Restore team/app:1' }).click();
    await page.getByRole('status').getByText('Restored team/app:1: team/app:1 can be pulled again.').waitFor();
    await page.getByRole('heading', { name: 'The trash is empty' }).waitFor();

    const pulled = join(work, 'pulled');
    await skopeoCopy(ref, `dir:${pulled}`, ['--src-creds', `ci:${secret}`]);
    assert.deepEqual(await readFile(join(pulled, 'manifest.json')), image.manifestBytes);
    for (const blob of [image.config, ...image.layers]) {
      assert.equal(await sha256File(join(pulled, blob.digest.replace('sha256:', ''))), await sha256File(blobPath(image.dir, blob.digest)), blob.digest);
    }
  });

  await step('a restore over a tag pushed again is refused with the reason, and moves the tag back when asked', async () => {
    await berthCliOk(['image', 'rm', 'team/app:1', ...data]);
    await skopeoCopy(other.ref, ref, ['--dest-creds', `ci:${secret}`, '--preserve-digests']);
    await page.goto(`${berth.url}/ui/trash`);
    await trashRow(/team\/app:1/).getByRole('button', { name: 'Restore team/app:1' }).click();
    const alert = page.getByRole('alert').filter({ hasText: 'Could not restore team/app:1' });
    await alert.getByText('team/app:1 now names another manifest').waitFor();
    await alert.getByText('BERTH_TRASH_TAG_TAKEN').waitFor();
    await settle(page);
    axe.push(await assertAccessible(page, 'Trash page, refused restore (1280x800)'));
    await screenshot(page, 'trash-restore-refused');
    // Restored as another tag first (an invalid name is refused in the same place), then forced back.
    await page.getByLabel('Or restore it as tag').fill('not a tag!');
    await page.getByRole('button', { name: 'Restore as this tag' }).click();
    await page.getByRole('alert').filter({ hasText: 'Could not restore team/app:1' }).getByText(/is not a valid tag/).waitFor();
    await trashRow(/team\/app:1/).getByRole('button', { name: 'Restore team/app:1' }).click();
    await page.getByLabel('Or restore it as tag').fill('1-before');
    await page.getByRole('button', { name: 'Restore as this tag' }).click();
    await page.getByRole('status').getByText('Restored team/app:1: team/app:1-before can be pulled again.').waitFor();
    const asOther = JSON.parse(await berthCliOk(['image', 'inspect', 'team/app:1-before', '--json', ...data])) as { digest: string };
    assert.equal(asOther.digest, image.manifestDigest);
    const stillOther = JSON.parse(await berthCliOk(['image', 'inspect', 'team/app:1', '--json', ...data])) as { digest: string };
    assert.equal(stillOther.digest, other.manifestDigest, 'restoring as another tag leaves the pushed one alone');

    // Once more with the force: 1-before deleted, pushed again with the other image, then moved back.
    await berthCliOk(['image', 'rm', 'team/app:1-before', ...data]);
    await skopeoCopy(other.ref, dockerRef(berth.host, 'team/app', '1-before'), ['--dest-creds', `ci:${secret}`, '--preserve-digests']);
    await page.goto(`${berth.url}/ui/trash`);
    await trashRow(/team\/app:1-before/).getByRole('button', { name: 'Restore team/app:1-before' }).click();
    await page.getByRole('alert').filter({ hasText: 'Could not restore team/app:1-before' }).getByText('team/app:1-before now names another manifest').waitFor();
    await page.getByRole('button', { name: 'Move the tag back and restore' }).click();
    await page.getByRole('status').getByText(/^Restored team\/app:1-before/).waitFor();
    await waitFor('the tag to name the restored image', async () => {
      const raw = await berthCliOk(['image', 'inspect', 'team/app:1-before', '--json', ...data]);
      return (JSON.parse(raw) as { digest: string }).digest === image.manifestDigest;
    });
  });

  await step('Free unused space says the Trash keeps a deleted image\'s layers, and links there', async () => {
    await berthCliOk(['image', 'rm', `team/app@${image.manifestDigest}`, ...data]);
    await page.goto(`${berth.url}/ui/`);
    await page.getByRole('button', { name: 'Free unused space' }).click();
    const dialog = page.getByRole('dialog', { name: 'Free unused space' });
    await dialog.getByText(/1 deleted manifest in the Trash keeps its layers until it expires, so it can be restored\. Empty the Trash to free that space now\./).waitFor();
    await settle(page);
    axe.push(await assertAccessible(page, 'Free unused space with a kept trash entry (1280x800)'));
    await dialog.getByRole('link', { name: 'Trash' }).click();
    await page.waitForURL(/\/ui\/trash$/);
    await trashRow(/team\/app@sha256:[0-9a-f]{12} \(1-before\)/).getByRole('button', { name: /^Restore team\/app@/ }).waitFor();
  });

  await step('a namespace\'s trash days are set on the Trash page, as berth trash days does', async () => {
    const section = page.getByRole('region', { name: 'How long deletes stay' });
    await section.getByText('team uses the default, 30 days.').waitFor();
    await section.getByLabel('Days in the trash').fill('7');
    await section.getByRole('button', { name: 'Save' }).click();
    await section.getByRole('status').getByText('Deletes in team now stay restorable for 7 days.').waitFor();
    assert.match(await berthCliOk(['trash', 'days', 'team', ...data]), /^Deletes in team stay in the trash for 7 day\(s\)\.$/m);
    await settle(page);
    axe.push(await assertAccessible(page, 'Trash page with the days form (1280x800)'));
  });

  for (const line of axe) t.diagnostic(`axe: ${line}`);
  assert.deepEqual(pageErrors, [], 'no uncaught errors in the page');
});
