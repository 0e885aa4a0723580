import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { startBerth } from '../support/berth-process.js';
import { makeTempDir } from '../support/temp-dir.js';
import { requireTools, toolSkipReason, type ToolSpec } from '../support/tools.js';
import { assertAccessible } from './accessibility.js';
import { firstPage, launchBrowser, withFailureScreenshot } from './browser-session.js';

/**
 * Settings' encryption line on a running `berth serve` (default token auth): off at first, "Turn on encryption"
 * makes the master key ring (0600, outside the data directory) and the line says it is on, naming the key.
 */

const tools: ToolSpec[] = [{ name: '/usr/lib/chromium/chromium', debianPackage: 'chromium' }];

test('Settings: encryption at rest is off, turned on from the GUI, and says so', { skip: toolSkipReason(...tools), timeout: 120_000 }, async (t) => {
  requireTools(...tools);
  const work = await makeTempDir(t, 'berth-gui-encryption-');
  const keyFile = join(work, 'keys', 'encryption-keys.json');
  const berth = await startBerth({ dataDir: join(work, 'data'), auth: 'token', env: { BERTH_ENCRYPTION_KEY_FILE: keyFile } });
  t.after(() => berth.stop());
  const context = await launchBrowser(t);
  const page = await firstPage(context);
  await page.goto(await berth.signInUrl());
  await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
  await withFailureScreenshot(page, 'encryption', async () => {
    await page.goto(`${berth.url}/ui/settings`);
    await page.getByTestId('encryption-line').filter({ hasText: 'Off: 0 blobs stored in plaintext.' }).waitFor();
    await page.getByRole('button', { name: 'Turn on encryption' }).click();
    await page.getByTestId('encryption-line').filter({ hasText: /^On: 0 blobs encrypted, 0 plaintext\. Master key mk-[0-9a-f]{16} in file / }).waitFor();
    assert.equal(await page.getByRole('button', { name: 'Turn on encryption' }).count(), 0);
    await assertAccessible(page, 'Settings with encryption on (light, 1280x800)');
  });
  assert.equal(((await stat(keyFile)).mode & 0o777).toString(8), '600');
});
