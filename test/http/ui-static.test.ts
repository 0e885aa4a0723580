import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { test } from 'node:test';
import { createUiMount, uiContentSecurityPolicy } from '../../registry/admin/ui-static.js';
import { createRegistry } from '../../registry/index.js';
import { makeTempDir } from '../support/temp-dir.js';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** Raw requests: fetch() would normalise `..` in paths, which is exactly what the traversal checks need to send. */
function get(base: string, path: string, method = 'GET'): Promise<Answer> {
  const url = new URL(base);
  return new Promise((resolvePromise, reject) => {
    const req = request({ host: url.hostname, port: url.port, path, method }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

async function serve(t: Parameters<typeof makeTempDir>[0], build: boolean) {
  const dir = await makeTempDir(t, 'berth-ui-');
  const dist = join(dir, 'dist');
  await writeFile(join(dir, 'secret.txt'), 'outside the dist directory');
  if (build) {
    await mkdir(join(dist, 'assets'), { recursive: true });
    await writeFile(join(dist, 'index.html'), '<!doctype html><div id="root"></div><script type="module" src="/ui/assets/app-1a2b.js"></script>');
    await writeFile(join(dist, 'assets', 'app-1a2b.js'), 'console.log("berth")');
    await writeFile(join(dist, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
  }
  const registry = await createRegistry({ dataDir: join(dir, 'data'), mounts: [createUiMount(dist)] });
  t.after(() => registry.close(200));
  const { url } = await registry.listen({ host: '127.0.0.1', port: 0 });
  return url;
}

test('serves index.html at /ui/ and for client-side routes, with the strict CSP', async (t) => {
  const url = await serve(t, true);
  for (const path of ['/ui/', '/ui/images/team/app', '/ui/audit?action=push']) {
    const answer = await get(url, path);
    assert.equal(answer.status, 200, path);
    assert.match(String(answer.headers['content-type']), /^text\/html/);
    assert.match(answer.body, /<div id="root">/);
    assert.equal(answer.headers['content-security-policy'], uiContentSecurityPolicy);
    assert.equal(answer.headers['x-content-type-options'], 'nosniff');
    assert.equal(answer.headers['cache-control'], 'no-cache');
  }
  assert.match(uiContentSecurityPolicy, /default-src 'self'/);
  assert.doesNotMatch(uiContentSecurityPolicy, /script-src[^;]*unsafe/);
});

test('hashed assets are cached for a year; other files are revalidated; missing assets are 404, not HTML', async (t) => {
  const url = await serve(t, true);
  const script = await get(url, '/ui/assets/app-1a2b.js');
  assert.equal(script.status, 200);
  assert.match(String(script.headers['content-type']), /^text\/javascript/);
  assert.match(String(script.headers['cache-control']), /max-age=31536000, immutable/);
  assert.equal(script.body, 'console.log("berth")');

  const icon = await get(url, '/ui/favicon.svg');
  assert.equal(icon.status, 200);
  assert.equal(icon.headers['content-type'], 'image/svg+xml');
  assert.equal(icon.headers['cache-control'], 'no-cache');

  const stale = await get(url, '/ui/assets/app-0000.js');
  assert.equal(stale.status, 404);
  assert.doesNotMatch(stale.body, /<div id="root">/);

  const head = await get(url, '/ui/assets/app-1a2b.js', 'HEAD');
  assert.equal(head.status, 200);
  assert.equal(head.body, '');
  assert.equal(head.headers['content-length'], String('console.log("berth")'.length));
});

test('paths cannot leave the dist directory', async (t) => {
  const url = await serve(t, true);
  for (const path of ['/ui/../secret.txt', '/ui/..%2fsecret.txt', '/ui/%2e%2e/secret.txt', '/ui/assets/..%2f..%2fsecret.txt', '/ui/%00']) {
    const answer = await get(url, path);
    assert.doesNotMatch(answer.body, /outside the dist directory/, path);
    assert.ok(answer.status === 400 || answer.status === 404, `${path} answered ${answer.status}`);
  }
});

test('redirects /ui to /ui/, refuses writes, and says how to build when dist is missing', async (t) => {
  const url = await serve(t, false);
  const bare = await get(url, '/ui');
  assert.equal(bare.status, 301);
  assert.equal(bare.headers.location, '/ui/');

  const post = await get(url, '/ui/', 'POST');
  assert.equal(post.status, 405);
  assert.equal(post.headers.allow, 'GET, HEAD');

  const missing = await get(url, '/ui/');
  assert.equal(missing.status, 503);
  assert.match(missing.body, /build:ui/);
});
