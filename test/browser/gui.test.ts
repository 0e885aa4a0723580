import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Page } from 'playwright-core';
import { dockerRef, skopeoCopy, skopeoCopyResult } from '../e2e/skopeo.js';
import { startBerth, type BerthProcess } from '../support/berth-process.js';
import { startDistribution } from '../support/distribution.js';
import { createImageLayout, type ImageLayout } from '../support/oci-layout.js';
import { makeTempDir } from '../support/temp-dir.js';
import { requireTools, toolSkipReason, type ToolSpec } from '../support/tools.js';
import { assertAccessible } from './accessibility.js';
import { firstPage, launchBrowser, navLink, screenshot, waitFor, waitForText, withFailureScreenshot } from './browser-session.js';

/**
 * Berth's GUI as a person uses it: a real `berth serve` with token auth, Debian's Chromium, real clients
 * (skopeo) and a real upstream (docker-registry). One story in order, because each step builds on the one
 * before: sign in, create a token, push with it, see the push arrive live, inspect and delete a tag, mirror
 * an upstream, revoke the token. With BERTH_SCREENSHOTS=1 it also writes the README's screenshots.
 */

const tools: ToolSpec[] = ['skopeo', { name: '/usr/lib/chromium/chromium', debianPackage: 'chromium' }, 'docker-registry'];

/** Admin API answers and /v2 answers are checked with the token as Basic credentials (Berth accepts them). */
function basic(name: string, secret: string): string {
  return `Basic ${Buffer.from(`${name}:${secret}`).toString('base64')}`;
}

async function manifestStatus(berth: BerthProcess, repository: string, tag: string, auth: string): Promise<number> {
  const response = await fetch(`${berth.url}/v2/${repository}/manifests/${tag}`, {
    headers: { authorization: auth, accept: 'application/vnd.oci.image.manifest.v1+json' },
  });
  await response.body?.cancel();
  return response.status;
}

/** Marks the current document, so a later check can tell a live update from a page reload. */
async function markDocument(page: Page): Promise<void> {
  await page.evaluate(() => {
    (globalThis as { berthTestMark?: number }).berthTestMark = 1;
  });
}

async function documentStillMarked(page: Page): Promise<boolean> {
  return page.evaluate(() => (globalThis as { berthTestMark?: number }).berthTestMark === 1);
}

/**
 * Records every value the job's progress bars take, from inside the page: the job can finish within a second
 * on loopback, faster than polling from the test would notice, but not faster than a MutationObserver.
 */
async function recordJobProgress(page: Page): Promise<void> {
  // A string, not a function: this project compiles without the DOM library, and the code runs in the page.
  await page.evaluate(`(() => {
    const seen = [];
    window.berthJobProgress = seen;
    const sample = () => {
      for (const bar of document.querySelectorAll('article[aria-label^="Job "] [role="progressbar"]')) {
        const label = bar.closest('[aria-label$=" progress"]')?.getAttribute('aria-label') ?? bar.getAttribute('aria-label') ?? '?';
        const entry = label + '=' + (bar.getAttribute('aria-valuenow') ?? '');
        if (!seen.includes(entry)) seen.push(entry);
      }
    };
    new MutationObserver(sample).observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['aria-valuenow'] });
  })()`);
}

async function recordedJobProgress(page: Page): Promise<string[]> {
  return page.evaluate(() => (globalThis as { berthJobProgress?: string[] }).berthJobProgress ?? []);
}

test('Berth in a browser: sign in, tokens, live pushes, tag details, mirroring, revocation', { skip: toolSkipReason(...tools), timeout: 150_000 }, async (t) => {
  requireTools(...tools);
  const dataDir = await makeTempDir(t, 'berth-gui-');
  const berth = await startBerth({ dataDir, auth: 'token' });
  t.after(() => berth.stop());
  const context = await launchBrowser(t);
  const page = await firstPage(context);
  const pageErrors: string[] = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));

  // Images to push: two tags of one repository with different content (gzip layers, so skopeo pushes them unchanged).
  const layouts = await makeTempDir(t, 'berth-gui-images-');
  const images: ImageLayout[] = [];
  for (const tag of ['1.0', '1.1']) {
    images.push(await createImageLayout(join(layouts, 'app'), { tag, layers: [{ bytes: 64 * 1024, files: 3 }, { bytes: 200 * 1024 }] }));
  }
  const [first, second] = images as [ImageLayout, ImageLayout];

  const step = (name: string, fn: () => Promise<void>) => t.test(name, () => withFailureScreenshot(page, name, fn));
  const tokenName = 'ci-push';
  let secret = '';

  await step('the sign-in link signs the browser in and the overview shows the listener', async () => {
    await page.goto(await berth.signInUrl());
    await page.waitForURL(/\/ui\/?$/);
    await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
    await page.getByRole('link', { name: berth.url }).first().waitFor();
    await page.getByRole('status', { name: 'Live updates on' }).waitFor();
    // Berth runs with an HTTPS listener too: the TLS panel must say so, not "HTTPS off".
    assert.equal(typeof berth.ready.tlsUrl, 'string', 'berth serve opened its HTTPS listener');
    await page.getByRole('link', { name: String(berth.ready.tlsUrl).replace(/\/$/, '') }).first().waitFor();
    await page.getByText('HTTPS on', { exact: true }).waitFor({ timeout: 5_000 });
    await screenshot(page, 'overview-empty');
  });

  await step('a token created in the GUI shows its secret once, then appears in the list', async () => {
    await navLink(page, 'Access tokens').click();
    await page.getByRole('heading', { name: 'Access tokens', level: 1 }).waitFor();
    await page.getByRole('button', { name: 'Create token' }).first().click();
    const form = page.getByRole('dialog', { name: 'Create access token' });
    await form.getByLabel('Token name').fill(tokenName);
    await form.getByLabel('Scope 1 repository pattern').fill('team/*');
    // Each action checkbox is named by its visible label; the row is the group "Scope 1".
    const scope = form.getByRole('group', { name: 'Scope 1' });
    await scope.getByRole('checkbox', { name: 'push', exact: true }).check();
    assert.equal(await scope.getByRole('checkbox', { name: 'pull', exact: true }).isChecked(), true, 'pull is on by default');
    await screenshot(page, 'tokens-create');
    await form.getByRole('button', { name: 'Create token' }).click();

    const shown = page.getByRole('dialog', { name: `Token “${tokenName}” created` });
    secret = await waitFor('the token secret', () => shown.getByLabel('Token secret').inputValue());
    assert.ok(secret.length >= 20, `a real secret, got ${JSON.stringify(secret)}`);
    // The copied login line is the README's: the secret comes from $TOKEN on stdin, never from the command line.
    const loginLine = await shown.locator('pre code').textContent();
    assert.equal(loginLine, `echo "$TOKEN" | docker login ${berth.host} -u ${tokenName} --password-stdin`);
    await assertAccessible(page, 'Token secret dialog (light, 1280x800)');

    // The secret is shown once: a stray Esc or a click beside the dialog asks before throwing it away.
    const question = shown.getByRole('alert').filter({ hasText: 'Close without the token?' });
    await page.keyboard.press('Escape');
    await question.waitFor();
    assert.equal(await shown.getByLabel('Token secret').inputValue(), secret, 'Esc left the dialog and its secret on screen');
    await page.keyboard.press('Escape');
    assert.ok(await shown.isVisible(), 'a second Esc does not close it either');
    await shown.getByRole('button', { name: 'Keep it open' }).click();
    await question.waitFor({ state: 'detached' });
    await page.mouse.click(5, 400);
    await question.waitFor();
    assert.ok(await shown.isVisible(), 'a click outside did not close it');
    await screenshot(page, 'tokens-secret-close');
    await shown.getByRole('button', { name: 'Keep it open' }).click();
    await shown.getByRole('button', { name: 'I have copied the token' }).click();
    await shown.waitFor({ state: 'detached' });

    const row = page.getByRole('table', { name: 'Access tokens' }).getByRole('row').filter({ hasText: tokenName });
    await row.waitFor();
    await waitForText(row, /team\/\*:pull,push/);
    await waitForText(row, /active/);
    assert.equal(await page.getByText(secret).count(), 0, 'the secret is not shown anywhere once the dialog is closed');
    await screenshot(page, 'tokens');
  });

  await step('a skopeo push with that token appears on the Images page without a reload', async () => {
    await navLink(page, 'Images').click();
    await page.getByRole('heading', { name: 'No images yet' }).waitFor();
    await markDocument(page);
    for (const image of images) {
      await skopeoCopy(image.ref, dockerRef(berth.host, 'team/app', image.tag), ['--dest-creds', `${tokenName}:${secret}`]);
    }
    const link = page.getByRole('table', { name: 'Repositories' }).getByRole('link', { name: 'team/app' });
    await link.waitFor({ timeout: 15_000 });
    assert.ok(await documentStillMarked(page), 'the repository appeared through the live event stream, not a reload');
  });

  await step('tag details show digest and layers; deleting the tag removes it from the GUI and from /v2', async () => {
    const auth = basic(tokenName, secret);
    assert.equal(await manifestStatus(berth, 'team/app', first.tag, auth), 200);
    await page.getByRole('table', { name: 'Repositories' }).getByRole('link', { name: 'team/app' }).click();
    const tags = page.getByRole('table', { name: 'Tags of team/app' });
    // A tag's name is a link to its details, named just by the tag (the table names the repository).
    await tags.getByRole('link', { name: second.tag, exact: true }).waitFor();
    await tags.getByRole('link', { name: first.tag, exact: true }).click();

    const drawer = page.getByRole('dialog', { name: `team/app:${first.tag}` });
    const digest = drawer.locator('code').filter({ hasText: /^sha256:[0-9a-f]{64}$/ }).first();
    assert.equal(await digest.textContent(), first.manifestDigest, 'the digest the push created');
    const layers = drawer.getByRole('table', { name: 'Layers' });
    await layers.waitFor();
    assert.equal(await layers.locator('tbody tr').count(), first.layers.length, 'one row per layer');
    for (const layer of first.layers) {
      await layers.getByTitle(layer.digest).waitFor();
    }
    await waitForText(drawer, /linux\/amd64/);
    await screenshot(page, 'images');

    await drawer.getByRole('button', { name: 'Delete tag', exact: true }).click();
    const confirm = page.getByRole('dialog', { name: 'Delete tag?' });
    await waitForText(confirm, new RegExp(`team/app:${first.tag.replace('.', '\\.')}`));
    await assertAccessible(page, 'Delete tag confirmation (light, 1280x800)');
    await confirm.getByRole('button', { name: 'Delete tag' }).click();
    await confirm.waitFor({ state: 'detached' });
    await drawer.waitFor({ state: 'hidden' });
    await tags.getByRole('link', { name: first.tag, exact: true }).waitFor({ state: 'detached' });
    await tags.getByRole('link', { name: second.tag, exact: true }).waitFor();
    assert.equal(await manifestStatus(berth, 'team/app', first.tag, auth), 404, 'the deleted tag is gone over /v2 too');
    assert.equal(await manifestStatus(berth, 'team/app', second.tag, auth), 200, 'the other tag stays');
  });

  await step('“Free unused space” on the overview asks first and says what it would free', async () => {
    await navLink(page, 'Overview').click();
    await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
    await page.getByRole('button', { name: 'Free unused space' }).click();
    const dialog = page.getByRole('dialog', { name: 'Free unused space' });
    // Everything here was pushed seconds ago, so the server's grace period may spare it: either answer is right,
    // as long as the dry run's answer is shown and nothing is deleted without a second click.
    const text = await waitForText(dialog, /Nothing to free(: every stored blob belongs to an image| yet)|no image uses any more/);
    await assertAccessible(page, 'Free unused space dialog (light, 1280x800)');
    if (/Nothing to free/.test(text)) {
      assert.equal(await dialog.getByRole('button', { name: /^Free / }).count(), 0, 'no action offered when nothing can be freed');
      await dialog.getByRole('button', { name: 'Close', exact: true }).click();
    } else {
      await dialog.getByRole('button', { name: /^Free \d/ }).waitFor();
      await dialog.getByRole('button', { name: 'Cancel' }).click();
    }
    await dialog.waitFor({ state: 'detached' });
  });

  await step('mirror: an upstream and a sync rule added in the GUI copy the upstream’s tags with live progress', async () => {
    const upstream = await startDistribution({ accessLog: false, logLevel: 'warn' });
    t.after(() => upstream.stop());
    const upstreamTags = ['3.18', '3.19', '3.20'];
    for (const tag of upstreamTags) {
      // A few MiB per image, so the job lasts long enough to show intermediate progress.
      const image = await createImageLayout(join(layouts, 'upstream'), { tag, layers: [{ bytes: 3 * 1024 * 1024, files: 4, compress: false }, { bytes: 32 * 1024 }] });
      await skopeoCopy(image.ref, dockerRef(upstream.host, 'library/alpine', tag));
    }

    await navLink(page, 'Mirror').click();
    await page.getByRole('heading', { name: 'Mirror', level: 1 }).waitFor();
    await page.getByRole('button', { name: 'Add upstream' }).first().click();
    const upstreamForm = page.getByRole('dialog', { name: 'Add upstream' });
    await upstreamForm.getByLabel('Upstream name').fill('local');
    await upstreamForm.getByLabel('Upstream URL').fill(upstream.url);
    // Anonymous pull is shown, with the default and its reason: on without credentials on a loopback Berth,
    // off as soon as credentials are typed (the person's own choice would win).
    const anonymousPull = upstreamForm.getByRole('switch', { name: 'Anonymous pull' });
    const switchedTo = (on: boolean) => waitFor(`anonymous pull ${on ? 'on' : 'off'}`, async () => (await anonymousPull.isChecked()) === on);
    await switchedTo(true);
    await upstreamForm.getByLabel('Username').fill('someone');
    await switchedTo(false);
    await waitForText(upstreamForm, /Off by default: the upstream’s credentials/);
    await upstreamForm.getByLabel('Username').fill('');
    await switchedTo(true);
    await assertAccessible(page, 'Add upstream dialog (light, 1280x800)');
    await upstreamForm.getByRole('button', { name: 'Add upstream' }).click();
    await upstreamForm.waitFor({ state: 'detached' });
    const card = page.getByRole('article', { name: 'Upstream local' });
    await waitForText(card, new RegExp(upstream.url.replace(/[.]/g, '\\.')));
    await waitForText(card, /anonymous pull/);

    await card.getByRole('button', { name: 'Test local' }).click();
    await waitForText(card.getByRole('status'), /./, 15_000);
    assert.match((await card.getByRole('status').textContent()) ?? '', /Connection works/);

    await page.getByRole('button', { name: 'Add sync rule' }).click();
    const ruleForm = page.getByRole('dialog', { name: 'Add sync rule' });
    await ruleForm.getByLabel('Rule name').fill('alpine');
    const repositories = ruleForm.getByRole('textbox', { name: 'Repositories' });
    await repositories.fill('library/alpine');
    await repositories.press('Enter');
    await ruleForm.getByRole('textbox', { name: 'Schedule' }).click();
    await page.getByRole('option', { name: 'Only when I click Run now' }).click();
    await assertAccessible(page, 'Add sync rule dialog (light, 1280x800)');
    await ruleForm.getByRole('button', { name: 'Add rule' }).click();
    await ruleForm.waitFor({ state: 'detached' });
    const rules = page.getByRole('table', { name: 'Sync rules' });
    await waitForText(rules, /library\/alpine/);

    await recordJobProgress(page);
    // "Run now" is the visible label, so it starts the accessible name (WCAG 2.5.3); the rule's name follows.
    await rules.getByRole('button', { name: 'Run now alpine' }).click();
    const history = page.getByRole('table', { name: 'Job history' });
    const finished = history.getByRole('row').filter({ hasText: 'alpine' });
    await waitForText(finished, /succeeded|failed/, 60_000);
    assert.match((await finished.textContent()) ?? '', /succeeded/, `the job succeeded: ${await finished.textContent()}`);
    assert.match((await finished.textContent()) ?? '', /3\/3/, 'three images copied');
    // The job's progress bars were on screen and moved: some bar took at least two different values.
    const progress = await recordedJobProgress(page);
    const valuesPerBar = new Map<string, Set<string>>();
    for (const entry of progress) {
      const [bar = '', value = ''] = entry.split('=');
      valuesPerBar.set(bar, (valuesPerBar.get(bar) ?? new Set()).add(value));
    }
    assert.ok(valuesPerBar.has('Images progress'), `the running job showed its progress bars: ${JSON.stringify(progress)}`);
    assert.ok([...valuesPerBar.values()].some((values) => values.size >= 2), `a progress bar moved while the job ran: ${JSON.stringify(progress)}`);
    // Scrolled to the end, the picture shows the rule and its finished job (the page is taller than 800 px).
    await page.evaluate(() => (globalThis as unknown as { scrollTo(x: number, y: number): void }).scrollTo(0, 100_000));
    await screenshot(page, 'mirror');

    await navLink(page, 'Images').click();
    await page.getByRole('table', { name: 'Repositories' }).getByRole('link', { name: 'local/library/alpine' }).click();
    const tags = page.getByRole('table', { name: 'Tags of local/library/alpine' });
    for (const tag of upstreamTags) await tags.getByRole('link', { name: tag, exact: true }).waitFor();
  });

  await step('a token revoked in the GUI is refused at once', async () => {
    await navLink(page, 'Access tokens').click();
    const row = page.getByRole('table', { name: 'Access tokens' }).getByRole('row').filter({ hasText: tokenName });
    await row.getByRole('button', { name: `Revoke ${tokenName}` }).click();
    const confirm = page.getByRole('dialog', { name: 'Revoke token?' });
    await confirm.getByRole('button', { name: 'Revoke token' }).waitFor();
    await assertAccessible(page, 'Revoke token confirmation (light, 1280x800)');
    await confirm.getByRole('button', { name: 'Revoke token' }).click();
    await confirm.waitFor({ state: 'detached' });
    await row.waitFor({ state: 'detached' });
    await page.getByText(/Show revoked and expired \(1\)/).waitFor();

    const refused = await skopeoCopyResult(second.ref, dockerRef(berth.host, 'team/app', 'after-revoke'), ['--dest-creds', `${tokenName}:${secret}`], {
      timeoutMs: 60_000,
    });
    assert.notEqual(refused.code, 0, 'skopeo fails with a revoked token');
    assert.match(refused.stderr, /401|unauthorized/i);
  });

  await step('settings and audit pages render (screenshots)', async () => {
    await navLink(page, 'Settings').click();
    await page.getByRole('heading', { name: 'Settings', level: 1 }).waitFor();
    await page.getByText('Running now:').waitFor();
    // The flag and variable the CLI really reads (registry/config/data-dir.ts).
    await waitForText(page.getByRole('main'), /Set with --data or BERTH_DATA when Berth starts/);
    await screenshot(page, 'settings');

    await navLink(page, 'Audit').click();
    await page.getByRole('heading', { name: 'Audit', level: 1 }).waitFor();
    await page.getByRole('table').first().waitFor();
    await waitForText(page.getByRole('main'), /token\.revoke/);
    await screenshot(page, 'audit');

    await navLink(page, 'Images').click();
    await page.getByRole('table', { name: 'Repositories' }).waitFor();
    await screenshot(page, 'images-list');

    // Back on the overview, the figures include the mirrored images (they were copied while another page was open).
    await navLink(page, 'Overview').click();
    await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
    const storage = page.getByText('Storage used', { exact: true }).locator('..');
    await waitFor('the overview’s storage figure to include the mirrored images', async () => {
      if (/MiB/.test((await storage.textContent()) ?? '')) return true;
      // Berth caches the storage walk for a few seconds: look again the way a person would, by coming back.
      await navLink(page, 'Images').click();
      await navLink(page, 'Overview').click();
      await storage.waitFor();
      return /MiB/.test((await storage.textContent()) ?? '');
    }, 20_000, 1_000);
    await screenshot(page, 'overview');

    // The theme follows the system setting until one is chosen: a second browser with dark preference, same session cookie.
    const dark = await launchBrowser(t, { colorScheme: 'dark' });
    await dark.addCookies(await context.cookies());
    const darkPage = await firstPage(dark);
    await darkPage.goto(`${berth.url}/ui/`);
    await darkPage.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
    assert.equal(await darkPage.locator('html').getAttribute('data-mantine-color-scheme'), 'dark');
    await screenshot(darkPage, 'overview-dark');
  });

  assert.deepEqual(pageErrors, [], 'no uncaught errors in the page');
});
