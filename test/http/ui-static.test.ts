import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { createRootMount, createUiMount, uiContentSecurityPolicy } from '../../registry/admin/ui-static.js';
import { createRegistry } from '../../registry/index.js';
import { makeTempDir } from '../support/temp-dir.js';

/** An ICO header: what the real renderer/public/favicon.ico starts with. */
const iconBytes = Buffer.from([0, 0, 1, 0, 1, 0, 16, 16]);

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
    await writeFile(join(dist, 'favicon.ico'), iconBytes);
  }
  const registry = await createRegistry({ dataDir: join(dir, 'data'), mounts: [createUiMount(dist), createRootMount(dist)] });
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

test('hashed assets are cached for a year; other files are revalidated; a missing asset is a 404 page, never the GUI', async (t) => {
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
  assertNotFoundPage(stale, '/ui/assets/app-0000.js');

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

/** The small HTML 404 page: the app's icon, the path it was asked for (escaped), a way back to the GUI. */
function assertNotFoundPage(answer: Answer, path: string): void {
  assert.equal(answer.status, 404, path);
  assert.match(String(answer.headers['content-type']), /^text\/html/, path);
  assert.equal(answer.headers['content-security-policy'], uiContentSecurityPolicy, path);
  assert.match(answer.body, /<link rel="icon" type="image\/svg\+xml" href="\/ui\/favicon.svg">/, path);
  assert.match(answer.body, /<a href="\/ui\/">Open Berth<\/a>/, path);
  assert.equal(answer.headers['content-length'], String(Buffer.byteLength(answer.body)), path);
}

test('/ leads to the GUI, /favicon.ico is the app icon, any other path is an HTML 404 page', async (t) => {
  const url = await serve(t, true);
  const root = await get(url, '/');
  assert.equal(root.status, 302);
  assert.equal(root.headers.location, '/ui/');

  const icon = await get(url, '/favicon.ico');
  assert.equal(icon.status, 200);
  assert.equal(icon.headers['content-type'], 'image/x-icon');
  assert.match(String(icon.headers['cache-control']), /max-age=86400/);
  assert.equal(icon.headers['content-length'], String(iconBytes.length));

  for (const path of ['/robots.txt', '/x/y/z', '/v1/', '//', '/%zz', '/favicon.ico/']) assertNotFoundPage(await get(url, path), path);
  const reflected = await get(url, '/<script>alert(1)</script>');
  assertNotFoundPage(reflected, 'a path with markup');
  assert.doesNotMatch(reflected.body, /<script>/, 'the path is shown escaped, never as markup');
  assert.match(reflected.body, /&lt;script&gt;/);

  const head = await get(url, '/nothing-here', 'HEAD');
  assert.equal(head.status, 404);
  assert.equal(head.body, '');
  assert.equal(await get(url, '/', 'DELETE').then((a) => a.status), 405);
});

test('the real build ships the icon that /favicon.ico serves', async (t) => {
  const dist = fileURLToPath(new URL('../../../renderer/dist', import.meta.url));
  const registry = await createRegistry({ dataDir: await makeTempDir(t, 'berth-ui-real-'), mounts: [createRootMount(dist)] });
  t.after(() => registry.close(200));
  const { url } = await registry.listen({ host: '127.0.0.1', port: 0 });
  const icon = await get(url, '/favicon.ico');
  assert.equal(icon.status, 200, 'renderer/public/favicon.ico is in renderer/dist (npm run build:ui)');
  assert.equal(icon.headers['content-type'], 'image/x-icon');
  // ICONDIR: reserved 0, type 1 (icon), at least one image.
  const bytes = Buffer.from(icon.body, 'latin1');
  assert.ok(Number(icon.headers['content-length']) > 22);
  assert.equal(bytes.readUInt16LE(2), 1);
});
