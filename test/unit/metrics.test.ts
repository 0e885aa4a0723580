import assert from 'node:assert/strict';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  createMetrics,
  createMetricsRegistry,
  createStorageUsage,
  durationBuckets,
  instrumentRequests,
  metricsHandler,
  routeKindOf,
} from '../../registry/metrics/index.js';
import { createFilesystemDriver } from '../../registry/storage/filesystem-driver.js';
import { makeTempDir } from '../support/temp-dir.js';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Exposition {
  help: Map<string, string>;
  type: Map<string, string>;
  samples: Sample[];
}

function parseValue(text: string): number {
  if (text === '+Inf') return Number.POSITIVE_INFINITY;
  if (text === '-Inf') return Number.NEGATIVE_INFINITY;
  if (text === 'NaN') return Number.NaN;
  const value = Number(text);
  assert.ok(text !== '' && !Number.isNaN(value), `not a number: ${text}`);
  return value;
}

/**
 * A strict little parser for the 0.0.4 text format: it rejects what Prometheus would (bad names, unescaped
 * quotes, samples before their TYPE, a family split in two), so a formatting bug fails these tests.
 */
function parseExposition(text: string): Exposition {
  assert.ok(text.endsWith('\n'), 'exposition must end with a line feed');
  const out: Exposition = { help: new Map(), type: new Map(), samples: [] };
  const finished = new Set<string>();
  let current = '';
  const familyOf = (name: string): string => {
    for (const suffix of ['_bucket', '_sum', '_count']) {
      const base = name.slice(0, -suffix.length);
      if (name.endsWith(suffix) && out.type.get(base) === 'histogram') return base;
    }
    return name;
  };
  for (const line of text.slice(0, -1).split('\n')) {
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (meta) {
      const [, kind, name, rest] = meta as unknown as [string, string, string, string];
      if (name !== current) {
        assert.ok(!finished.has(name), `family ${name} appears twice`);
        if (current) finished.add(current);
        current = name;
      }
      if (kind === 'HELP') out.help.set(name, rest.replace(/\\n/g, '\n').replace(/\\\\/g, '\\'));
      else {
        assert.match(rest, /^(counter|gauge|histogram|summary|untyped)$/);
        assert.ok(!out.samples.some((s) => familyOf(s.name) === name), `TYPE after samples for ${name}`);
        out.type.set(name, rest);
      }
      continue;
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$/.exec(line);
    assert.ok(sample, `bad sample line: ${JSON.stringify(line)}`);
    const [, name, block, value] = sample as unknown as [string, string, string | undefined, string];
    const labels: Record<string, string> = {};
    if (block) {
      const body = block.slice(1, -1);
      const label = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/y;
      let at = 0;
      while (at < body.length) {
        label.lastIndex = at;
        const match = label.exec(body);
        assert.ok(match, `bad labels in ${JSON.stringify(line)}`);
        const [, key, raw] = match as unknown as [string, string, string];
        assert.ok(!(key in labels), `duplicate label ${key}`);
        labels[key] = raw.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
        at = label.lastIndex;
      }
    }
    assert.equal(familyOf(name), current, `sample ${name} outside its family`);
    assert.ok(out.type.has(current) && out.help.has(current), `sample ${name} without HELP/TYPE`);
    out.samples.push({ name, labels, value: parseValue(value) });
  }
  const keys = out.samples.map((s) => `${s.name}${JSON.stringify(Object.entries(s.labels).sort())}`);
  assert.equal(new Set(keys).size, keys.length, 'duplicate series');
  return out;
}

function find(exposition: Exposition, name: string, labels: Record<string, string> = {}): number | undefined {
  const hit = exposition.samples.find(
    (s) => s.name === name && Object.keys(labels).length === Object.keys(s.labels).length && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  return hit?.value;
}

test('request counters, bytes and durations add up after many observations', () => {
  const metrics = createMetrics();
  for (let i = 0; i < 1000; i += 1) {
    metrics.observeRequest({ route: 'blob', method: 'GET', status: 200, durationSeconds: 0.002, bytesOut: 1000 });
  }
  for (let i = 0; i < 30; i += 1) metrics.observeRequest({ route: 'blob', method: 'GET', status: 404, durationSeconds: 0.0001 });
  for (let i = 0; i < 7; i += 1) {
    metrics.observeRequest({ route: 'upload', method: 'PATCH', status: 202, durationSeconds: 3, bytesIn: 5_000_000 });
  }
  const parsed = parseExposition(metrics.render());
  assert.equal(find(parsed, 'berth_http_requests_total', { route: 'blob', method: 'GET', status: '200' }), 1000);
  assert.equal(find(parsed, 'berth_http_requests_total', { route: 'blob', method: 'GET', status: '404' }), 30);
  assert.equal(find(parsed, 'berth_http_requests_total', { route: 'upload', method: 'PATCH', status: '202' }), 7);
  assert.equal(find(parsed, 'berth_http_bytes_sent_total', { route: 'blob' }), 1_000_000);
  assert.equal(find(parsed, 'berth_http_bytes_received_total', { route: 'upload' }), 35_000_000);
  // No bytes moved for this route in that direction: no series rather than a zero one per route.
  assert.equal(find(parsed, 'berth_http_bytes_received_total', { route: 'blob' }), undefined);
  assert.equal(find(parsed, 'berth_http_request_duration_seconds_count', { route: 'blob', method: 'GET' }), 1030);
  const sum = find(parsed, 'berth_http_request_duration_seconds_sum', { route: 'blob', method: 'GET' }) ?? 0;
  assert.ok(Math.abs(sum - (1000 * 0.002 + 30 * 0.0001)) < 1e-9, String(sum));
  assert.equal(parsed.type.get('berth_http_requests_total'), 'counter');
  assert.equal(parsed.type.get('berth_http_request_duration_seconds'), 'histogram');
});

test('histogram buckets are cumulative, end with +Inf = count, and put a value equal to a bound in that bucket', () => {
  const metrics = createMetrics();
  const values = [0.0001, 0.001, 0.001, 0.02, 0.3, 7, 1000];
  for (const value of values) metrics.observeRequest({ route: 'manifest', method: 'HEAD', status: 200, durationSeconds: value });
  const parsed = parseExposition(metrics.render());
  const buckets = parsed.samples.filter((s) => s.name === 'berth_http_request_duration_seconds_bucket' && s.labels.route === 'manifest');
  assert.deepEqual(
    buckets.map((s) => s.labels.le),
    [...durationBuckets.map(String), '+Inf'],
  );
  let previous = 0;
  for (const bucket of buckets) {
    const bound = parseValue(bucket.labels.le as string);
    assert.equal(bucket.value, values.filter((v) => v <= bound).length, `le=${bucket.labels.le}`);
    assert.ok(bucket.value >= previous, 'buckets must never decrease');
    previous = bucket.value;
  }
  assert.equal(buckets.at(-1)?.value, values.length);
  assert.equal(find(parsed, 'berth_http_request_duration_seconds_count', { route: 'manifest', method: 'HEAD' }), values.length);
});

test('label values and HELP text are escaped and parse back to the original', () => {
  const registry = createMetricsRegistry();
  const nasty = 'back\\slash "quoted"\nnew line, {braces} =equals';
  registry.gauge({ name: 'test_gauge', help: 'Help with \\ and\nnewline "quotes" stay', labelNames: ['name'] }).set(1.5, nasty);
  registry.counter({ name: 'test_total', help: 'plain' }).inc(2);
  const text = registry.render();
  assert.ok(text.includes('name="back\\\\slash \\"quoted\\"\\nnew line, {braces} =equals"'), text);
  assert.ok(text.includes('# HELP test_gauge Help with \\\\ and\\nnewline "quotes" stay\n'), text);
  const parsed = parseExposition(text);
  assert.equal(find(parsed, 'test_gauge', { name: nasty }), 1.5);
  assert.equal(parsed.help.get('test_gauge'), 'Help with \\ and\nnewline "quotes" stay');
  assert.equal(find(parsed, 'test_total'), 2);
});

test('special values render as Prometheus spells them', () => {
  const registry = createMetricsRegistry();
  const gauge = registry.gauge({ name: 'g', help: 'h', labelNames: ['k'] });
  gauge.set(Number.POSITIVE_INFINITY, 'a');
  gauge.set(Number.NEGATIVE_INFINITY, 'b');
  gauge.set(Number.NaN, 'c');
  gauge.set(1e-7, 'd');
  const text = registry.render();
  assert.match(text, /^g\{k="a"\} \+Inf$/m);
  assert.match(text, /^g\{k="b"\} -Inf$/m);
  assert.match(text, /^g\{k="c"\} NaN$/m);
  assert.equal(find(parseExposition(text), 'g', { k: 'd' }), 1e-7);
});

test('misuse fails loudly at registration or update, not silently in the scrape', () => {
  const registry = createMetricsRegistry();
  assert.throws(() => registry.counter({ name: 'bad-name', help: 'h' }), /invalid metric name/);
  assert.throws(() => registry.counter({ name: 'x', help: 'h', labelNames: ['__reserved'] }), /invalid label name/);
  assert.throws(() => registry.histogram({ name: 'h1', help: 'h', labelNames: ['le'], buckets: [1] }), /invalid label name/);
  assert.throws(() => registry.histogram({ name: 'h2', help: 'h', buckets: [2, 1] }), /ascending/);
  const counter = registry.counter({ name: 'c_total', help: 'h', labelNames: ['a', 'b'] });
  assert.throws(() => registry.counter({ name: 'c_total', help: 'h' }), /registered twice/);
  assert.throws(() => counter.labels('only-one'), /takes 2 label values/);
  assert.throws(() => counter.labels('x', 'y').inc(-1), /cannot decrease/);
  const gauge = registry.gauge({ name: 'up', help: 'h', labelNames: ['upstream'] });
  gauge.set(1, 'docker.io');
  gauge.remove('docker.io');
  assert.ok(!registry.render().includes('docker.io'));
});

test('unknown routes, methods and auth reasons collapse into "other" so clients cannot grow the scrape', () => {
  const metrics = createMetrics();
  for (let i = 0; i < 100; i += 1) {
    metrics.observeRequest({ route: `/v2/evil/${i}`, method: `M${i}`, status: 200, durationSeconds: 0.001 });
    metrics.authFailure(`Reason ${i} with spaces`);
    metrics.authFailure(`r${i}`);
  }
  metrics.authFailure('expired');
  metrics.authFailure('expired');
  const parsed = parseExposition(metrics.render());
  assert.equal(find(parsed, 'berth_http_requests_total', { route: 'other', method: 'other', status: '200' }), 100);
  const requestSeries = parsed.samples.filter((s) => s.name === 'berth_http_requests_total');
  assert.equal(requestSeries.length, 1);
  const reasons = parsed.samples.filter((s) => s.name === 'berth_auth_failures_total');
  assert.ok(reasons.length <= 33, `${reasons.length} reason series`);
  assert.equal(find(parsed, 'berth_auth_failures_total', { reason: 'r0' }), 1);
  assert.equal(reasons.reduce((total, s) => total + s.value, 0), 202);
  // 'expired' arrived after the cap was reached, so it is counted as other; the total still adds up.
  assert.ok((find(parsed, 'berth_auth_failures_total', { reason: 'other' }) ?? 0) >= 100);
});

test('auth failures, upstream state, process and build metrics are exposed', () => {
  const metrics = createMetrics({ version: '1.2.3' });
  metrics.authFailure('unknown');
  metrics.authFailure('unknown');
  metrics.authFailure('revoked');
  metrics.upstreamOnline('docker.io', true);
  metrics.upstreamOnline('ghcr.io', false);
  metrics.upstreamOnline('quay.io', true);
  metrics.removeUpstream('quay.io');
  const parsed = parseExposition(metrics.render());
  assert.equal(find(parsed, 'berth_auth_failures_total', { reason: 'unknown' }), 2);
  assert.equal(find(parsed, 'berth_auth_failures_total', { reason: 'revoked' }), 1);
  assert.equal(find(parsed, 'berth_upstream_online', { upstream: 'docker.io' }), 1);
  assert.equal(find(parsed, 'berth_upstream_online', { upstream: 'ghcr.io' }), 0);
  assert.equal(find(parsed, 'berth_upstream_online', { upstream: 'quay.io' }), undefined);
  assert.equal(find(parsed, 'berth_build_info', { version: '1.2.3' }), 1);
  const rss = find(parsed, 'berth_process_resident_memory_bytes') ?? 0;
  assert.ok(rss > 10 * 1024 * 1024 && rss < 64 * 1024 * 1024 * 1024, String(rss));
  assert.ok((find(parsed, 'berth_process_heap_used_bytes') ?? 0) > 0);
  assert.ok((find(parsed, 'berth_process_cpu_seconds_total') ?? 0) > 0);
  const start = find(parsed, 'berth_process_start_time_seconds') ?? 0;
  assert.ok(Math.abs(start - (Date.now() / 1000 - process.uptime())) < 5, String(start));
});

test('observeRequest stays cheap on the hot path (1M calls, microseconds at most each)', () => {
  const metrics = createMetrics();
  const routes = ['blob', 'manifest', 'upload', 'tags'] as const;
  const statuses = [200, 201, 202, 404];
  const n = 1_000_000;
  const started = process.hrtime.bigint();
  for (let i = 0; i < n; i += 1) {
    metrics.observeRequest({ route: routes[i & 3] as string, method: i & 1 ? 'GET' : 'HEAD', status: statuses[i & 3] as number, durationSeconds: 0.001, bytesOut: 10 });
  }
  const ns = Number(process.hrtime.bigint() - started) / n;
  // ~100 ns on this machine; 5 µs leaves room for a loaded CI box while still catching per-call string building.
  assert.ok(ns < 5000, `${ns.toFixed(0)} ns per observeRequest`);
  const parsed = parseExposition(metrics.render());
  const total = parsed.samples.filter((s) => s.name === 'berth_http_requests_total').reduce((sum, s) => sum + s.value, 0);
  assert.equal(total, n);
});

test('storage usage sums blob file sizes, is cached for the TTL, and shares one walk between concurrent scrapes', async (t) => {
  const dir = await makeTempDir(t);
  let clock = 1_000;
  const meter = createStorageUsage(createFilesystemDriver(dir), { ttlMs: 30_000, now: () => clock });
  assert.deepEqual(await meter.read(), { bytes: 0, files: 0 }, 'a data dir without blobs/ is empty, not an error');
  meter.invalidate();
  const blob = (hex: string) => join(dir, 'blobs', 'sha256', hex.slice(0, 2), hex);
  await mkdir(blob('aa11'), { recursive: true });
  await mkdir(blob('bb22'), { recursive: true });
  await writeFile(join(blob('aa11'), 'data'), Buffer.alloc(1234));
  await writeFile(join(blob('bb22'), 'data'), Buffer.alloc(100_000));
  // Outside blobs/: link files and state are not the store's size.
  await mkdir(join(dir, 'repositories', 'app'), { recursive: true });
  await writeFile(join(dir, 'repositories', 'app', 'link'), 'sha256:aa11');
  const [first, second] = await Promise.all([meter.read(), meter.read()]);
  assert.deepEqual(first, { bytes: 101_234, files: 2 });
  assert.deepEqual(second, first);

  await writeFile(join(blob('aa11'), 'data'), Buffer.alloc(5));
  clock += 29_000;
  assert.equal((await meter.read()).bytes, 101_234, 'within the TTL the cached value is served');
  assert.equal((await meter.read({ maxAgeMs: 5_000 })).bytes, 100_005, 'a reader asking for a fresher figure gets a new walk');
  clock += 31_000;
  assert.equal((await meter.read()).bytes, 100_005, 'after the TTL the store is walked again');

  await rm(join(dir, 'blobs'), { recursive: true });
  meter.invalidate();
  assert.deepEqual(await meter.read(), { bytes: 0, files: 0 });
});

test('storage usage for a scrape: a stale figure is answered at once and refreshed in the background', async () => {
  let clock = 0;
  let bytes = 100;
  const walks: Array<() => void> = [];
  // A driver whose walk finishes only when the test lets it: a slow bucket listing.
  const driver = {
    usage: (path: string) => {
      assert.equal(path, '/blobs', 'only the blob store is counted');
      const answer = { bytes, files: 1 };
      return new Promise<{ bytes: number; files: number }>((resolve) => walks.push(() => resolve(answer)));
    },
  };
  const meter = createStorageUsage(driver, { ttlMs: 30_000, now: () => clock });
  const first = meter.read({ staleWhileRefreshing: true });
  assert.equal(walks.length, 1, 'without a cached figure the first scrape waits for the walk');
  walks.shift()?.();
  assert.equal((await first).bytes, 100);

  bytes = 200;
  clock += 31_000;
  assert.equal((await meter.read({ staleWhileRefreshing: true })).bytes, 100, 'stale: answered from the cache');
  assert.equal(walks.length, 1, 'and one refresh started');
  assert.equal((await meter.read({ staleWhileRefreshing: true })).bytes, 100);
  assert.equal(walks.length, 1, 'a second scrape joins the refresh in flight');
  walks.shift()?.();
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal((await meter.read({ staleWhileRefreshing: true })).bytes, 200, 'the refreshed figure is served next');

  // After garbage collection the figure must not come from before it, not even from a walk still running.
  clock += 31_000;
  void meter.read({ staleWhileRefreshing: true });
  assert.equal(walks.length, 1);
  meter.invalidate();
  bytes = 50;
  const afterGc = meter.read({ staleWhileRefreshing: true });
  assert.equal(walks.length, 2, 'a read after invalidate() starts its own walk');
  walks.shift()?.(); // the old walk ends: its figure (200) is not cached
  walks.shift()?.();
  assert.equal((await afterGc).bytes, 50);
  assert.equal((await meter.read()).bytes, 50);
});

test('GET /metrics over real HTTP: content type, storage gauge from the callback, HEAD and 405', async (t) => {
  const dir = await makeTempDir(t);
  await mkdir(join(dir, 'blobs', 'sha256', 'cc', 'cc33'), { recursive: true });
  await writeFile(join(dir, 'blobs', 'sha256', 'cc', 'cc33', 'data'), Buffer.alloc(4096));
  const meter = createStorageUsage(createFilesystemDriver(dir));
  const metrics = createMetrics({ storage: () => meter.read({ staleWhileRefreshing: true }) });
  const handler = metricsHandler(metrics);
  const server = createServer((req, res) => {
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const route = routeKindOf(new URL(req.url ?? '/', 'http://x').pathname);
      metrics.observeRequest({ route, method: req.method ?? 'GET', status: res.statusCode, durationSeconds: Number(process.hrtime.bigint() - started) / 1e9 });
    });
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`;

  const first = await fetch(base);
  assert.equal(first.status, 200);
  assert.equal(first.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
  const parsed = parseExposition(await first.text());
  assert.equal(find(parsed, 'berth_storage_bytes'), 4096);
  assert.equal(find(parsed, 'berth_storage_blobs'), 1);

  const second = parseExposition(await (await fetch(base)).text());
  assert.equal(find(second, 'berth_http_requests_total', { route: 'metrics', method: 'GET', status: '200' }), 1);

  const head = await fetch(base, { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(await head.text(), '');
  const post = await fetch(base, { method: 'POST' });
  assert.equal(post.status, 405);
  assert.equal(post.headers.get('allow'), 'GET, HEAD');
});

test('a failing storage callback keeps the scrape working', async () => {
  let calls = 0;
  const metrics = createMetrics({
    storage: () => {
      calls += 1;
      if (calls > 1) throw new Error('disk gone');
      return { bytes: 42, files: 1 };
    },
  });
  await metrics.refresh();
  await metrics.refresh();
  assert.equal(find(parseExposition(metrics.render()), 'berth_storage_bytes'), 42);
});

test('routeKindOf classifies every registry, token, API and UI path', () => {
  const cases: Array<[string, string]> = [
    ['/v2', 'base'],
    ['/v2/', 'base'],
    ['/v2/_catalog', 'catalog'],
    ['/v2/team/app/manifests/1.0', 'manifest'],
    ['/v2/team/app/manifests/sha256:abc', 'manifest'],
    ['/v2/a/b/c/blobs/sha256:abc', 'blob'],
    ['/v2/team/app/blobs/uploads/', 'uploads'],
    ['/v2/team/app/blobs/uploads', 'uploads'],
    ['/v2/team/app/blobs/uploads/3f2a-uuid', 'upload'],
    ['/v2/team/app/tags/list', 'tags'],
    ['/v2/team/app/referrers/sha256:abc', 'referrers'],
    ['/v2/team/app/nonsense', 'other'],
    ['/token', 'token'],
    ['/api/tokens', 'api'],
    ['/metrics', 'metrics'],
    ['/', 'ui'],
    ['/ui/repositories', 'ui'],
    ['/assets/app.js', 'ui'],
    ['/wp-admin', 'other'],
  ];
  for (const [path, kind] of cases) assert.equal(routeKindOf(path), kind, path);
});

test('instrumentRequests observes every request on a real server: route, status, bytes both ways, aborts', async (t) => {
  const metrics = createMetrics();
  const blob = Buffer.alloc(1024 * 1024, 7);
  const server = createServer(
    instrumentRequests(metrics, (req, res) => {
      if (req.method === 'PATCH') {
        // The handler consumes the body itself: instrumentation must not have put the stream into flowing mode.
        let received = 0;
        req.on('data', (chunk: Buffer) => (received += chunk.length));
        req.on('end', () => {
          res.writeHead(202, { 'X-Received': String(received) });
          res.end();
        });
        return;
      }
      if (req.url?.startsWith('/v2/team/app/blobs/')) {
        res.writeHead(200, { 'Content-Length': blob.length });
        if (req.url.endsWith('slow')) {
          res.write(blob.subarray(0, 1024)); // never finishes: the client aborts
          return;
        }
        res.end(blob);
        return;
      }
      res.writeHead(404);
      res.end('not found');
    }),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const upload = Buffer.alloc(300_000, 1);
  const patched = await fetch(`${base}/v2/team/app/blobs/uploads/abc`, { method: 'PATCH', body: upload });
  assert.equal(patched.status, 202);
  assert.equal(patched.headers.get('x-received'), String(upload.length));
  const pulled = await fetch(`${base}/v2/team/app/blobs/sha256:aa`);
  assert.equal((await pulled.arrayBuffer()).byteLength, blob.length);
  assert.equal((await fetch(`${base}/v2/_catalog?n=1`)).status, 404);
  await new Promise<void>((resolve) => {
    const req = request(`${base}/v2/team/app/blobs/slow`, (res) => {
      res.once('data', () => {
        req.destroy();
        resolve();
      });
    });
    req.end();
  });

  // 'close' fires once the server notices the abort: poll briefly rather than guess a delay.
  const deadline = Date.now() + 2_000;
  let parsed = parseExposition(metrics.render());
  while (Date.now() < deadline && (find(parsed, 'berth_http_request_duration_seconds_count', { route: 'blob', method: 'GET' }) ?? 0) < 2) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    parsed = parseExposition(metrics.render());
  }
  assert.equal(find(parsed, 'berth_http_requests_total', { route: 'upload', method: 'PATCH', status: '202' }), 1);
  assert.equal(find(parsed, 'berth_http_requests_total', { route: 'blob', method: 'GET', status: '200' }), 2);
  assert.equal(find(parsed, 'berth_http_requests_total', { route: 'catalog', method: 'GET', status: '404' }), 1);
  const receivedUpload = find(parsed, 'berth_http_bytes_received_total', { route: 'upload' }) ?? 0;
  assert.ok(receivedUpload >= upload.length && receivedUpload < upload.length + 4096, String(receivedUpload));
  // Request lines and headers count too: a GET with no body still received its bytes.
  assert.ok((find(parsed, 'berth_http_bytes_received_total', { route: 'catalog' }) ?? 0) > 20);
  const sentBlob = find(parsed, 'berth_http_bytes_sent_total', { route: 'blob' }) ?? 0;
  assert.ok(sentBlob >= blob.length + 1024 && sentBlob < 2 * blob.length, String(sentBlob));
});

test('namespace quota gauges: usage always, limits only where set; a namespace or limit that goes is dropped', async () => {
  let samples: Array<{ namespace: string; storageBytes: number; pullBytesThisMonth: number; storageQuotaBytes?: number; pullQuotaBytesPerMonth?: number }> = [
    { namespace: 'team', storageBytes: 900, pullBytesThisMonth: 50, storageQuotaBytes: 1000, pullQuotaBytesPerMonth: 5000 },
    { namespace: 'open', storageBytes: 7, pullBytesThisMonth: 0 },
  ];
  const metrics = createMetrics({ namespaces: async () => samples });
  await metrics.refresh();
  let exposition = parseExposition(metrics.render());
  const value = (name: string, namespace: string) => exposition.samples.find((s) => s.name === name && s.labels.namespace === namespace)?.value;
  assert.equal(exposition.type.get('berth_namespace_storage_bytes'), 'gauge');
  assert.equal(value('berth_namespace_storage_bytes', 'team'), 900);
  assert.equal(value('berth_namespace_storage_quota_bytes', 'team'), 1000);
  assert.equal(value('berth_namespace_pull_bytes_month', 'team'), 50);
  assert.equal(value('berth_namespace_pull_quota_bytes', 'team'), 5000);
  assert.equal(value('berth_namespace_storage_bytes', 'open'), 7);
  assert.equal(value('berth_namespace_storage_quota_bytes', 'open'), undefined, 'no quota, no limit series');

  samples = [{ namespace: 'team', storageBytes: 950, pullBytesThisMonth: 60, storageQuotaBytes: 1000 }];
  await metrics.refresh();
  exposition = parseExposition(metrics.render());
  assert.equal(value('berth_namespace_storage_bytes', 'team'), 950);
  assert.equal(value('berth_namespace_pull_quota_bytes', 'team'), undefined, 'a removed limit is dropped');
  assert.equal(value('berth_namespace_storage_bytes', 'open'), undefined, 'a removed namespace is dropped');
});
