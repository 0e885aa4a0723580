import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Page } from 'playwright-core';
import { startBerth, type BerthProcess } from '../support/berth-process.js';
import { requireTools, toolSkipReason } from '../support/tools.js';
import { assertAccessible } from './accessibility.js';
import { firstPage, launchBrowser, navLink, waitFor, waitForText, withFailureScreenshot } from './browser-session.js';
import { guiTools, signedInPage, startFilledBerth } from './gui-fixture.js';

/**
 * What the GUI says when things are not there: Berth stopped under an open page (one notice, not a red box per
 * panel, and everything back by itself when Berth is), a repository or tag that does not exist (a way back, not only
 * "Try again"), and the sign-in page a signed-out or expired browser gets. Real `berth serve`, default token auth.
 */

/** Marks the current document, so a later check can tell a live recovery from a page reload. */
async function markDocument(page: Page): Promise<void> {
  await page.evaluate(() => {
    (globalThis as { berthTestMark?: number }).berthTestMark = 1;
  });
}

async function documentStillMarked(page: Page): Promise<boolean> {
  return page.evaluate(() => (globalThis as { berthTestMark?: number }).berthTestMark === 1);
}

test('the GUI when Berth stops, when a repository is missing, and when the session ends', { skip: toolSkipReason(...guiTools), timeout: 180_000 }, async (t) => {
  requireTools(...guiTools);
  const filled = await startFilledBerth(t);
  const { dataDir, repository } = filled;
  let berth: BerthProcess = filled.berth;
  const { page } = await signedInPage(t, berth);
  const step = (name: string, fn: () => Promise<void>) => t.test(name, () => withFailureScreenshot(page, name, fn));
  const notice = page.getByRole('alert').filter({ hasText: 'Berth is not answering' });

  await step('with Berth stopped, one notice says so with what to do, and the page recovers by itself when Berth is back', async () => {
    await navLink(page, 'Mirror').click();
    await page.getByRole('table', { name: 'Job history' }).waitFor();
    await markDocument(page);
    const address = berth.host;
    await berth.stop();

    // An idle page learns it from the event stream dropping: the notice appears without any click.
    await notice.waitFor({ timeout: 20_000 });
    // What was on screen stays on screen (stale but useful), under the one notice.
    await page.getByRole('article', { name: 'Upstream local' }).waitFor();

    // Opening pages while Berth is gone: every panel's request fails, and still only the one notice shows.
    await navLink(page, 'Settings').click();
    await page.getByRole('heading', { name: 'Settings', level: 1 }).waitFor();
    await navLink(page, 'Mirror').click();
    await page.getByRole('heading', { name: 'Mirror', level: 1 }).waitFor();
    await waitFor('the failed loads of the three Mirror panels', async () => (await page.getByLabel(/^Loading/).count()) === 0, 15_000);
    assert.equal(await page.getByRole('alert').count(), 1, 'exactly one alert on the page');
    assert.equal(await notice.count(), 1);
    const text = (await page.getByRole('main').textContent()) ?? '';
    assert.equal(text.includes('`'), false, `no literal backticks on the page: ${text.slice(0, 300)}`);
    assert.equal(await notice.locator('code').filter({ hasText: /^berth serve$/ }).count(), 1, 'the command to run is a code span');
    assert.equal(await notice.locator('code').filter({ hasText: address }).count(), 1, 'the notice says which address it tried');
    await assertAccessible(page, 'Mirror with Berth stopped (light, 1280x800)');

    // Berth comes back on the same address (sessions live in its data directory): the notice goes, the panels load.
    berth = await startBerth({ dataDir, auth: 'token', listen: address });
    t.after(async () => {
      await berth.stop();
    });
    await notice.waitFor({ state: 'detached', timeout: 30_000 });
    await page.getByRole('table', { name: 'Job history' }).waitFor({ timeout: 20_000 });
    await page.getByRole('table', { name: 'Sync rules' }).waitFor();
    await page.getByRole('status', { name: 'Live updates on' }).waitFor({ timeout: 20_000 });
    assert.ok(await documentStillMarked(page), 'it recovered in place, without a reload');
  });

  await step('a missing repository says so and leads back to Images, not only “Try again”', async () => {
    await page.goto(`${berth.url}/ui/images/team/does-not-exist`);
    await page.getByRole('heading', { name: 'Repository not found', level: 1 }).waitFor();
    await waitForText(page.getByRole('main'), /There is no repository “team\/does-not-exist”/);
    assert.equal(await page.getByRole('button', { name: 'Try again' }).count(), 0, 'no pointless retry');
    assert.equal(await page.getByRole('alert').count(), 0, 'not an error box: an empty state');
    await assertAccessible(page, 'Missing repository (light, 1280x800)');
    await page.getByRole('main').getByRole('link', { name: 'Back to Images' }).click();
    await page.getByRole('table', { name: 'Repositories' }).getByRole('link', { name: repository }).waitFor();
  });

  await step('a missing tag says so in the details drawer and leads back to the tags', async () => {
    await page.goto(`${berth.url}/ui/images/${repository}?tag=no-such-tag`);
    const drawer = page.getByRole('dialog', { name: `${repository}:no-such-tag` });
    await waitForText(drawer, /There is no tag “no-such-tag” in team\/app/);
    assert.equal(await drawer.getByRole('button', { name: 'Try again' }).count(), 0);
    await drawer.getByRole('button', { name: 'Back to the tags' }).click();
    await drawer.waitFor({ state: 'detached' });
    assert.equal(new URL(page.url()).search, '', 'the address no longer names the tag');
    await page.getByRole('table', { name: `Tags of ${repository}` }).waitFor();
  });

  await step('after signing out, the sign-in page explains how to get in and passes axe in both themes', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in to Berth', level: 1 }).waitFor();
    await page.getByRole('main').getByText('berth ui-url', { exact: true }).first().waitFor();
    await assertAccessible(page, 'Sign-in page (light)');

    // A browser that never signed in, with a dark OS: the same page, and the same result.
    const dark = await launchBrowser(t, { colorScheme: 'dark' });
    const darkPage = await firstPage(dark);
    await darkPage.goto(`${berth.url}/ui/audit`);
    await darkPage.getByRole('heading', { name: 'Sign in to Berth', level: 1 }).waitFor();
    assert.equal(await darkPage.locator('html').getAttribute('data-mantine-color-scheme'), 'dark');
    await assertAccessible(darkPage, 'Sign-in page (dark)');
  });
});
