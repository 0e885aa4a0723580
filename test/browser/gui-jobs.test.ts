import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Page } from 'playwright-core';
import type { JobDetail, JobsResponse, SyncRuleView, UpstreamsResponse } from '../../registry/admin/contract.js';
import { berthCliOk } from '../e2e/mirror-fixture.js';
import { dockerRef, skopeoCopy } from '../e2e/skopeo.js';
import { signInAsAdmin } from '../support/berth-admin.js';
import { startBerth } from '../support/berth-process.js';
import { startDistribution } from '../support/distribution.js';
import { blobGets, startFaultProxy } from '../support/fault-proxy.js';
import { createImageLayout } from '../support/oci-layout.js';
import { makeTempDir } from '../support/temp-dir.js';
import { requireTools, toolSkipReason } from '../support/tools.js';
import { assertAccessible } from './accessibility.js';
import { firstPage, launchBrowser, screenshot, settle, waitFor, withFailureScreenshot } from './browser-session.js';
import { guiTools } from './gui-fixture.js';

/**
 * A sync job followed in the GUI from start to end, against a real upstream (docker-registry) behind a fault proxy
 * on a Berth with default settings (token auth): the rule form says when a rule first runs; the job page fills in
 * live (what was copied, what was up to date, the log); Cancel stops a download stuck upstream; Retry runs the rule
 * again and fails while the upstream cuts every blob (the page names the image and the reason), then succeeds once
 * it is back. With BERTH_SCREENSHOTS=1 the job page at 1280x800 and 800x600 lands in docs/screenshots/.
 */

/** The job page's status badge text, e.g. `running`. */
async function pageStatus(page: Page): Promise<string> {
  return ((await page.locator('header, main').getByText(/^(queued|running|succeeded|failed|cancelled)$/).first().textContent()) ?? '').trim();
}

test('a sync job in the GUI: live detail, cancel a stuck run, retry after a failure until it succeeds', { skip: toolSkipReason(...guiTools), timeout: 240_000 }, async (t) => {
  requireTools(...guiTools);
  const dataDir = await makeTempDir(t, 'berth-gui-jobs-');
  const layouts = await makeTempDir(t, 'berth-gui-jobs-images-');
  const upstream = await startDistribution({ accessLog: false, logLevel: 'warn' });
  t.after(() => upstream.stop());
  const one = await createImageLayout(join(layouts, 'one'), { tag: '1', layers: [{ bytes: 16 * 1024 }] });
  // Big enough that a stall after 64 KiB leaves the download visibly unfinished; gzip, as skopeo would push it anyway.
  const two = await createImageLayout(join(layouts, 'two'), { tag: '2', layers: [{ bytes: 2 * 1024 * 1024 }] });
  await skopeoCopy(one.ref, dockerRef(upstream.host, 'library/app', '1'));
  await skopeoCopy(two.ref, dockerRef(upstream.host, 'library/app', '2'));
  const stuckLayer = two.layers[0]?.digest ?? '';
  const proxy = await startFaultProxy(t, upstream.url);
  const data = ['--data', dataDir];
  await berthCliOk(['upstream', 'add', 'local', proxy.url, ...data]);
  await berthCliOk(['sync', 'add', 'app', '--upstream', 'local', '--repo', 'library/app', ...data]);

  const berth = await startBerth({ dataDir, auth: 'token' });
  t.after(() => berth.stop());
  const cookie = await signInAsAdmin(berth);
  const adminGet = async <T>(path: string): Promise<T> => {
    const response = await fetch(`${berth.url}${path}`, { headers: { cookie } });
    assert.equal(response.status, 200, `GET ${path}`);
    return (await response.json()) as T;
  };
  const context = await launchBrowser(t);
  const page = await firstPage(context);
  const pageErrors: string[] = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));
  await page.goto(await berth.signInUrl());
  await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
  const step = (name: string, fn: () => Promise<void>) => t.test(name, () => withFailureScreenshot(page, name, fn));
  let firstJob = '';
  const axe: string[] = [];

  await step('the rule form says when a new rule first runs: after its first interval, or on request', async () => {
    await page.goto(`${berth.url}/ui/mirror`);
    await page.getByRole('button', { name: 'Add sync rule' }).click();
    const dialog = page.getByRole('dialog', { name: 'Add sync rule' });
    // The default schedule is daily, and a new rule waits a day for its first run rather than starting on save.
    await dialog.getByText(/^First run in 1 day \(\d{4}-\d\d-\d\d \d\d:\d\d\), or click Run now; then every day\.$/).waitFor();
    await dialog.getByRole('textbox', { name: 'Schedule' }).click();
    await page.getByRole('option', { name: 'Only when I click Run now' }).click();
    await dialog.getByText('Runs only when you click Run now.').waitFor();
    await dialog.getByRole('textbox', { name: 'Schedule' }).click();
    await page.getByRole('option', { name: 'Every 6 hours' }).click();
    await dialog.getByText(/^First run in 6 hours \(\d{4}-\d\d-\d\d \d\d:\d\d\), or click Run now; then every 6 hours\.$/).waitFor();
    await settle(page);
    axe.push(await assertAccessible(page, 'Add sync rule form (1280x800)'));
    await screenshot(page, 'sync-rule-form');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'detached' });
    // The on-demand rule from the CLI has no next run; the table says "on demand only".
    await page.getByRole('table', { name: 'Sync rules' }).getByText('on demand only').waitFor();
  });

  await step('a saved daily rule is not started: it is due one day after it was saved', async () => {
    const created = await fetch(`${berth.url}/api/sync-rules`, {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/json', 'X-Berth-Admin': '1' },
      body: JSON.stringify({ name: 'daily', upstream: 'local', repositories: ['library/app'], into: 'daily', everySeconds: 86_400 }),
    });
    assert.equal(created.status, 201);
    const rule = (await created.json()) as SyncRuleView;
    assert.equal(rule.nextRunAt, new Date(Date.parse(rule.createdAt) + 86_400_000).toISOString());
    const row = page.getByRole('table', { name: 'Sync rules' }).getByRole('row').filter({ hasText: 'daily' });
    await row.getByText('next: tomorrow').waitFor();
    // Deleted again, so the rest of the test sees only the CLI's rule.
    const deleted = await fetch(`${berth.url}/api/sync-rules/daily`, { method: 'DELETE', headers: { cookie, 'X-Berth-Admin': '1' } });
    assert.equal(deleted.status, 204);
  });

  await step('Run now, then the job page shows what was copied as it happens, and Cancel stops a download stuck upstream', async () => {
    proxy.setRule(blobGets({ kind: 'stall', afterBodyBytes: 64 * 1024 }, stuckLayer));
    await page.getByRole('button', { name: 'Run now app' }).click();
    const card = page.getByRole('article', { name: 'Job app' });
    await card.getByRole('link', { name: 'app' }).click();
    await page.waitForURL(/\/ui\/mirror\/jobs\/[0-9a-f-]{36}$/);
    firstJob = page.url().split('/').pop() ?? '';
    await page.getByRole('heading', { name: 'Sync job app', level: 1 }).waitFor();
    // library/app:1 is stored; :2 hangs on its layer, so the job is still running.
    await page.getByRole('region', { name: 'Copied (1)' }).getByText('library/app:1').waitFor();
    await page.getByRole('list', { name: 'Job log' }).getByText('copied library/app:1 into local/library/app').waitFor();
    await waitFor('the stuck layer to be asked for', () => proxy.requests.some((line) => line.path.includes(stuckLayer) && line.fault === 'stall'));
    assert.equal(await pageStatus(page), 'running');

    await page.getByRole('button', { name: 'Cancel job' }).click();
    await waitFor('the page to say cancelled', async () => (await pageStatus(page)) === 'cancelled');
    await page.getByRole('list', { name: 'Job log' }).getByText(/cancelled by admin/).waitFor();
    const job = await adminGet<JobDetail>(`/api/jobs/${firstJob}`);
    assert.equal(job.status, 'cancelled');
    assert.ok(job.finishedAt, 'a cancelled job has finished');
    assert.deepEqual(job.copied, ['library/app:1']);
    assert.deepEqual(job.errors, [], 'a cancel is not an error of the images');
    const tags = await fetch(`${berth.url}/api/tags?repository=local/library/app`, { headers: { cookie } }).then((r) => r.json() as Promise<{ tags: Array<{ tag: string }> }>);
    assert.deepEqual(tags.tags.map((entry) => entry.tag), ['1'], 'the cancelled image was not stored');
  });

  let failedJob = '';
  await step('Retry while the upstream cuts every blob: the job fails, and its page names the image and the reason', async () => {
    proxy.setRule(blobGets({ kind: 'reset', afterBodyBytes: 0 }));
    await page.getByRole('button', { name: 'Retry job' }).click();
    await page.waitForURL((url) => /\/ui\/mirror\/jobs\//.test(url.pathname) && !url.pathname.endsWith(firstJob));
    failedJob = page.url().split('/').pop() ?? '';
    await waitFor('the retry to fail', async () => (await pageStatus(page)) === 'failed', 60_000);
    const failures = page.getByRole('table', { name: 'Failures' });
    await failures.getByRole('cell', { name: 'library/app:2' }).waitFor();
    await page.getByRole('link', { name: 'an earlier job' }).waitFor();
    await page.getByRole('region', { name: 'Up to date (1)' }).getByText('library/app:1').waitFor();
    const job = await adminGet<JobDetail>(`/api/jobs/${failedJob}`);
    assert.equal(job.retryOf, firstJob);
    assert.equal(job.failed.length, 1);
    assert.equal(job.failed[0]?.image, 'library/app:2');
    await settle(page);
    axe.push(await assertAccessible(page, 'Failed sync job (light, 1280x800)'));
    await screenshot(page, 'job-page-failed');
  });

  await step('with the upstream back, Retry succeeds; the page lists the copied image, and axe finds nothing on it', async () => {
    proxy.setRule(undefined);
    // The failures marked the upstream offline; wait for the health probe to see it back, as the GUI's badge would.
    await waitFor('the upstream to be online again', async () => (await adminGet<UpstreamsResponse>('/api/upstreams')).upstreams[0]?.health?.online === true, 30_000);
    await page.getByRole('button', { name: 'Retry job' }).click();
    await page.waitForURL((url) => /\/ui\/mirror\/jobs\//.test(url.pathname) && !url.pathname.endsWith(failedJob));
    await waitFor('the second retry to succeed', async () => (await pageStatus(page)) === 'succeeded', 60_000);
    await page.getByRole('region', { name: 'Copied (1)' }).getByText('library/app:2').waitFor();
    await page.getByRole('region', { name: 'Failed (0)' }).getByText('Nothing failed.').waitFor();
    assert.equal(await page.getByRole('button', { name: 'Retry job' }).count(), 0, 'a succeeded job offers no retry');
    const { jobs } = await adminGet<JobsResponse>('/api/jobs');
    assert.deepEqual(jobs.map((job) => job.status), ['succeeded', 'failed', 'cancelled']);

    await settle(page);
    await screenshot(page, 'job-page');
    axe.push(await assertAccessible(page, 'Sync job (light, 1280x800)'));
    await page.setViewportSize({ width: 800, height: 600 });
    await settle(page);
    await screenshot(page, 'job-page-narrow');
    axe.push(await assertAccessible(page, 'Sync job (light, 800x600)'));
  });

  await step('the job history links every job to its page, and no page error was thrown', async () => {
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.goto(`${berth.url}/ui/mirror`);
    const history = page.getByRole('table', { name: 'Job history' });
    await history.locator('tbody tr').nth(2).waitFor();
    assert.equal(await history.getByRole('link', { name: 'app' }).count(), 3);
    // The failed job's reason reads whole in the history, not cut off.
    const reason = history.getByText(/^library\/app:2: /);
    assert.equal(await reason.evaluate((element) => (element as unknown as { scrollWidth: number; clientWidth: number }).scrollWidth <= (element as unknown as { clientWidth: number }).clientWidth), true);
    // The history is below the fold: scrolled to, so the picture shows it.
    await history.evaluate((element) => (element as unknown as { scrollIntoView(options: { block: string }): void }).scrollIntoView({ block: 'center' }));
    await settle(page);
    await screenshot(page, 'mirror-job-history');
    assert.deepEqual(pageErrors, []);
  });
  for (const line of axe) t.diagnostic(`axe: ${line}`);
});
