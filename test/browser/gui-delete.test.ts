import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Page } from 'playwright-core';
import type { RepositoriesResponse, UntaggedResponse } from '../../registry/admin/contract.js';
import { berthCliOk } from '../e2e/mirror-fixture.js';
import { dockerRef, skopeoCopy } from '../e2e/skopeo.js';
import { signInAsAdmin } from '../support/berth-admin.js';
import { startBerth } from '../support/berth-process.js';
import { createImageLayout, createIndexLayout } from '../support/oci-layout.js';
import { makeTempDir } from '../support/temp-dir.js';
import { requireTools, toolSkipReason } from '../support/tools.js';
import { assertAccessible } from './accessibility.js';
import { screenshot, settle, waitFor, withFailureScreenshot } from './browser-session.js';
import { guiTools, signedInPage } from './gui-fixture.js';

/**
 * Deleting in the GUI what a repository page shows: an untagged manifest from the Untagged tab (asked first, with what
 * deleting that kind of manifest breaks), and the last tag of a repository, after which the GUI offers to delete the
 * repository too (accepted once, declined once). A real `berth serve` with its default token auth; images pushed by
 * skopeo with a CLI-made token; every delete goes through the admin API as the GUI sends it (cookie and CSRF header).
 */

const short = (digest: string) => `sha256:${digest.slice(7, 19)}`;

/** Waits for the GUI's "is the repository empty now?" look-up (`GET /api/tags?n=1`) after a delete, so a missing offer is no race. */
function tagCountCheck(page: Page, repository: string) {
  return page.waitForResponse((response) => {
    const url = new URL(response.url());
    return url.pathname === '/api/tags' && url.searchParams.get('repository') === repository && url.searchParams.get('n') === '1';
  });
}

test('deleting in the GUI: an untagged manifest from its tab, and the last tag offers to delete the repository', { skip: toolSkipReason(...guiTools), timeout: 180_000 }, async (t) => {
  requireTools(...guiTools);
  const dataDir = await makeTempDir(t, 'berth-gui-delete-');
  const berth = await startBerth({ dataDir, auth: 'token' });
  t.after(() => berth.stop());
  const data = ['--data', dataDir];
  const secret = (await berthCliOk(['token', 'create', '--name', 'ci', '--scope', 'team/*:pull,push', ...data])).trim().split('\n').pop() ?? '';
  const creds = ['--dest-creds', `ci:${secret}`];
  const layouts = await makeTempDir(t, 'berth-gui-delete-images-');
  // A two-platform index: its platforms' manifests are the untagged ones.
  const multi = 'team/multi';
  const index = await createIndexLayout(join(layouts, 'multi'), { tag: '1', layersPerImage: [{ bytes: 8 * 1024 }] });
  await skopeoCopy(index.ref, dockerRef(berth.host, multi, '1'), ['--all', ...creds]);
  // One image under two tags: deleting the first is not the last, deleting the second is.
  const solo = 'team/solo';
  const image = await createImageLayout(join(layouts, 'solo'), { tag: '1', layers: [{ bytes: 4 * 1024 }] });
  for (const tag of ['1', '2']) await skopeoCopy(image.ref, dockerRef(berth.host, solo, tag), creds);

  const cookie = await signInAsAdmin(berth);
  const adminGet = (path: string) => fetch(`${berth.url}${path}`, { headers: { cookie } });
  const { page } = await signedInPage(t, berth);
  const pageErrors: string[] = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));
  const step = (name: string, fn: () => Promise<void>) => t.test(name, () => withFailureScreenshot(page, name, fn));
  const axe: string[] = [];

  await step('the Untagged tab deletes one platform manifest after a confirm that says what breaks', async () => {
    const [amd64, arm64] = index.images.map((entry) => entry.manifestDigest);
    assert.ok(amd64 && arm64);
    await page.goto(`${berth.url}/ui/images/${multi}?view=untagged`);
    await page.getByRole('tab', { name: 'Untagged (2)' }).waitFor();
    const table = page.getByRole('table', { name: `Untagged manifests of ${multi}` });
    await table.getByRole('button', { name: `Delete manifest ${short(amd64)}` }).click();
    const dialog = page.getByRole('dialog', { name: 'Delete manifest?' });
    await dialog.getByText(/one platform of a stored index: pulling the index for this platform will fail/).waitFor();
    await dialog.getByText(`${multi}@sha256:${amd64.slice(7, 23)}`).waitFor();
    await settle(page);
    axe.push(await assertAccessible(page, 'Delete untagged manifest dialog (1280x800)'));
    await screenshot(page, 'untagged-delete');
    await dialog.getByRole('button', { name: 'Delete manifest' }).click();
    await dialog.waitFor({ state: 'detached' });
    await page.getByRole('tab', { name: 'Untagged (1)' }).waitFor();
    await table.getByRole('link', { name: short(arm64) }).waitFor();
    assert.equal(await table.getByRole('link', { name: short(amd64) }).count(), 0);
    // Gone on the server, not just from the table; the other platform and the index's tag stay.
    assert.equal((await adminGet(`/api/manifests?repository=${multi}&reference=${amd64}`)).status, 404);
    const untagged = (await (await adminGet(`/api/untagged?repository=${multi}`)).json()) as UntaggedResponse;
    assert.deepEqual(untagged.manifests.map((entry) => entry.digest), [arm64]);
    assert.equal((await adminGet(`/api/manifests?repository=${multi}&reference=1`)).status, 200);
    // Audited as the admin's delete (written just after the answer, hence the wait).
    await waitFor('the delete to be audited', async () => (await berthCliOk(['audit', '--action', 'delete', '--json', ...data])).includes(amd64));
  });

  await step('deleting a tag that is not the last one offers nothing more', async () => {
    await page.goto(`${berth.url}/ui/images/${solo}`);
    const tags = page.getByRole('table', { name: `Tags of ${solo}` });
    await tags.getByRole('button', { name: 'Delete tag 2' }).click();
    const checked = tagCountCheck(page, solo);
    await page.getByRole('dialog', { name: 'Delete tag?' }).getByRole('button', { name: 'Delete tag' }).click();
    await checked;
    await waitFor('the tag to leave the table', async () => (await tags.getByRole('link', { name: '2', exact: true }).count()) === 0);
    await settle(page);
    assert.equal(await page.getByRole('dialog', { name: `Delete repository ${solo} too?` }).count(), 0);
  });

  await step('deleting the last tag offers to delete the repository; Cancel keeps it, tagless', async () => {
    await page.goto(`${berth.url}/ui/images/${multi}`);
    await page.getByRole('table', { name: `Tags of ${multi}` }).getByRole('button', { name: 'Delete tag 1' }).click();
    await page.getByRole('dialog', { name: 'Delete tag?' }).getByRole('button', { name: 'Delete tag' }).click();
    const offer = page.getByRole('dialog', { name: `Delete repository ${multi} too?` });
    await offer.getByText(/That was the last tag of/).waitFor();
    await offer.getByRole('button', { name: 'Cancel' }).click();
    await offer.waitFor({ state: 'detached' });
    await page.getByText('No tags left in this repository').waitFor();
    assert.equal((await adminGet(`/api/untagged?repository=${multi}`)).status, 200, 'the repository is still there');
  });

  await step('deleting the last tag and accepting the offer deletes the repository', async () => {
    await page.goto(`${berth.url}/ui/images/${solo}`);
    await page.getByRole('table', { name: `Tags of ${solo}` }).getByRole('button', { name: 'Delete tag 1' }).click();
    await page.getByRole('dialog', { name: 'Delete tag?' }).getByRole('button', { name: 'Delete tag' }).click();
    const offer = page.getByRole('dialog', { name: `Delete repository ${solo} too?` });
    await offer.getByRole('button', { name: 'Delete repository' }).waitFor();
    await settle(page);
    axe.push(await assertAccessible(page, 'Delete repository too? dialog (1280x800)'));
    await screenshot(page, 'last-tag-delete-repository');
    await offer.getByRole('button', { name: 'Delete repository' }).click();
    await page.waitForURL(/\/ui\/images$/);
    const list = page.getByRole('table', { name: 'Repositories' });
    await list.getByRole('link', { name: multi, exact: true }).waitFor();
    await waitFor('the repository to leave the list', async () => (await list.getByRole('link', { name: solo, exact: true }).count()) === 0);
    const repositories = (await (await adminGet('/api/repositories')).json()) as RepositoriesResponse;
    assert.deepEqual(repositories.repositories.map((entry) => entry.name), [multi]);
    const audit = await berthCliOk(['audit', '--action', 'repository.delete', '--json', ...data]);
    assert.match(audit, /"repository":"team\/solo"/);
  });

  for (const line of axe) t.diagnostic(`axe: ${line}`);
  assert.deepEqual(pageErrors, [], 'no uncaught errors in the page');
});
