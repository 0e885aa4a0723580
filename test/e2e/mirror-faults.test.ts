import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { createStateStore } from '../../registry/state/index.js';
import { startBerth, type BerthProcess } from '../support/berth-process.js';
import { startDistribution } from '../support/distribution.js';
import { blobGets, startFaultProxy, type Fault } from '../support/fault-proxy.js';
import { createImageLayout } from '../support/oci-layout.js';
import { makeTempDir } from '../support/temp-dir.js';
import { requireTools, toolSkipReason } from '../support/tools.js';
import { pushImage, startFront } from '../mirror/fixtures.js';
import { sha256File } from './data-dir-check.js';
import { skopeoCopyResult } from './skopeo.js';
import { berthCliOk, blobFileExists, blobOutcome, eventually, hashGet, soon, startMirror, waitForCachedBlob } from './mirror-fixture.js';

/**
 * The upstream dies in the middle of a blob: a node:http proxy in front of docker-registry forwards the
 * headers and the first bytes, then destroys the socket. The client must see an error, Berth must keep
 * nothing (no blob, no leftover upload), and once the upstream is back the same pull must succeed.
 */

const tools = ['docker-registry', 'skopeo'] as const;

/** A docker-registry upstream (stopped after the test) holding `library/NAME:1`, one plain-tar layer per size. */
async function upstreamWithImage(t: TestContext, name: string, layerSizes: readonly number[]) {
  const dist = await startDistribution({ logLevel: 'warn' });
  t.after(() => dist.stop());
  const image = await createImageLayout(await makeTempDir(t), { tag: '1', layers: layerSizes.map((bytes) => ({ bytes, compress: false })) });
  await pushImage(image.ref, dist.host, `library/${name}:1`);
  const layer = image.layers[0];
  assert.ok(layer);
  return { dist, image, layer };
}

async function entries(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

test('an upstream cut mid-blob leaves no cached blob, and the pull succeeds once it is back', { skip: toolSkipReason(...tools), timeout: 90_000 }, async (t) => {
  requireTools(...tools);
  const { dist, layer } = await upstreamWithImage(t, 'cut', [6 * 1024 * 1024]);

  const cutAt = 1024 * 1024;
  const dying = await startFront(t, { target: dist.url, cutBlobsAfterBytes: cutAt });
  const mirror = await startMirror(t, { upstreams: [{ name: 'up', url: dying.url }] });
  const blobUrl = `${mirror.url}/v2/up/library/cut/blobs/${layer.digest}`;

  // The client sees the stream break, never a "complete" short blob.
  const outcome = await hashGet(blobUrl).then(
    (answer) => `completed with ${answer.bytes} of ${layer.size} bytes (status ${answer.status})`,
    (error: unknown) => `failed: ${(error as Error).message}`,
  );
  assert.match(outcome, /^failed: /, outcome);
  assert.ok(dying.requests.some((seen) => seen.path.endsWith(layer.digest)), 'the blob was asked of the upstream');

  // Berth logs the failed fetch once it has cleaned up; then nothing of the blob may be left anywhere.
  await mirror.berth.waitForLog((line) => line.msg === 'blob fetch from upstream failed: nothing cached' && line.digest === layer.digest);
  assert.equal(await blobFileExists(mirror.dataDir, layer.digest), false, 'no blob file for the digest');
  assert.deepEqual(await entries(join(mirror.dataDir, 'repositories', 'up', 'library', 'cut', '_uploads')), [], 'no leftover upload');
  assert.deepEqual(await entries(join(mirror.dataDir, 'repositories', 'up', 'library', 'cut', '_layers', 'sha256')), [], 'no layer link');

  // The upstream comes back where it was (same port, nothing cut): the same pull works again.
  await dying.close();
  const healthy = await startFront(t, { target: dist.url, port: dying.port });
  const out = await makeTempDir(t);
  // The failure took the upstream offline for a short backoff: the pull works once it is asked again.
  await soon('the pull through the recovered upstream', async () => {
    const pulled = await skopeoCopyResult(`docker://${mirror.host}/up/library/cut:1`, `oci:${out}:1`);
    assert.equal(pulled.code, 0, pulled.stderr);
  });
  assert.ok(healthy.requests.some((seen) => seen.path.endsWith(layer.digest)));
  const hex = layer.digest.slice('sha256:'.length);
  assert.equal(await sha256File(join(mirror.dataDir, 'blobs', 'sha256', hex.slice(0, 2), hex, 'data')), layer.digest, 'the cached blob is whole');
});

test('docker-registry killed while a blob streams: the client fails, nothing is cached, a restart heals', { skip: toolSkipReason(...tools), timeout: 90_000 }, async (t) => {
  requireTools(...tools);
  const { dist, layer } = await upstreamWithImage(t, 'killed', [64 * 1024 * 1024]);
  // In front of the registry: once 2 MiB of the blob went through, the registry process gets SIGKILL.
  let killed = false;
  const front = await startFront(t, {
    target: dist.url,
    handle: (req, res) => {
      if (req.method !== 'GET' || !req.url?.endsWith(layer.digest)) return false;
      const forward = httpRequest(new URL(req.url, dist.url), { headers: { ...req.headers, host: dist.host } }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        let sent = 0;
        answer.on('data', (chunk: Buffer) => {
          sent += chunk.length;
          if (!killed && sent >= 2 * 1024 * 1024) {
            killed = true;
            dist.kill();
          }
        });
        answer.on('error', () => res.destroy());
        answer.on('aborted', () => res.destroy());
        answer.pipe(res);
      });
      forward.on('error', () => res.destroy());
      forward.end();
      return true;
    },
  });
  const mirror = await startMirror(t, { upstreams: [{ name: 'up', url: front.url }] });
  const pending = hashGet(`${mirror.url}/v2/up/library/killed/blobs/${layer.digest}`).then(
    (answer) => `completed with ${answer.bytes} of ${layer.size} bytes`,
    (error: unknown) => `failed: ${(error as Error).message}`,
  );
  const outcome = await pending;
  assert.ok(killed, 'the registry was killed mid-blob');
  assert.match(outcome, /^failed: /, outcome);
  await mirror.berth.waitForLog((line) => line.msg === 'blob fetch from upstream failed: nothing cached' && line.digest === layer.digest);
  assert.equal(await blobFileExists(mirror.dataDir, layer.digest), false);
  await dist.restart();
  const again = await soon('the blob from the restarted upstream', async () => {
    const answer = await hashGet(`${mirror.url}/v2/up/library/killed/blobs/${layer.digest}`);
    assert.equal(answer.status, 200);
    return answer;
  });
  assert.deepEqual(again, { status: 200, digest: layer.digest, bytes: layer.size });
  // The last bytes waited for Berth's digest check, not for the store (fsync, move, link): the blob lands just after.
  await waitForCachedBlob(mirror.dataDir, layer.digest);
});


/** `berth_upstream_online{upstream="NAME"}` as /metrics shows it (undefined when the line is missing). */
async function upstreamOnlineMetric(baseUrl: string, upstream: string): Promise<number | undefined> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  const line = text.split('\n').find((candidate) => candidate.startsWith(`berth_upstream_online{upstream="${upstream}"}`));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}

function logCount(berth: BerthProcess, msg: string, digest: string): number {
  return berth.logLines().filter((line) => line.msg === msg && line.digest === digest).length;
}

test('default settings: an upstream reset after 0 B or 1 MiB, or a corrupt byte, fails only that response; nothing is cached; Berth stays up', { skip: toolSkipReason(...tools), timeout: 120_000 }, async (t) => {
  requireTools(...tools);
  const { dist, layer } = await upstreamWithImage(t, 'app', [4 * 1024 * 1024]);
  const proxy = await startFaultProxy(t, dist.url);
  // Token auth, as `berth serve` starts by default; the mirrored namespace of an upstream without credentials is public.
  const mirror = await startMirror(t, { auth: 'token', upstreams: [{ name: 'up', url: proxy.url }] });
  const blobUrl = `${mirror.url}/v2/up/library/app/blobs/${layer.digest}`;
  const repository = join(mirror.dataDir, 'repositories', 'up', 'library', 'app');

  const faults: Fault[] = [
    { kind: 'reset', afterBodyBytes: 0 },
    { kind: 'reset', afterBodyBytes: 1024 * 1024 },
    { kind: 'corrupt', atBodyByte: 2 * 1024 * 1024 },
  ];
  for (const fault of faults) {
    const what = JSON.stringify(fault);
    // Each failure takes the upstream offline for a moment; the background probe finds it back (the proxy only
    // breaks blob bodies), and only then does the next request reach it.
    await eventually(`the upstream is online again before ${what}`, async () => (await upstreamOnlineMetric(mirror.url, 'up')) === 1, 15_000);
    proxy.setRule(blobGets(fault, layer.digest));
    const failedBefore = logCount(mirror.berth, 'blob fetch from upstream failed: nothing cached', layer.digest);
    const outcome = await blobOutcome(blobUrl);
    assert.match(outcome, /^failed: /, `${what}: the client must see a broken transfer, never a clean end (${outcome})`);
    await eventually(`${what}: Berth gave up the fetch`, () => logCount(mirror.berth, 'blob fetch from upstream failed: nothing cached', layer.digest) > failedBefore, 15_000);
    assert.equal(mirror.berth.process.exitCode, null, `${what}: Berth is still running`);
    assert.equal((await fetch(`${mirror.url}/v2/`)).status, 401, 'and answering (the token challenge)');
    assert.equal(await blobFileExists(mirror.dataDir, layer.digest), false, `${what}: no blob file`);
    assert.deepEqual(await entries(join(repository, '_uploads')), [], `${what}: no leftover upload`);
    assert.deepEqual(await entries(join(repository, '_layers', 'sha256')), [], `${what}: no layer link`);
    assert.equal(await upstreamOnlineMetric(mirror.url, 'up'), 0, `${what}: the failed contact shows in berth_upstream_online at once`);
  }
  // A reset can arrive before Berth read the headers; on a reused keep-alive socket it then asks once more.
  const injected = proxy.requests.filter((seen) => seen.fault !== undefined).length;
  assert.ok(injected >= faults.length && injected <= 2 * faults.length, `faults injected: ${injected}`);

  proxy.setRule(undefined);
  const pulled = await soon('the pull once the upstream behaves', async () => {
    const answer = await hashGet(blobUrl);
    assert.equal(answer.status, 200);
    return answer;
  });
  assert.deepEqual(pulled, { status: 200, digest: layer.digest, bytes: layer.size });
  await waitForCachedBlob(mirror.dataDir, layer.digest);
  assert.deepEqual(mirror.berth.logLines().filter((line) => line.level === 'fatal' || /uncaught|unhandled/i.test(String(line.msg))), []);
});

test('a trickling upstream (1 byte every 20 s): its clients fail within the rate floor, new clients start a fresh fetch', { skip: toolSkipReason(...tools), timeout: 120_000 }, async (t) => {
  requireTools(...tools);
  const { dist, layer } = await upstreamWithImage(t, 'slow', [2 * 1024 * 1024]);
  const proxy = await startFaultProxy(t, dist.url, blobGets({ kind: 'trickle', afterBodyBytes: 0, intervalMs: 20_000 }, layer.digest));
  const mirror = await startMirror(t, { auth: 'token', upstreams: [{ name: 'up', url: proxy.url }] });
  const blobUrl = `${mirror.url}/v2/up/library/slow/blobs/${layer.digest}`;

  const startedAt = Date.now();
  let firstSettled = false;
  const first = blobOutcome(blobUrl).finally(() => (firstSettled = true));
  // Berth notices that the download makes no progress and stops letting new clients join it.
  await mirror.berth.waitForLog((line) => line.msg === 'blob download from upstream too slow: new requests start a fresh download' && line.digest === layer.digest, 30_000);
  // The upstream recovers; a client arriving now gets the blob from a fresh download, while the first still hangs.
  proxy.setRule(undefined);
  const second = await hashGet(blobUrl);
  assert.deepEqual(second, { status: 200, digest: layer.digest, bytes: layer.size });
  assert.equal(firstSettled, false, 'the stuck client is still waiting when the fresh fetch completed');
  assert.equal(proxy.requests.filter((seen) => seen.path.endsWith(layer.digest)).length, 2, 'one stuck GET upstream, one fresh');

  // The first client is not held for ever: its download falls below the minimum rate and its response fails.
  assert.match(await first, /^failed: /);
  const heldMs = Date.now() - startedAt;
  assert.ok(heldMs < 60_000, `the trickled client was released after ${heldMs} ms`);
  await waitForCachedBlob(mirror.dataDir, layer.digest); // the fresh fetch is what got cached
  const third = await hashGet(blobUrl);
  assert.deepEqual(third, { status: 200, digest: layer.digest, bytes: layer.size });
  assert.equal(proxy.requests.filter((seen) => seen.path.endsWith(layer.digest)).length, 2, 'served from the cache');
});

test('a sync job resumed at start meets an upstream reset: Berth stays up, the job fails, the audit log says why', { skip: toolSkipReason(...tools), timeout: 120_000 }, async (t) => {
  requireTools(...tools);
  const { dist, layer } = await upstreamWithImage(t, 'app', [1024 * 1024]);
  // First the blob hangs, so the job is caught in the middle when Berth is killed.
  const proxy = await startFaultProxy(t, dist.url, blobGets({ kind: 'stall', afterBodyBytes: 0 }, layer.digest));
  const mirror = await startMirror(t, {
    auth: 'token',
    upstreams: [{ name: 'up', url: proxy.url }],
    // Saved long ago and never run, so due at once when the server starts.
    prepare: async (dataDir) => {
      await berthCliOk(['sync', 'add', 's1', '--upstream', 'up', '--repo', 'library/app', '--into', 'synced', '--every', '1h', '--data', dataDir]);
      const store = await createStateStore(dataDir);
      await store.update((draft) => {
        for (const rule of draft.syncRules) rule.createdAt = '2000-01-01T00:00:00.000Z';
      });
      await store.close();
    },
  });
  await eventually('the sync job is downloading the blob', () => proxy.requests.some((seen) => seen.fault === 'stall'), 30_000);
  mirror.berth.kill();
  await mirror.berth.exited;
  // The killed process leaves its upload session behind (purged by age later); the restarted one must add none.
  const uploads = join(mirror.dataDir, 'repositories', 'synced', 'library', 'app', '_uploads');
  const leftBehind = await entries(uploads);

  // Restarted while the upstream resets every blob transfer before a byte of it: the job resumes and fails.
  proxy.setRule(blobGets({ kind: 'reset', afterBodyBytes: 0 }, layer.digest));
  const again = await startBerth({ dataDir: mirror.dataDir, auth: 'token' });
  try {
    await again.waitForLog((line) => line.msg === 'resuming a sync job interrupted by a restart', 20_000);
    const failed = await again.waitForLog((line) => line.msg === 'sync job failed', 60_000);
    assert.match(JSON.stringify(failed.errors), /ECONNRESET|interrupted|socket hang up/, JSON.stringify(failed));
    assert.equal(again.process.exitCode, null, 'Berth is still running');
    assert.equal((await fetch(`${again.url}/v2/`)).status, 401);
    assert.equal(await blobFileExists(mirror.dataDir, layer.digest), false, 'nothing cached');
    assert.deepEqual(await entries(uploads), leftBehind, 'the failed fetch removed its own upload');

    let runs: Array<Record<string, unknown>> = [];
    await eventually('the audit event of the finished run', async () => {
      runs = (await auditEvents(mirror.dataDir)).filter((event) => event.action === 'sync.run');
      return runs.length > 0;
    });
    assert.equal(runs.length, 1, `one finished run audited: ${JSON.stringify(runs)}`);
    const run = runs[0] as { outcome: string; actor: string; detail: { name: string; errors: string[] } };
    assert.equal(run.outcome, 'failure');
    assert.equal(run.actor, 'berth', 'a scheduled run');
    assert.equal(run.detail.name, 's1');
    assert.match(run.detail.errors.join('\n'), /library\/app:1: .*(ECONNRESET|interrupted|socket hang up)/);
  } finally {
    await again.stop();
  }
});

async function auditEvents(dataDir: string): Promise<Array<Record<string, unknown>>> {
  const dir = join(dataDir, 'audit');
  const events: Array<Record<string, unknown>> = [];
  for (const file of (await entries(dir)).sort()) {
    for (const line of (await readFile(join(dir, file), 'utf8')).split('\n')) if (line.trim()) events.push(JSON.parse(line) as Record<string, unknown>);
  }
  return events;
}

test('a client that joins a running fetch late gets every byte: the start from the upload file, the rest from memory', { skip: toolSkipReason(...tools), timeout: 90_000 }, async (t) => {
  // The fetch keeps the last 16 MiB of the download in memory; a client further behind reads the upload file first.
  requireTools(...tools);
  const { dist, layer } = await upstreamWithImage(t, 'late', [48 * 1024 * 1024]);
  // 24 MiB at once, then about 12 MiB/s: the second client arrives while the download is under way.
  const headStart = 24 * 1024 * 1024;
  const proxy = await startFaultProxy(t, dist.url, blobGets({ kind: 'trickle', afterBodyBytes: headStart, intervalMs: 20, bytes: 256 * 1024 }, layer.digest));
  const mirror = await startMirror(t, { auth: 'token', upstreams: [{ name: 'up', url: proxy.url }] });
  const blobUrl = `${mirror.url}/v2/up/library/late/blobs/${layer.digest}`;

  let joinLate!: () => void;
  const firstHasHeadStart = new Promise<void>((resolve) => (joinLate = resolve));
  const first = hashGet(blobUrl, {}, (bytes) => bytes >= headStart && joinLate());
  await firstHasHeadStart;
  const second = await hashGet(blobUrl);
  const firstAnswer = await first;
  for (const answer of [firstAnswer, second]) assert.deepEqual(answer, { status: 200, digest: layer.digest, bytes: layer.size });
  assert.equal(proxy.requests.filter((seen) => seen.method === 'GET' && seen.path.endsWith(layer.digest)).length, 1, 'one download served both clients');
});

test('a client that leaves in the middle of a cold fetch costs the others nothing: they get every byte, the blob is cached once', { skip: toolSkipReason(...tools), timeout: 90_000 }, async (t) => {
  requireTools(...tools);
  const { dist, layer } = await upstreamWithImage(t, 'leaver', [40 * 1024 * 1024]);
  // 8 MiB at once, then about 12 MiB/s: both clients are on the download while it runs.
  const proxy = await startFaultProxy(t, dist.url, blobGets({ kind: 'trickle', afterBodyBytes: 8 * 1024 * 1024, intervalMs: 20, bytes: 256 * 1024 }, layer.digest));
  const mirror = await startMirror(t, { auth: 'token', upstreams: [{ name: 'up', url: proxy.url }] });
  const blobUrl = `${mirror.url}/v2/up/library/leaver/blobs/${layer.digest}`;

  const stayer = hashGet(blobUrl);
  const leaverGot = await new Promise<number>((resolve, reject) => {
    const req = httpRequest(blobUrl, (res) => {
      let bytes = 0;
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        // Gone after 4 MiB: the socket closes under the response Berth is writing.
        if (bytes >= 4 * 1024 * 1024) {
          req.destroy();
          resolve(bytes);
        }
      });
      res.on('end', () => reject(new Error('the leaving client got the whole blob')));
    });
    req.on('error', () => undefined);
    req.end();
  });
  assert.ok(leaverGot < layer.size);
  assert.deepEqual(await stayer, { status: 200, digest: layer.digest, bytes: layer.size });
  // Cached once, whole: the next GET is served from the store, and the upstream saw one download.
  assert.deepEqual(await hashGet(blobUrl), { status: 200, digest: layer.digest, bytes: layer.size });
  assert.equal(proxy.requests.filter((seen) => seen.method === 'GET' && seen.path.endsWith(layer.digest)).length, 1, 'one download for all three');
  await waitForCachedBlob(mirror.dataDir, layer.digest);
  const exit = await Promise.race([mirror.berth.exited, new Promise((resolve) => setTimeout(() => resolve('running'), 100))]);
  assert.equal(exit, 'running', 'Berth stays up');
});

test('defaults: Berth stopped the moment a cold pull ends keeps what it served; restarted with the upstream gone, the image pulls from its cache', { skip: toolSkipReason(...tools), timeout: 120_000 }, async (t) => {
  requireTools(...tools);
  const { dist, image } = await upstreamWithImage(t, 'kept', [8 * 1024 * 1024, 8 * 1024 * 1024]);
  // Token auth, as `berth serve` starts by default.
  const mirror = await startMirror(t, { auth: 'token', upstreams: [{ name: 'up', url: dist.url }] });
  const ref = `up/library/kept:1`;
  const first = await skopeoCopyResult(`docker://${mirror.host}/${ref}`, `oci:${await makeTempDir(t)}:1`);
  assert.equal(first.code, 0, first.stderr);
  // At once: the client's last bytes went out at the digest check, and the store may still be finishing.
  assert.deepEqual(await mirror.berth.stop(), { code: 0, signal: null }, 'a clean stop');
  for (const blob of [...image.layers, image.config]) assert.ok(await blobFileExists(mirror.dataDir, blob.digest), `${blob.digest} stored before the process ended`);

  dist.kill();
  const restarted = await startBerth({ dataDir: mirror.dataDir, auth: 'token' });
  try {
    const out = await makeTempDir(t);
    // dir: keeps each blob as the registry sent it, in a file named by its digest.
    const offline = await skopeoCopyResult(`docker://${restarted.host}/${ref}`, `dir:${out}`);
    assert.equal(offline.code, 0, offline.stderr);
    for (const layer of image.layers) {
      assert.equal(await sha256File(join(out, layer.digest.slice('sha256:'.length))), layer.digest, 'byte-exact from the cache');
    }
  } finally {
    await restarted.stop();
  }
});
