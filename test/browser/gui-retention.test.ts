import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import type { PinsResponse, RetentionResponse } from '../../registry/admin/contract.js';
import { berthCliOk } from '../e2e/mirror-fixture.js';
import { dockerRef, skopeoCopy } from '../e2e/skopeo.js';
import { signInAsAdmin } from '../support/berth-admin.js';
import { startBerth } from '../support/berth-process.js';
import { createImageLayout } from '../support/oci-layout.js';
import { makeTempDir } from '../support/temp-dir.js';
import { requireTools, toolSkipReason } from '../support/tools.js';
import { assertAccessible } from './accessibility.js';
import { screenshot, settle, withFailureScreenshot } from './browser-session.js';
import { guiTools, signedInPage } from './gui-fixture.js';

/**
 * Retention in the GUI, on a real `berth serve` with its default token auth and images pushed by skopeo: the pin
 * toggle on a tag (stored on the server), then in Settings a namespace's rules saved, "Preview" listing what would
 * go (the pinned tag kept, and said so), and "Run now" removing exactly that, as the registry then shows.
 */

test('retention in the GUI: pin a tag, save a rule, preview, run now', { skip: toolSkipReason(...guiTools), timeout: 180_000 }, async (t) => {
  requireTools(...guiTools);
  const dataDir = await makeTempDir(t, 'berth-gui-retention-');
  const berth = await startBerth({ dataDir, auth: 'token' });
  t.after(() => berth.stop());
  const secret = (await berthCliOk(['token', 'create', '--name', 'ci', '--scope', 'team/*:pull,push', '--data', dataDir])).trim().split('\n').pop() ?? '';
  const layouts = await makeTempDir(t, 'berth-gui-retention-images-');
  // Pushed oldest first: 1, 2, 3.
  for (const tag of ['1', '2', '3']) {
    const image = await createImageLayout(join(layouts, tag), { tag, layers: [{ bytes: 2048 }] });
    await skopeoCopy(image.ref, dockerRef(berth.host, 'team/app', tag), ['--dest-creds', `ci:${secret}`]);
  }
  const cookie = await signInAsAdmin(berth);
  const adminGet = async <T>(path: string): Promise<T> => (await (await fetch(`${berth.url}${path}`, { headers: { cookie } })).json()) as T;
  const { page } = await signedInPage(t, berth);
  const pageErrors: string[] = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));
  const step = (name: string, fn: () => Promise<void>) => t.test(name, () => withFailureScreenshot(page, name, fn));

  await step('the pin toggle on a tag pins it on the server', async () => {
    await page.goto(`${berth.url}/ui/images/team/app`);
    const pin = page.getByRole('button', { name: 'Pin 1', exact: true });
    await pin.waitFor();
    assert.equal(await pin.getAttribute('aria-pressed'), 'false');
    await pin.click();
    await page.locator('button[aria-label="Pin 1"][aria-pressed="true"]').waitFor();
    const { pins } = await adminGet<PinsResponse>('/api/pins?repository=team/app');
    assert.deepEqual(pins.map((entry) => entry.reference), ['1']);
  });

  await step('Settings: save keep-newest 1 for team, preview lists 2 and keeps the pinned 1', async () => {
    await page.goto(`${berth.url}/ui/settings`);
    const section = page.getByRole('region', { name: 'Retention', exact: true });
    const form = section.getByRole('form', { name: 'Retention rules of team' });
    await form.waitFor();
    await section.getByText('team has no retention rules: nothing is removed.').waitFor();
    await form.getByRole('textbox', { name: 'Keep newest tags' }).fill('1');
    await form.getByRole('button', { name: 'Save rules' }).click();
    await form.getByText('Saved.').waitFor();
    await form.getByRole('button', { name: 'Preview' }).click();
    const preview = section.getByRole('table', { name: 'What the policy would remove' });
    await preview.waitFor();
    assert.deepEqual(await preview.locator('tbody tr td:first-child').allTextContents(), ['team/app:2']);
    await section.getByText('Kept although a rule applies: team/app:1 (pinned)').waitFor();
    await settle(page);
    await assertAccessible(page, 'Retention preview (1280x800)');
    await screenshot(page, 'retention-preview');
  });

  await step('Run now, confirmed, removes what the preview listed', async () => {
    const section = page.getByRole('region', { name: 'Retention', exact: true });
    await section.getByRole('button', { name: 'Run now' }).click();
    const dialog = page.getByRole('dialog', { name: 'Apply the retention rules of team now?' });
    await dialog.getByRole('button', { name: 'Remove' }).click();
    await dialog.waitFor({ state: 'detached' });
    const removed = section.getByRole('table', { name: 'What the run removed' });
    await removed.waitFor();
    assert.deepEqual(await removed.locator('tbody tr td:first-child').allTextContents(), ['team/app:2']);
    const tags = await (await fetch(`${berth.url}/v2/team/app/tags/list`, { headers: { Authorization: `Basic ${Buffer.from(`ci:${secret}`).toString('base64')}` } })).json() as { tags: string[] };
    assert.deepEqual(tags.tags.sort(), ['1', '3']);
  });

  await step('the schedule: every 6 hours, saved on the server', async () => {
    const section = page.getByRole('region', { name: 'Retention', exact: true });
    const form = section.getByRole('form', { name: 'Retention schedule' });
    await form.getByRole('textbox', { name: 'Run every (hours)' }).fill('6');
    await form.getByRole('button', { name: 'Save schedule' }).click();
    await section.getByText(/Runs every 6 h\./).waitFor();
    assert.equal((await adminGet<RetentionResponse>('/api/retention')).everyHours, 6);
  });

  await step('the image details pin and unpin their tag too', async () => {
    await page.goto(`${berth.url}/ui/images/team/app?tag=3`);
    const drawer = page.getByRole('dialog', { name: 'team/app:3' });
    const pin = drawer.getByRole('button', { name: 'Pin', exact: true });
    await pin.waitFor();
    assert.equal(await pin.getAttribute('aria-pressed'), 'false');
    await pin.click();
    await drawer.getByRole('button', { name: 'Pinned', exact: true }).waitFor();
    assert.deepEqual((await adminGet<PinsResponse>('/api/pins?repository=team/app')).pins.map((entry) => entry.reference), ['1', '3']);
    await drawer.getByRole('button', { name: 'Pinned', exact: true }).click();
    await drawer.getByRole('button', { name: 'Pin', exact: true }).waitFor();
    assert.deepEqual((await adminGet<PinsResponse>('/api/pins?repository=team/app')).pins.map((entry) => entry.reference), ['1']);
  });

  assert.deepEqual(pageErrors, []);
});
