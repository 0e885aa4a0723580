import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test, type TestContext } from 'node:test';
import { silentLogger } from '../../registry/log.js';
import {
  createUpstreamClient,
  createUpstreamHealth,
  UpstreamUnavailableError,
  type UnavailableReason,
  type UpstreamHealthChange,
} from '../../registry/mirror/index.js';
import { createTransport, readBody } from '../../registry/mirror/http-transport.js';
import { startDistribution } from '../support/distribution.js';
import { startFaultProxy } from '../support/fault-proxy.js';
import { freePort } from '../support/net.js';
import { createImageLayout, type ImageLayout, type LayerInfo } from '../support/oci-layout.js';
import { startRegistry } from '../support/registry-server.js';
import { makeTempDir } from '../support/temp-dir.js';
import { requireTools, toolSkipReason } from '../support/tools.js';
import { clientFor, pushImage, sha256Of, startFront } from './fixtures.js';

/**
 * Real faults at the socket level, between the client and a real registry: cut transfers, refused connections,
 * error statuses, silence, tampered content. And what health does with each.
 */

const skip = toolSkipReason('docker-registry', 'skopeo');

function unavailable(reason: UnavailableReason, check?: (error: UpstreamUnavailableError) => void) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof UpstreamUnavailableError, `expected UpstreamUnavailableError, got ${String(error)}`);
    assert.equal(error.reason, reason, error.message);
    check?.(error);
    return true;
  };
}

interface Upstream {
  readonly url: string;
  readonly image: ImageLayout;
  readonly bigLayer: LayerInfo;
}

async function populatedDistribution(t: TestContext): Promise<Upstream> {
  requireTools('docker-registry', 'skopeo');
  const registry = await startDistribution({ logLevel: 'warn', accessLog: false });
  t.after(() => registry.stop());
  const image = await createImageLayout(await makeTempDir(t), { tag: 'v1', layers: [{ bytes: 1024 * 1024, compress: false }] });
  await pushImage(image.ref, registry.host, 'team/app:v1');
  const bigLayer = image.layers[0];
  assert.ok(bigLayer);
  return { url: registry.url, image, bigLayer };
}

test('faults between the client and docker-registry', { skip }, async (t) => {
  const upstream = await populatedDistribution(t);
  const { bigLayer } = upstream;

  await t.test('an upstream killed mid-blob makes the stream fail, never end short', async () => {
    const front = await startFront(t, { target: upstream.url, cutBlobsAfterBytes: 200_000 });
    const client = clientFor(t, { name: 'cut', url: front.url });
    const blob = await client.getBlob('team/app', bigLayer.digest);
    assert.equal(blob.size, bigLayer.size);
    await assert.rejects(sha256Of(blob.stream), unavailable('network', (error) => assert.match(error.message, /interrupted after \d+ bytes/)));
    assert.equal(client.health.state().consecutiveFailures, 1);
  });

  await t.test('tampered content fails: manifest digest header, and blob bytes', async () => {
    const front = await startFront(t, {
      target: upstream.url,
      handle: (req, res) => {
        if (req.url?.includes('/manifests/')) {
          res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'docker-content-digest': `sha256:${'1'.repeat(64)}` });
          res.end(upstream.image.manifestBytes);
          return true;
        }
        if (req.url?.includes('/blobs/')) {
          res.writeHead(200, { 'content-length': String(bigLayer.size) });
          res.end(Buffer.alloc(bigLayer.size, 7)); // right length, wrong bytes
          return true;
        }
        return false;
      },
    });
    // Three bad answers in a row: a health that never goes offline, so each one is classified on its own.
    const client = clientFor(t, { name: 'tampered', url: front.url }, 10_000, createUpstreamHealth({ name: 'tampered', maxFailures: Infinity }));
    await assert.rejects(client.getManifest('team/app', 'v1'), unavailable('digest-mismatch'));
    await assert.rejects(client.getManifest('team/app', upstream.image.config.digest), unavailable('digest-mismatch'));
    const blob = await client.getBlob('team/app', bigLayer.digest);
    await assert.rejects(sha256Of(blob.stream), unavailable('digest-mismatch'));
  });

  await t.test('5xx is server-error, 429 is rate-limited with Retry-After and takes the upstream offline at once', async () => {
    let status = 503;
    const front = await startFront(t, {
      handle: (_req, res) => {
        res.writeHead(status, status === 429 ? { 'retry-after': '7' } : {}).end('{"errors":[{"code":"UNAVAILABLE","message":"down"}]}');
        return true;
      },
    });
    const clock = { now: Date.now() };
    const health = createUpstreamHealth({ name: 'flaky', maxFailures: 5, now: () => clock.now });
    const client = createUpstreamClient({ name: 'flaky', url: front.url }, { logger: silentLogger(), health });
    t.after(() => client.close());
    await assert.rejects(client.headManifest('team/app', 'v1'), unavailable('server-error', (error) => assert.equal(error.status, 503)));
    await assert.rejects(client.getManifest('team/app', 'v1'), unavailable('server-error', (error) => assert.match(error.message, /UNAVAILABLE/)));
    assert.equal(health.state().online, true);
    status = 429;
    await assert.rejects(client.getManifest('team/app', 'v1'), unavailable('rate-limited', (error) => assert.equal(error.retryAfterMs, 7000)));
    assert.deepEqual({ online: health.state().online, offlineUntil: health.state().offlineUntil }, { online: false, offlineUntil: clock.now + 7000 });
    const seen = front.requests.length;
    await assert.rejects(client.getManifest('team/app', 'v1'), unavailable('offline'));
    assert.equal(front.requests.length, seen, 'no request while offline');
  });

  await t.test('an upstream that never answers times out', async () => {
    const front = await startFront(t, { handle: () => true });
    const client = clientFor(t, { name: 'silent', url: front.url }, 300);
    const started = Date.now();
    await assert.rejects(client.getManifest('team/app', 'v1'), unavailable('timeout'));
    assert.ok(Date.now() - started < 5000);
  });

  await t.test('the caller aborting a blob is not a failure of the upstream', async () => {
    const client = clientFor(t, { name: 'aborted', url: upstream.url });
    const controller = new AbortController();
    const blob = await client.getBlob('team/app', bigLayer.digest, { signal: controller.signal });
    blob.stream.once('data', () => controller.abort());
    await assert.rejects(sha256Of(blob.stream));
    assert.deepEqual(client.health.state(), { online: true, consecutiveFailures: 0 });
  });

  await t.test('connection refused: offline after 3, fails fast, one probe after the window brings it back', async () => {
    const port = await freePort();
    const clock = { now: Date.now() };
    const health = createUpstreamHealth({ name: 'gone', maxFailures: 3, offlineForMs: 30_000, now: () => clock.now });
    const changes: UpstreamHealthChange[] = [];
    health.on('change', (change) => changes.push(change));
    const client = createUpstreamClient({ name: 'gone', url: `http://127.0.0.1:${port}` }, { logger: silentLogger(), health });
    t.after(() => client.close());

    for (let i = 1; i <= 3; i++) {
      await assert.rejects(client.headManifest('team/app', 'v1'), unavailable('network', (error) => assert.match(error.message, /ECONNREFUSED/)));
      assert.equal(health.state().consecutiveFailures, i);
    }
    assert.equal(health.state().online, false);
    assert.equal(health.state().offlineUntil, clock.now + 30_000);
    assert.match(health.state().lastError ?? '', /ECONNREFUSED/);
    assert.deepEqual(changes.map((change) => change.online), [false]);

    // The upstream comes back on its port, but the window has not passed: still no network.
    const front = await startFront(t, { target: upstream.url, port });
    await assert.rejects(client.headManifest('team/app', 'v1'), unavailable('offline', (error) => assert.match(error.message, /retrying in 30 s/)));
    await assert.rejects(client.getBlob('team/app', bigLayer.digest), unavailable('offline'));
    assert.equal(front.requests.length, 0, 'fail fast: nothing reached the upstream');

    clock.now += 30_001;
    assert.equal((await client.headManifest('team/app', 'v1'))?.digest, upstream.image.manifestDigest);
    assert.deepEqual(health.state(), { online: true, consecutiveFailures: 0, lastError: changes[0]?.state.lastError });
    assert.deepEqual(changes.map((change) => change.online), [false, true]);
  });

  await t.test('a failed probe keeps it offline for a doubled window; concurrent calls do not pile onto the probe', async () => {
    const port = await freePort();
    const clock = { now: Date.now() };
    const health = createUpstreamHealth({ name: 'still-gone', offlineForMs: 1000, now: () => clock.now });
    const client = createUpstreamClient({ name: 'still-gone', url: `http://127.0.0.1:${port}` }, { logger: silentLogger(), health });
    t.after(() => client.close());
    // The default: one failed contact and it is offline.
    await assert.rejects(client.headManifest('team/app', 'v1'), unavailable('network'));
    assert.equal(health.state().online, false);
    assert.equal(health.state().offlineUntil, clock.now + 1000);
    clock.now += 1001;
    const [probe, second] = await Promise.allSettled([client.headManifest('team/app', 'v1'), client.headManifest('team/app', 'v1')]);
    assert.ok(probe.status === 'rejected' && (probe.reason as UpstreamUnavailableError).reason === 'network');
    assert.ok(second.status === 'rejected' && (second.reason as UpstreamUnavailableError).reason === 'offline');
    assert.equal(health.state().offlineUntil, clock.now + 2000, 'the window doubles after a failed probe');
    // ping (the admin's Test, the background probe) always asks, offline or not, and its verdict counts.
    await assert.rejects(client.ping(), unavailable('network'));
    const front = await startFront(t, { target: upstream.url, port });
    await client.ping();
    assert.equal(health.state().online, true, 'one successful contact brings it back at once');
    assert.ok(front.requests.some((seen) => seen.path === '/v2/'));
  });

  await t.test('background probing brings an offline upstream back without any request', async () => {
    const port = await freePort();
    const health = createUpstreamHealth({ name: 'probed', maxFailures: 1, offlineForMs: 60_000 });
    const client = createUpstreamClient({ name: 'probed', url: `http://127.0.0.1:${port}` }, { logger: silentLogger(), health });
    t.after(() => client.close());
    await assert.rejects(client.ping(), unavailable('network'));
    assert.equal(health.state().online, false);
    client.startProbing(50);
    const front = await startFront(t, { target: upstream.url, port });
    const [change] = (await once(health, 'change', { signal: AbortSignal.timeout(5000) })) as [UpstreamHealthChange];
    assert.equal(change.online, true);
    assert.ok(front.requests.some((seen) => seen.path === '/v2/'));
  });
});

test('tag pagination follows Link headers (Berth pages of one tag)', { skip: toolSkipReason('skopeo') }, async (t) => {
  requireTools('skopeo');
  const berth = await startRegistry(t);
  const host = new URL(berth.url).host;
  const image = await createImageLayout(await makeTempDir(t), { tag: 'a', layers: [{ bytes: 500 }] });
  for (const tag of ['a', 'b', 'c', 'd']) await pushImage(image.ref, host, `team/app:${tag}`);
  // Force a page size of 1 on requests that carry none, so every page ends with a Link to the next.
  const front = await startFront(t, {
    target: berth.url,
    handle: (req, res) => {
      if (!req.url?.endsWith('/tags/list')) return false;
      res.writeHead(307, { location: `${req.url}?n=1` }).end();
      return true;
    },
  });
  const client = clientFor(t, { name: 'paged', url: front.url });
  assert.deepEqual(await client.listTags('team/app'), ['a', 'b', 'c', 'd']);
  assert.equal(front.requests.filter((seen) => seen.path.includes('/tags/list')).length, 5, 'one redirect, then four pages');
  assert.deepEqual(await client.listTags('team/app', { n: 3 }), ['a', 'b', 'c']);
  assert.deepEqual(await client.listTags('team/app', { last: 'b' }), ['c', 'd']);
});

test('a small answer trickled a byte at a time ends at its deadline; headers trickled too', { skip, timeout: 60_000 }, async (t) => {
  const upstream = await populatedDistribution(t);
  const manifests = ({ method, path }: { method: string; path: string }) =>
    method === 'GET' && path.includes('/manifests/') ? ({ kind: 'trickle', afterBodyBytes: 0, intervalMs: 200 } as const) : undefined;
  const proxy = await startFaultProxy(t, upstream.url, manifests);
  const transport = createTransport({ timeoutMs: 1000 });
  t.after(() => transport.close());
  const accept = 'application/vnd.oci.image.manifest.v1+json';
  const response = await transport.send({ url: new URL(`${proxy.url}/v2/team/app/manifests/v1`), method: 'GET', headers: { accept } });
  assert.equal(response.status, 200);
  const started = Date.now();
  // A byte every 200 ms keeps the 1 s socket timeout from ever firing: the body's own deadline ends it.
  await assert.rejects(readBody(response.body, 4 * 1024 * 1024, 1500), /no complete body from the upstream for 1500 ms/);
  assert.ok(Date.now() - started < 5000);

  // The header itself, a byte at a time: limited by the same timeout as silence.
  const slowHeaders = await startFront(t, {
    handle: (_req, res) => {
      const socket = res.socket;
      if (!socket) return true;
      let i = 0;
      const text = 'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n';
      const timer = setInterval(() => (socket.destroyed ? clearInterval(timer) : socket.write(text[i++ % text.length] as string)), 200);
      return true;
    },
  });
  await assert.rejects(
    transport.send({ url: new URL(`${slowHeaders.url}/v2/`), method: 'GET', headers: {} }),
    /no complete header from the upstream for 1000 ms/,
  );
});

test("an upstream's last error is the plain sentence of `berth upstream test`, not the socket's code", async (t) => {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const client = createUpstreamClient({ name: 'gone', url }, { logger: silentLogger() });
  t.after(() => client.close());
  await assert.rejects(client.headManifest('team/app', 'v1'), unavailable('network'));
  const state = client.health.state();
  assert.equal(state.online, false);
  // The same words the GUI's Test button and `berth upstream test` print for it.
  assert.equal(state.lastError, `connection refused: is it running at ${url}?`);
});
