import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { AuditResponse, JobDetail, JobView, RunSyncRuleResponse, SyncRulesResponse, SyncRuleView } from '../../registry/admin/contract.js';
import { startBerth, type Berth } from '../../registry/berth-server.js';
import { silentLogger } from '../../registry/log.js';
import { blobGets, startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';
import { makeImage, type Image } from '../support/oci-client.js';
import { startRegistry, type RunningRegistry } from '../support/registry-server.js';
import { createTempDir, removeDir } from '../support/temp-dir.js';
import { assertAdminError, signIn } from './admin-fixture.js';

/**
 * The job endpoints of the admin API on a real Berth (default token auth, the mirror composed as `berth serve`
 * composes it) syncing from a real upstream registry behind a fault proxy: a job's detail, cancel of a run whose
 * download hangs upstream, retry as a new job naming the old one, the refusals in the contract's codes, and each
 * rule's next run.
 */

let upstream: RunningRegistry;
let proxy: FaultProxy;
let two: Image;
let dataDir: string;
let berth: Berth;
let base: string;
let cookie: string;
const cleanups: Array<() => Promise<void>> = [];

async function api<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { cookie, 'x-berth-admin': '1', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : undefined) as T };
}

async function finished(id: string): Promise<JobDetail> {
  for (const deadline = Date.now() + 30_000; Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 100))) {
    const job = (await api<JobDetail>('GET', `/api/jobs/${id}`)).body;
    if (job.finishedAt) return job;
  }
  throw new Error(`job ${id} did not finish`);
}

before(async () => {
  upstream = await startRegistry();
  await makeImage(upstream.url, 'library/app', { tag: '1' });
  two = await makeImage(upstream.url, 'library/app', { tag: '2', layerSize: 1024 * 1024 });
  proxy = await startFaultProxy({ after: (fn) => void cleanups.push(async () => fn()) }, upstream.url);
  dataDir = await createTempDir('berth-admin-jobs-');
  berth = await startBerth({ dataDir, logger: silentLogger(), auth: 'token', listen: '127.0.0.1:0', tlsListen: null });
  base = berth.urls.http ?? assert.fail('no HTTP listener');
  cookie = await signIn(base, dataDir);
  assert.equal((await api('POST', '/api/upstreams', { name: 'up', url: proxy.url })).status, 201);
  assert.equal((await api('POST', '/api/sync-rules', { name: 'app', upstream: 'up', repositories: ['library/app'] })).status, 201);
});

after(async () => {
  await berth?.close();
  for (const cleanup of cleanups.reverse()) await cleanup();
  await upstream?.close();
  if (dataDir) await removeDir(dataDir);
});

describe('sync jobs in the admin API', () => {
  let cancelledId = '';

  it('cancels a running job whose download hangs upstream: 200 once it stopped, what it stored stays, audited', async () => {
    proxy.setRule(blobGets({ kind: 'stall', afterBodyBytes: 16 * 1024 }, two.layers[0]?.digest));
    const run = await api<RunSyncRuleResponse>('POST', '/api/sync-rules/app/run');
    assert.equal(run.status, 202);
    cancelledId = run.body.jobId;
    // Running, with library/app:1 stored and :2's layer stuck.
    for (let job = (await api<JobDetail>('GET', `/api/jobs/${cancelledId}`)).body; !proxy.requests.some((line) => line.fault === 'stall'); ) {
      assert.equal(job.finishedAt, null, 'the job does not finish while its download hangs');
      await new Promise((resolve) => setTimeout(resolve, 50));
      job = (await api<JobDetail>('GET', `/api/jobs/${cancelledId}`)).body;
    }
    const live = (await api<JobDetail>('GET', `/api/jobs/${cancelledId}`)).body;
    assert.equal(live.status, 'running');
    assert.deepEqual(live.copied, ['library/app:1'], 'the live detail, before the state file is written');

    const cancelled = await api<JobView>('POST', `/api/jobs/${cancelledId}/cancel`);
    assert.equal(cancelled.status, 200);
    assert.equal(cancelled.body.status, 'cancelled');
    assert.ok(cancelled.body.finishedAt);
    const detail = (await api<JobDetail>('GET', `/api/jobs/${cancelledId}`)).body;
    assert.deepEqual([detail.copied, detail.failed, detail.errors], [['library/app:1'], [], []]);
    assert.match(detail.log.at(-1)?.message ?? '', /^cancelled by admin/);
    const tags = await api<{ tags: Array<{ tag: string }> }>('GET', '/api/tags?repository=up/library/app');
    assert.deepEqual(tags.body.tags.map((entry) => entry.tag), ['1'], 'the image whose download was cut is not there');
    const audit = await api<AuditResponse>('GET', '/api/audit?action=sync.run');
    const event = audit.body.events.at(-1);
    assert.deepEqual([event?.actor, event?.outcome, (event?.detail as { status?: string }).status], ['admin', 'failure', 'cancelled']);
    assertAdminError(await api('POST', `/api/jobs/${cancelledId}/cancel`), 409, 'BERTH_JOB_STATE');
  });

  it('retries a cancelled job as a new job that names it, which copies only what is missing', async () => {
    proxy.setRule(undefined);
    const retry = await api<RunSyncRuleResponse>('POST', `/api/jobs/${cancelledId}/retry`);
    assert.equal(retry.status, 202);
    assert.notEqual(retry.body.jobId, cancelledId);
    const job = await finished(retry.body.jobId);
    assert.deepEqual([job.status, job.retryOf, job.copied, job.skipped], ['succeeded', cancelledId, ['library/app:2'], ['library/app:1']]);
    assert.deepEqual(job.images, { done: 2, total: 2 });
    assert.ok(job.log.some((line) => line.message === 'copied library/app:2 into up/library/app'));
    assertAdminError(await api('POST', `/api/jobs/${retry.body.jobId}/retry`), 409, 'BERTH_JOB_STATE');
    assertAdminError(await api('POST', `/api/jobs/${retry.body.jobId}/cancel`), 409, 'BERTH_JOB_STATE');
  });

  it('answers 404 BERTH_JOB_NOT_FOUND for a job it does not know', async () => {
    for (const [method, path] of [
      ['GET', '/api/jobs/no-such-job'],
      ['POST', '/api/jobs/no-such-job/cancel'],
      ['POST', '/api/jobs/no-such-job/retry'],
    ] as const) {
      assertAdminError(await api(method, path), 404, 'BERTH_JOB_NOT_FOUND');
    }
  });

  it('says when each rule runs next: never for an on-demand rule, an interval after the last run, nothing while paused', async () => {
    const rules = async () => new Map((await api<SyncRulesResponse>('GET', '/api/sync-rules')).body.syncRules.map((rule) => [rule.name, rule]));
    assert.equal((await rules()).get('app')?.nextRunAt, null);
    const changed = await api<SyncRuleView>('PATCH', '/api/sync-rules/app', { everySeconds: 3600 });
    const lastRunAt = changed.body.lastRunAt ?? assert.fail('the rule ran');
    assert.equal(changed.body.nextRunAt, new Date(Date.parse(lastRunAt) + 3_600_000).toISOString());
    await api('PATCH', '/api/sync-rules/app', { paused: true });
    assert.equal((await rules()).get('app')?.nextRunAt, null);
    // A scheduled rule that never ran first runs one interval after it was saved (or when asked), not at once.
    const fresh = await api<SyncRuleView>('POST', '/api/sync-rules', { name: 'fresh', upstream: 'up', repositories: ['library/app'], into: 'fresh', everySeconds: 86400 });
    assert.equal(fresh.status, 201);
    assert.equal(fresh.body.nextRunAt, new Date(Date.parse(fresh.body.createdAt) + 86_400_000).toISOString());
  });
});
