import assert from 'node:assert/strict';
import { test } from 'node:test';
import { berthBin, startBerth } from '../support/berth-process.js';
import { makeTempDir } from '../support/temp-dir.js';
import { requireTools, runOk, toolSkipReason, type ToolSpec } from '../support/tools.js';
import { assertAccessible } from './accessibility.js';
import { firstPage, launchBrowser, waitFor, withFailureScreenshot } from './browser-session.js';

/**
 * Settings → Quotas and immutable tags on a running `berth serve` (default token auth): a namespace's limits set in
 * the dialog are what the CLI then reads, and the table shows usage against them.
 */

const tools: ToolSpec[] = [{ name: '/usr/lib/chromium/chromium', debianPackage: 'chromium' }];

test('Settings: quotas and immutable tag patterns set in the limits dialog reach the server; a bad size is refused in place', { skip: toolSkipReason(...tools), timeout: 120_000 }, async (t) => {
  requireTools(...tools);
  const dataDir = await makeTempDir(t, 'berth-gui-limits-');
  const berth = await startBerth({ dataDir, auth: 'token' });
  t.after(() => berth.stop());
  const cli = async (args: readonly string[]) => (await runOk(process.execPath, [berthBin, ...args, '--data', dataDir], { timeoutMs: 60_000 })).stdout;
  await cli(['namespace', 'create', 'team']);
  const context = await launchBrowser(t);
  const page = await firstPage(context);
  await page.goto(await berth.signInUrl());
  await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
  await withFailureScreenshot(page, 'limits', async () => {
    await page.goto(`${berth.url}/ui/settings`);
    await page.getByRole('button', { name: 'Edit limits of team' }).click();
    const dialog = page.getByRole('dialog', { name: 'Limits of team' });
    const storage = dialog.getByRole('textbox', { name: 'Storage quota' });
    await storage.fill('ten gigs');
    await dialog.getByText('A size such as 10GiB or 500MB').waitFor();
    assert.equal(await dialog.getByRole('button', { name: 'Save limits' }).isDisabled(), true);
    await storage.fill('10MiB');
    await dialog.getByRole('textbox', { name: 'Pulls per month' }).fill('2GiB');
    const patterns = dialog.getByRole('textbox', { name: 'Immutable tags' });
    await patterns.fill('v*');
    await patterns.press('Enter');
    await patterns.fill('release-*');
    await patterns.press('Enter');
    await assertAccessible(page, 'Settings, limits dialog (light, 1280x800)');
    await dialog.getByRole('button', { name: 'Save limits' }).click();
    await dialog.waitFor({ state: 'detached' });
    const table = page.getByRole('table', { name: 'Namespace limits' });
    await table.getByText('0 B of 10 MiB').waitFor();
    await table.getByText('v* release-*').waitFor();
    // At 0 % the bar's section has no width: attached, not visible.
    await page.getByRole('progressbar', { name: 'Storage of team: 0 B of 10 MiB' }).waitFor({ state: 'attached' });
  });
  const [row] = JSON.parse(await cli(['quota', 'show', 'team', '--json'])) as Array<{ quota: { storageBytes?: number; pullBytesPerMonth?: number } }>;
  assert.deepEqual(row?.quota, { storageBytes: 10 * 1024 ** 2, pullBytesPerMonth: 2 * 1024 ** 3 });
  assert.match(await cli(['immutable', 'list', 'team']), /^team\s+v\* release-\*$/m);
  // A quota removed in the dialog (blank) is gone for the CLI too.
  await page.getByRole('button', { name: 'Edit limits of team' }).click();
  await page.getByRole('dialog', { name: 'Limits of team' }).getByRole('textbox', { name: 'Storage quota' }).fill('');
  await page.getByRole('button', { name: 'Save limits' }).click();
  await waitFor('the storage quota to go', async () => {
    const [after] = JSON.parse(await cli(['quota', 'show', 'team', '--json'])) as Array<{ quota: { storageBytes?: number } }>;
    return after?.quota.storageBytes === undefined;
  });
});
