import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { startBerth } from '../../registry/berth-server.js';
import { createLogger } from '../../registry/log.js';
import { makeTempDir } from '../support/temp-dir.js';

const errorLevel = 50;

/**
 * Malformed requests to the token service (`/token`) are the client's mistake: 400 in RFC 6749's terms
 * (`{"error":"invalid_request","error_description":...}`), never a 500, and nothing at error level in the log.
 * Berth runs with its defaults (token auth).
 */
test('malformed token requests answer 400 invalid_request, and are not logged as errors', async (t) => {
  const levels: { level: number; msg: string }[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) levels.push(JSON.parse(line) as { level: number; msg: string });
      callback();
    },
  });
  const berth = await startBerth({ dataDir: await makeTempDir(t, 'berth-token-req-'), logger: createLogger({ level: 'info', destination }), listen: '127.0.0.1:0', tlsListen: null });
  t.after(() => berth.close());
  const base = berth.urls.http ?? '';

  const malformedScopes = ['bad', 'repository::pull', ':::', 'Repository:team/app:pull', 'repository:team/app:PULL', '%ff', `repository${'a'.repeat(10_000)}`];
  for (const scope of malformedScopes) {
    const response = await fetch(`${base}/token?service=berth&scope=${encodeURIComponent(scope)}`);
    const where = `GET /token?scope=${scope.slice(0, 30)}`;
    assert.equal(response.status, 400, where);
    assert.equal(response.headers.get('cache-control'), 'no-store', where);
    const body = (await response.json()) as { error?: string; error_description?: string };
    assert.equal(body.error, 'invalid_request', where);
    assert.match(body.error_description ?? '', /scope/, where);
  }

  const form = (text: string) => fetch(`${base}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: text });
  for (const text of ['', 'grant_type=password', 'grant_type=password&username=x&password=y&scope=bad', '%%%', '\u0000']) {
    const response = await form(text);
    assert.equal(response.status, 400, `POST /token ${JSON.stringify(text)}`);
    assert.equal(((await response.json()) as { error?: string }).error, 'invalid_request');
  }
  const huge = await form(`grant_type=password&scope=${'a'.repeat(100_000)}`);
  assert.equal(huge.status, 413, 'an oversized form is refused before it is read');
  assert.match(await huge.text(), /token request form exceeds the 64 KiB limit/);
  const put = await fetch(`${base}/token`, { method: 'PUT' });
  assert.equal(put.status, 405);
  assert.equal(put.headers.get('allow'), 'GET, POST');
  await put.arrayBuffer();

  // A well-formed anonymous request still gets its (empty-handed) token.
  const fine = await fetch(`${base}/token?service=berth&scope=repository:team/app:pull`);
  assert.equal(fine.status, 200);
  assert.equal(typeof ((await fine.json()) as { token?: unknown }).token, 'string');

  const errors = levels.filter((entry) => entry.level >= errorLevel);
  assert.deepEqual(errors, [], 'a client mistake is not an error of the server');
});
