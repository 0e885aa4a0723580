import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Locator, Page } from 'playwright-core';
import { berthCliOk } from '../e2e/mirror-fixture.js';
import { dockerRef, skopeoCopy } from '../e2e/skopeo.js';
import { startBerth, type BerthProcess } from '../support/berth-process.js';
import { createImageLayout, createIndexLayout } from '../support/oci-layout.js';
import { makeTempDir } from '../support/temp-dir.js';
import { requireTools, toolSkipReason } from '../support/tools.js';
import { assertAccessible } from './accessibility.js';
import { screenshot, settle, waitFor, waitForText, withFailureScreenshot } from './browser-session.js';
import { guiTools, signedInPage } from './gui-fixture.js';
import { chooseTheme } from './gui-views.js';

/**
 * Browsing a big registry in the GUI: a repository of 1,001 tags plus `latest` (paged, filtered, in natural version
 * order), a multi-platform index opened one platform at a time, layer history, a referrer opened and downloaded,
 * untagged manifests, and delete-repository. A real `berth serve` with its default token auth; images pushed by
 * skopeo, the tag fan-out and the referrer by plain registry-protocol PUTs with a CLI-made token.
 */

const narrow = { width: 800, height: 600 };
const wide = { width: 1280, height: 800 };
const ociManifest = 'application/vnd.oci.image.manifest.v1+json';

const sha256 = (bytes: Uint8Array) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/** `/v2` calls with the token as Basic credentials, as `docker login` would send them. */
function registryClient(berth: BerthProcess, name: string, secret: string) {
  const authorization = `Basic ${Buffer.from(`${name}:${secret}`).toString('base64')}`;
  async function call(method: string, path: string, init: { body?: Uint8Array; headers?: Record<string, string> } = {}): Promise<Response> {
    return fetch(`${berth.url}${path}`, { method, body: init.body, headers: { authorization, ...init.headers }, signal: AbortSignal.timeout(10_000) });
  }
  return {
    async getManifest(repository: string, reference: string): Promise<Buffer> {
      const response = await call('GET', `/v2/${repository}/manifests/${reference}`, { headers: { accept: ociManifest } });
      assert.equal(response.status, 200, `GET manifest ${repository}:${reference}`);
      return Buffer.from(await response.arrayBuffer());
    },
    async putManifest(repository: string, reference: string, bytes: Uint8Array): Promise<void> {
      const response = await call('PUT', `/v2/${repository}/manifests/${reference}`, { body: bytes, headers: { 'content-type': ociManifest } });
      assert.equal(response.status, 201, `PUT manifest ${repository}:${reference}: ${await response.text()}`);
    },
    async putBlob(repository: string, bytes: Uint8Array): Promise<string> {
      const digest = sha256(bytes);
      const response = await call('POST', `/v2/${repository}/blobs/uploads/?digest=${encodeURIComponent(digest)}`, { body: bytes, headers: { 'content-type': 'application/octet-stream' } });
      assert.equal(response.status, 201, `POST blob: ${await response.text()}`);
      return digest;
    },
    async catalog(): Promise<string[]> {
      const response = await call('GET', '/v2/_catalog');
      assert.equal(response.status, 200);
      return ((await response.json()) as { repositories: string[] }).repositories;
    },
  };
}

/** The text of a row's cell under the column headed `header` (exactly). */
async function cellText(table: Locator, row: Locator, header: string): Promise<string> {
  const headers = (await table.getByRole('columnheader').allTextContents()).map((text) => text.trim());
  const column = headers.indexOf(header);
  assert.ok(column >= 0, `a "${header}" column in ${headers.join(' | ')}`);
  return ((await row.getByRole('cell').nth(column).textContent()) ?? '').trim();
}

/** The visible tag names of the tag table, in order. */
async function visibleTags(page: Page, repository: string): Promise<string[]> {
  return page.getByRole('table', { name: `Tags of ${repository}` }).locator('tbody tr td:first-child a').allTextContents();
}

test('browsing at scale: 1,001 tags paged in natural order, platforms, layer history, referrers, untagged, delete repository', { skip: toolSkipReason(...guiTools), timeout: 300_000 }, async (t) => {
  requireTools(...guiTools);
  const dataDir = await makeTempDir(t, 'berth-gui-browse-');
  const berth = await startBerth({ dataDir, auth: 'token' });
  t.after(() => berth.stop());
  const data = ['--data', dataDir];
  const secret = (await berthCliOk(['token', 'create', '--name', 'ci', '--scope', 'team/*:pull,push', ...data])).trim().split('\n').pop() ?? '';
  const client = registryClient(berth, 'ci', secret);
  const creds = ['--dest-creds', `ci:${secret}`];
  const layouts = await makeTempDir(t, 'berth-gui-browse-images-');

  // One image under 1,001 numbered tags and `latest`.
  const many = 'team/many';
  const image = await createImageLayout(join(layouts, 'many'), { tag: 'seed', layers: [{ bytes: 8 * 1024, files: 2 }, { bytes: 4 * 1024 }] });
  await skopeoCopy(image.ref, dockerRef(berth.host, many, 'latest'), creds);
  const manifest = await client.getManifest(many, 'latest');
  const names = Array.from({ length: 1001 }, (_, i) => `t${i + 1}`);
  for (let i = 0; i < names.length; i += 8) await Promise.all(names.slice(i, i + 8).map((name) => client.putManifest(many, name, manifest)));

  // A two-platform index, and a referrer (an SBOM artifact) on it.
  const multi = 'team/multi';
  const index = await createIndexLayout(join(layouts, 'multi'), { tag: '2.0', layersPerImage: [{ bytes: 16 * 1024, files: 2 }, { bytes: 8 * 1024 }] });
  await skopeoCopy(index.ref, dockerRef(berth.host, multi, '2.0'), ['--all', ...creds]);
  const empty = await client.putBlob(multi, Buffer.from('{}'));
  const sbom = Buffer.from(JSON.stringify({ spdxVersion: 'SPDX-2.3', name: 'multi', nonce: randomBytes(4).toString('hex') }));
  const sbomDigest = await client.putBlob(multi, sbom);
  const referrer = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: ociManifest,
      artifactType: 'application/spdx+json',
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: empty, size: 2 },
      layers: [{ mediaType: 'application/spdx+json', digest: sbomDigest, size: sbom.length, annotations: { 'org.opencontainers.image.title': 'sbom.spdx.json' } }],
      subject: { mediaType: 'application/vnd.oci.image.index.v1+json', digest: index.manifestDigest, size: index.manifestBytes.length },
    }),
  );
  const referrerDigest = sha256(referrer);
  await client.putManifest(multi, referrerDigest, referrer);

  // A repository to delete.
  const doomed = 'team/old';
  const old = await createImageLayout(join(layouts, 'old'), { tag: '1', layers: [{ bytes: 4 * 1024 }] });
  await skopeoCopy(old.ref, dockerRef(berth.host, doomed, '1'), creds);

  const { page } = await signedInPage(t, berth);
  const pageErrors: string[] = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));
  const step = (name: string, fn: () => Promise<void>) => t.test(name, () => withFailureScreenshot(page, name, fn));
  const axe: string[] = [];

  await step('the repository list shows size, last push and a pushed badge per repository', async () => {
    await page.goto(`${berth.url}/ui/images`);
    const table = page.getByRole('table', { name: 'Repositories' });
    const row = table.getByRole('row').filter({ has: page.getByRole('link', { name: multi, exact: true }) });
    await row.waitFor();
    const text = (await row.textContent()) ?? '';
    assert.match(text, /Pushed/);
    assert.match(text, /KiB/, `a size in the row: ${text}`);
    assert.match(text, /ago|just now/, `a last push in the row: ${text}`);
    // Pull records: team/many was pulled once (the GET of `latest` above), team/multi never.
    assert.equal(await cellText(table, row, 'Pulls (7 days)'), '0');
    const manyRow = table.getByRole('row').filter({ has: page.getByRole('link', { name: many, exact: true }) });
    assert.equal(await cellText(table, manyRow, 'Pulls (7 days)'), '1');
    await settle(page);
    axe.push(await assertAccessible(page, 'Images with sizes (1280x800)'));
    await screenshot(page, 'images-list-sizes');
  });

  await step('1,001 tags open as one page of 50: latest first, then t1001, t1000, ...; the next page goes on', async () => {
    await page.goto(`${berth.url}/ui/images/${many}`);
    const table = page.getByRole('table', { name: `Tags of ${many}` });
    await table.locator('tbody tr').first().waitFor();
    assert.equal(await table.locator('tbody tr').count(), 50, 'one page rendered, not 1,002 rows');
    const first = await visibleTags(page, many);
    assert.deepEqual(first.slice(0, 4), ['latest', 't1001', 't1000', 't999']);
    // `latest` was pulled once by its name; t1001 (the same digest) never by name or digest.
    const latestRow = table.getByRole('row').filter({ has: page.getByRole('link', { name: 'latest', exact: true }) });
    assert.equal(await cellText(table, latestRow, 'Pulls'), '1');
    assert.match(await cellText(table, latestRow, 'Last pull'), /ago|just now/);
    const neverRow = table.getByRole('row').filter({ has: page.getByRole('link', { name: 't1001', exact: true }) });
    assert.equal(await cellText(table, neverRow, 'Pulls'), '0');
    assert.equal(await cellText(table, neverRow, 'Last pull'), 'Never');
    const facts = (await page.getByRole('group', { name: 'Repository facts' }).textContent()) ?? '';
    assert.match(facts, /Last pull (\d+ \w+ ago|just now).*Pulls \(7 days\) 1/s, `the repository's pulls in its header: ${facts}`);
    await waitForText(page.getByRole('status').filter({ hasText: /of 1,002 tags/ }), /^1–50 of 1,002 tags$/);
    await page.getByRole('tab', { name: 'Tags (1,002)' }).waitFor();
    await page.getByRole('button', { name: 'Next page' }).click();
    await waitFor('the second page', async () => (await visibleTags(page, many))[0] === 't952');
    assert.match(page.url(), /after=t953/);
    await page.getByRole('button', { name: 'Previous page' }).click();
    await waitFor('the first page again', async () => (await visibleTags(page, many))[0] === 'latest');
    axe.push(await assertAccessible(page, `Tags of ${many}, page 1 (1280x800)`));
    await screenshot(page, 'tags-paged');
  });

  await step('name order is natural (t1, t2, ... t10, not t1, t10, t100), and the URL keeps it across a reload', async () => {
    await page.getByRole('textbox', { name: 'Sort by' }).click();
    await page.getByRole('option', { name: 'Name, natural order' }).click();
    await waitFor('the name order', async () => (await visibleTags(page, many))[1] === 't1');
    const shown = await visibleTags(page, many);
    assert.deepEqual(shown.slice(0, 12), ['latest', 't1', 't2', 't3', 't4', 't5', 't6', 't7', 't8', 't9', 't10', 't11']);
    await page.reload();
    await waitFor('the name order after a reload', async () => (await visibleTags(page, many).catch(() => []))[1] === 't1');
    assert.match(page.url(), /sort=name/);
  });

  await step('the filter narrows the tags on the server and says how many match', async () => {
    await page.getByRole('searchbox', { name: 'Filter tags' }).fill('t100');
    await waitFor('the filtered tags', async () => (await visibleTags(page, many)).join(',') === 't100,t1000,t1001');
    await waitForText(page.getByRole('status').filter({ hasText: /matching/ }), /^1–3 of 3 tags matching “t100”$/);
    assert.match(page.url(), /q=t100/);
    await page.setViewportSize(narrow);
    await settle(page);
    axe.push(await assertAccessible(page, `Tags of ${many}, filtered (800x600)`));
    await screenshot(page, 'tags-filtered-narrow');
    await page.setViewportSize(wide);
  });

  await step('a tag’s details show the layer history: each layer beside the command that made it', async () => {
    await page.goto(`${berth.url}/ui/images/${many}?tag=t1`);
    const drawer = page.getByRole('dialog', { name: `${many}:t1` });
    const layers = drawer.getByRole('table', { name: 'Layers' });
    await layers.locator('tbody tr').first().waitFor();
    const rows = await layers.locator('tbody tr').allTextContents();
    assert.equal(rows.length, 2);
    assert.match(rows[0] ?? '', /berth test layer 0 \(2 files\)/);
    assert.match(rows[1] ?? '', /berth test layer 1 \(1 files\)/);
    await drawer.getByText('Pushed', { exact: true }).waitFor();
    assert.match((await drawer.textContent()) ?? '', /Created.*Pushed.*Last pull\s*Never.*Pulls\s*0/s);
    axe.push(await assertAccessible(page, 'Tag drawer with layer history (1280x800)'));
    await screenshot(page, 'tag-history');
  });

  await step('an index lists its platforms with their image sizes; a click opens that platform’s own details', async () => {
    await page.goto(`${berth.url}/ui/images/${multi}?tag=2.0`);
    const drawer = page.getByRole('dialog', { name: `${multi}:2.0` });
    const platforms = drawer.getByRole('table', { name: 'Platform manifests' });
    await platforms.locator('tbody tr').first().waitFor();
    const arm = index.images[1];
    assert.ok(arm);
    const armRow = platforms.getByRole('row').filter({ has: page.getByRole('link', { name: 'linux/arm64/v8' }) });
    const armSize = arm.manifestBytes.length + arm.totalBytes;
    assert.match((await armRow.textContent()) ?? '', new RegExp(`${(armSize / 1024).toFixed(1).replace(/\.0$/, '')} KiB`), 'the image size, not the 0.4 KiB of its manifest');
    await screenshot(page, 'index-platforms');
    await armRow.getByRole('link', { name: 'linux/arm64/v8' }).click();
    const child = page.getByRole('dialog', { name: new RegExp(`^${multi}@sha256:${arm.manifestDigest.slice(7, 19)}`) });
    await child.getByRole('table', { name: 'Layers' }).waitFor();
    await child.getByText('linux/arm64/v8', { exact: true }).first().waitFor();
    assert.match(page.url(), new RegExp(`digest=${encodeURIComponent(arm.manifestDigest)}`));
    await child.getByRole('link', { name: `← Back to ${multi}:2.0` }).click();
    await page.getByRole('dialog', { name: `${multi}:2.0` }).getByRole('table', { name: 'Platform manifests' }).waitFor();
  });

  await step('a referrer opens in place and downloads byte-exact, as the manifest and as its file', async () => {
    const drawer = page.getByRole('dialog', { name: `${multi}:2.0` });
    const referrers = drawer.getByRole('table', { name: 'Referrers' });
    await referrers.locator('tbody tr').first().waitFor();
    const [manifestDownload] = await Promise.all([page.waitForEvent('download'), referrers.getByRole('link', { name: /^Download referrer/ }).click()]);
    assert.equal(manifestDownload.suggestedFilename(), `multi-${referrerDigest.slice(7, 19)}.json`);
    assert.deepEqual(await readFile(await manifestDownload.path()), referrer);

    await referrers.getByRole('link', { name: /^Open referrer/ }).click();
    const opened = page.getByRole('dialog', { name: new RegExp(`^${multi}@sha256:${referrerDigest.slice(7, 19)}`) });
    await opened.getByRole('link', { name: `sha256:${index.manifestDigest.slice(7, 23)}` }).waitFor();
    const files = opened.getByRole('table', { name: 'Artifact files' });
    await files.locator('tbody tr').first().waitFor();
    assert.match((await opened.textContent()) ?? '', /application\/spdx\+json/);
    axe.push(await assertAccessible(page, 'Referrer drawer (1280x800)'));
    await screenshot(page, 'referrer-open');
    const [fileDownload] = await Promise.all([page.waitForEvent('download'), files.getByRole('link', { name: 'Download sbom.spdx.json' }).click()]);
    assert.equal(fileDownload.suggestedFilename(), 'sbom.spdx.json');
    assert.deepEqual(await readFile(await fileDownload.path()), sbom);
  });

  await step('untagged manifests have their own tab: the index’s platforms and the referrer, each opening by digest', async () => {
    await page.goto(`${berth.url}/ui/images/${multi}`);
    await page.getByRole('tab', { name: 'Untagged' }).click();
    await page.getByRole('tab', { name: 'Untagged (3)' }).waitFor();
    const table = page.getByRole('table', { name: `Untagged manifests of ${multi}` });
    await table.locator('tbody tr').first().waitFor();
    const text = (await table.textContent()) ?? '';
    assert.equal((text.match(/Platform of an index/g) ?? []).length, 2);
    assert.equal((text.match(/Referrer/g) ?? []).length, 1);
    assert.match(page.url(), /view=untagged/);
    axe.push(await assertAccessible(page, `Untagged manifests of ${multi} (1280x800)`));
    await screenshot(page, 'untagged');
    await page.setViewportSize(narrow);
    await settle(page);
    axe.push(await assertAccessible(page, `Untagged manifests of ${multi} (800x600)`));
    await screenshot(page, 'untagged-narrow');
    await page.setViewportSize(wide);
    // The kind badges and the drawer's new parts in the dark theme too (colours differ there).
    await chooseTheme(page, 'Dark');
    await table.locator('tbody tr').first().waitFor();
    axe.push(await assertAccessible(page, `Untagged manifests of ${multi} (dark, 1280x800)`));
    await table.getByRole('link', { name: `sha256:${referrerDigest.slice(7, 19)}` }).click();
    await page.getByRole('dialog', { name: new RegExp(`^${multi}@sha256:${referrerDigest.slice(7, 19)}`) }).getByRole('table', { name: 'Artifact files' }).waitFor();
    axe.push(await assertAccessible(page, 'Referrer drawer (dark, 1280x800)'));
    await page.goto(`${berth.url}/ui/images/${multi}?tag=2.0`);
    await page.getByRole('dialog', { name: `${multi}:2.0` }).getByRole('table', { name: 'Platform manifests' }).waitFor();
    axe.push(await assertAccessible(page, 'Index drawer (dark, 1280x800)'));
    await page.goto(`${berth.url}/ui/images/${multi}`);
    await chooseTheme(page, 'Light');
  });

  await step('delete repository asks first, then removes every tag: gone from the list and from _catalog', async () => {
    assert.ok((await client.catalog()).includes(doomed));
    await page.goto(`${berth.url}/ui/images/${doomed}`);
    await page.getByRole('table', { name: `Tags of ${doomed}` }).locator('tbody tr').first().waitFor();
    await page.getByRole('button', { name: 'Delete repository' }).click();
    const dialog = page.getByRole('dialog', { name: 'Delete repository?' });
    await dialog.getByText(/every tag \(1\) and every manifest/).waitFor();
    axe.push(await assertAccessible(page, 'Delete repository dialog (1280x800)'));
    await screenshot(page, 'delete-repository');
    await dialog.getByRole('button', { name: 'Delete repository' }).click();
    await page.waitForURL(/\/ui\/images$/);
    const table = page.getByRole('table', { name: 'Repositories' });
    await table.getByRole('link', { name: many, exact: true }).waitFor();
    await waitFor('the repository to leave the list', async () => (await table.getByRole('link', { name: doomed, exact: true }).count()) === 0);
    assert.ok(!(await client.catalog()).includes(doomed), '_catalog no longer lists it');
    const audit = await berthCliOk(['audit', '--action', 'repository.delete', '--json', ...data]);
    const event = JSON.parse(audit.trim().split('\n').pop() ?? '{}') as { repository?: string; actor?: string };
    assert.deepEqual([event.repository, event.actor], [doomed, 'admin'], 'audited as the admin’s repository.delete');
  });

  for (const line of axe) t.diagnostic(`axe: ${line}`);
  assert.deepEqual(pageErrors, [], 'no uncaught errors in the page');
});
