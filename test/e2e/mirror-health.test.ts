import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { createSignInUrl } from '../../registry/admin/sign-in.js';
import { startBerth } from '../../registry/berth-server.js';
import { silentLogger } from '../../registry/log.js';
import { startDistribution } from '../support/distribution.js';
import { createImageLayout } from '../support/oci-layout.js';
import { makeTempDir } from '../support/temp-dir.js';
import { requireTools, toolSkipReason } from '../support/tools.js';
import { pushImage } from '../mirror/fixtures.js';
import { berthCliOk, errorCodes, eventually, hashGet, httpGet, soon } from './mirror-fixture.js';

/**
 * Upstream state is what the last contact said. Berth runs in this process with its defaults (token auth) in
 * front of a real docker-registry that is killed and restarted: the admin's Test, a pull-through request and a
 * sync run each change the health the GUI shows (admin API and its live events) and `berth_upstream_online` at
 * once; cached images pull meanwhile; once the upstream is back, uncached images pull again within seconds.
 */

const tools = ['docker-registry', 'skopeo'] as const;

interface HealthEvent {
  readonly type: string;
  readonly upstream?: string;
  readonly online?: boolean;
}

/** The admin API's live events (what the GUI's badge follows), collected as they arrive. */
async function followEvents(base: string, cookie: string, signal: AbortSignal): Promise<HealthEvent[]> {
  const events: HealthEvent[] = [];
  const response = await fetch(`${base}/api/events`, { headers: { cookie }, signal });
  assert.equal(response.status, 200);
  void (async () => {
    let buffer = '';
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += Buffer.from(chunk).toString('utf8');
      let end: number;
      while ((end = buffer.indexOf('\n\n')) !== -1) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = frame.split('\n').find((line) => line.startsWith('data: '));
        if (data) events.push(JSON.parse(data.slice('data: '.length)) as HealthEvent);
      }
    }
  })().catch(() => undefined);
  return events;
}

test('upstream health follows every contact; cached images pull while it is down; it is retried within seconds', { skip: toolSkipReason(...tools), timeout: 120_000 }, async (t) => {
  requireTools(...tools);
  const dist = await startDistribution({ logLevel: 'warn' });
  t.after(() => dist.stop());
  const layouts = await makeTempDir(t);
  const cached = await createImageLayout(join(layouts, 'cached'), { tag: '1', layers: [{ bytes: 50_000 }] });
  const later = await createImageLayout(join(layouts, 'later'), { tag: '1', layers: [{ bytes: 50_000 }] });
  await pushImage(cached.ref, dist.host, 'library/cached:1');
  await pushImage(later.ref, dist.host, 'library/later:1');

  const dataDir = await makeTempDir(t, 'berth-health-');
  await berthCliOk(['upstream', 'add', 'up', dist.url, '--data', dataDir]);
  const berth = await startBerth({ dataDir, logger: silentLogger(), listen: '127.0.0.1:0', tlsListen: null });
  t.after(() => berth.close());
  const base = berth.urls.http as string;
  const { url: link } = await createSignInUrl(dataDir, base);
  const signIn = await fetch(link, { redirect: 'manual' });
  assert.equal(signIn.status, 303);
  const cookie = (signIn.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  const admin = async <T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> => {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: { cookie, 'x-berth-admin': '1', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as T };
  };
  const badge = async () => (await admin<{ upstreams: Array<{ name: string; health?: { online: boolean } }> }>('GET', '/api/upstreams')).body.upstreams.find((u) => u.name === 'up')?.health?.online;
  const metric = async () => {
    const text = await (await fetch(`${base}/metrics`)).text();
    const line = text.split('\n').find((candidate) => candidate.startsWith('berth_upstream_online{upstream="up"}'));
    return line === undefined ? undefined : Number(line.split(' ').at(-1));
  };
  const stream = new AbortController();
  t.after(() => stream.abort());
  const events = await followEvents(base, cookie, stream.signal);
  const healthEvents = () => events.filter((event) => event.type === 'upstream.health' && event.upstream === 'up').map((event) => event.online);
  const manifestUrl = (repository: string) => `${base}/v2/up/library/${repository}/manifests/1`;

  // Cache one image (anonymously: the mirrored namespace of an upstream without credentials is public).
  assert.equal((await httpGet(manifestUrl('cached'))).status, 200);
  for (const layer of cached.layers) assert.equal((await hashGet(`${base}/v2/up/library/cached/blobs/${layer.digest}`)).status, 200);
  assert.deepEqual([await badge(), await metric()], [true, 1]);

  await t.test("the admin's Test sees the upstream gone: badge, live event and metric follow at once", async () => {
    dist.kill();
    const tested = await admin<{ ok: boolean; message: string }>('POST', '/api/upstreams/up/test');
    assert.equal(tested.body.ok, false);
    // The GUI shows the plain verdict (issue 9: not "ECONNREFUSED connect ECONNREFUSED").
    assert.equal(tested.body.message, `connection refused: is it running at ${dist.url}?`);
    assert.deepEqual([await badge(), await metric()], [false, 0], 'the answer to the Test is already the state');
    await eventually('the live event for the GUI', () => healthEvents().includes(false), 5_000);
  });

  await t.test('while it is down, cached content is served and uncached content is 503 UNAVAILABLE', async () => {
    const stale = await httpGet(manifestUrl('cached'));
    assert.equal(stale.status, 200);
    assert.ok(stale.body.equals(cached.manifestBytes));
    assert.equal((await hashGet(`${base}/v2/up/library/cached/blobs/${cached.layers[0]?.digest}`)).status, 200);
    const missing = await httpGet(manifestUrl('later'));
    assert.equal(missing.status, 503);
    assert.deepEqual(errorCodes(missing), ['UNAVAILABLE']);
  });

  await t.test('once it is back, an uncached image pulls within seconds, not after a 30 s lockout', async () => {
    await dist.restart();
    const restartedAt = Date.now();
    const answer = await soon('the uncached manifest', async () => {
      const got = await httpGet(manifestUrl('later'));
      assert.equal(got.status, 200, got.body.toString());
      return got;
    }, 15_000);
    const waitedMs = Date.now() - restartedAt;
    t.diagnostic(`uncached image pulled ${waitedMs} ms after the upstream came back`);
    assert.ok(answer.body.equals(later.manifestBytes));
    assert.deepEqual([await badge(), await metric()], [true, 1]);
    await eventually('the live event for the GUI', () => healthEvents().at(-1) === true, 5_000);
  });

  await t.test('a failed sync takes the upstream offline and is audited as a failure with its error', async () => {
    const created = await admin('POST', '/api/sync-rules', { name: 'nightly', upstream: 'up', repositories: ['library/later'], into: 'synced' });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    dist.kill();
    const run = await admin<{ jobId: string }>('POST', '/api/sync-rules/nightly/run');
    assert.equal(run.status, 202);
    const job = await berth.sync.finished(run.body.jobId);
    assert.equal(job.status, 'failed');
    assert.match(job.errors.join('\n'), /ECONNREFUSED/);
    assert.deepEqual([await badge(), await metric()], [false, 0], 'the sync was the contact that failed');

    const dir = join(dataDir, 'audit');
    const lines = (await Promise.all((await readdir(dir)).map((file) => readFile(join(dir, file), 'utf8')))).join('\n').split('\n').filter(Boolean);
    const runs = lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((event) => event.action === 'sync.run');
    assert.equal(runs.length, 1, JSON.stringify(runs));
    const [audited] = runs as Array<{ outcome: string; actor: string; namespace: string; detail: { jobId: string; errors: string[] } }>;
    assert.equal(audited?.outcome, 'failure');
    assert.equal(audited?.actor, 'admin');
    assert.equal(audited?.namespace, 'synced');
    assert.equal(audited?.detail.jobId, run.body.jobId);
    assert.match(audited?.detail.errors.join('\n') ?? '', /ECONNREFUSED/);
    await dist.restart();
  });
});
