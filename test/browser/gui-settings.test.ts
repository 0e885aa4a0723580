import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SettingsResponse } from '../../registry/admin/contract.js';
import { startBerth } from '../support/berth-process.js';
import { freePort, probe } from '../support/net.js';
import { makeTempDir } from '../support/temp-dir.js';
import { requireTools, toolSkipReason, type ToolSpec } from '../support/tools.js';
import { assertAccessible } from './accessibility.js';
import { firstPage, launchBrowser, waitFor, withFailureScreenshot } from './browser-session.js';

/**
 * A new HTTP port set in Settings and applied with "Apply and restart listeners" on a running `berth serve` (default
 * token auth): the notice names the setting in words, Berth moves the listener without stopping, and the page
 * carries on at the new address, signed in.
 */

const tools: ToolSpec[] = [{ name: '/usr/lib/chromium/chromium', debianPackage: 'chromium' }];

test('Settings: maintenance values saved and kept; a new HTTP port, saved and applied in place; the GUI follows it', { skip: toolSkipReason(...tools), timeout: 120_000 }, async (t) => {
  requireTools(...tools);
  const dataDir = await makeTempDir(t, 'berth-gui-settings-');
  const berth = await startBerth({ dataDir, auth: 'token' });
  t.after(() => berth.stop());
  const port = await freePort();
  const context = await launchBrowser(t);
  const page = await firstPage(context);
  await page.goto(await berth.signInUrl());
  await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
  await withFailureScreenshot(page, 'maintenance', async () => {
    await page.goto(`${berth.url}/ui/settings`);
    const grace = page.getByRole('textbox', { name: 'Keep unused blobs for (minutes)' });
    await grace.fill('0');
    await page.getByText('A whole number from 1 to 10080').waitFor();
    await grace.fill('5');
    await page.getByRole('textbox', { name: 'Tag check interval for new upstreams (seconds)' }).fill('60');
    await page.getByRole('button', { name: 'Save maintenance settings' }).click();
    await page.getByRole('status').filter({ hasText: 'Applied: the next scheduled run' }).waitFor();
    await assertAccessible(page, 'Settings with maintenance (light, 1280x800)');
    await page.reload();
    await waitFor('the saved grace after a reload', async () => (await page.getByRole('textbox', { name: 'Keep unused blobs for (minutes)' }).inputValue()) === '5');
    assert.equal(await page.getByRole('textbox', { name: 'Tag check interval for new upstreams (seconds)' }).inputValue(), '60');
  });
  await withFailureScreenshot(page, 'apply-and-restart', async () => {
    await page.goto(`${berth.url}/ui/settings`);
    const port80 = page.getByRole('textbox', { name: 'HTTP port' });
    await port80.fill(String(port));
    await page.getByRole('button', { name: 'Save settings' }).click();
    const notice = page.getByRole('status').filter({ hasText: 'Saved, not applied yet' });
    await notice.getByText(`Saved, not applied yet: the HTTP address (127.0.0.1:${port}).`).waitFor();
    assert.doesNotMatch((await notice.textContent()) ?? '', /tlsListen|\blisten\b/, 'no internal keys');
    await assertAccessible(page, 'Settings, saved notice (light, 1280x800)');
    await page.getByRole('button', { name: 'Apply and restart listeners' }).click();
    await page.waitForURL(`http://127.0.0.1:${port}/ui/settings`);
    await page.getByText(`Running now: HTTP http://127.0.0.1:${port}`).waitFor();
  });
  // The old address no longer answers; the new one is the same Berth, with the session that followed the page.
  await waitFor('the old listener to close', async () => (await probe(berth.url).catch(() => 0)) === 0);
  const cookies = await context.cookies(`http://127.0.0.1:${port}`);
  const session = cookies.find((cookie) => cookie.name === 'berth_admin');
  assert.ok(session, 'the session cookie goes along to the new port');
  const settings = await fetch(`http://127.0.0.1:${port}/api/settings`, { headers: { cookie: `berth_admin=${session.value}` } });
  assert.equal(settings.status, 200);
  assert.equal(((await settings.json()) as SettingsResponse).running.http, `http://127.0.0.1:${port}`);
});
