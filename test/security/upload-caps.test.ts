import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { createToken } from '../../registry/auth/index.js';
import { addUpstream } from '../../registry/mirror/upstream-changes.js';
import { defaultUploadLimits } from '../../registry/storage/upload-store.js';
import { makeImage } from '../support/oci-client.js';
import { startRegistry } from '../support/registry-server.js';
import { eventually } from '../e2e/mirror-fixture.js';
import { basicHeader, call, errorCodesOf, type CallResult } from '../support/registry-auth.js';
import { startEdgeBerth, type EdgeBerth } from './edge-fixture.js';

/**
 * Issue 8, row 9: open upload sessions are capped per repository and in all, so a client looping on POST cannot
 * make Berth hold an unbounded number of directories and running hashes until the 24 h purge. Past a cap the POST is
 * answered 429 TOOMANYREQUESTS with a message that says what is full; finishing or cancelling a session frees its
 * slot, and so does the purge of abandoned ones. Token auth (the default) throughout; the first test runs on the
 * default limits, the others set small ones to stay quick.
 */

async function post(edge: EdgeBerth, repository: string, query = ''): Promise<CallResult> {
  return call('POST', `${edge.url}/v2/${repository}/blobs/uploads/${query}`, { headers: { authorization: edge.pushAuthorization } });
}

/** Opens a session and returns its absolute URL. */
async function open(edge: EdgeBerth, repository: string): Promise<URL> {
  const started = await post(edge, repository);
  assert.equal(started.status, 202, started.text);
  return new URL(String(started.headers.location), edge.url);
}

function assertRefused(result: CallResult, pattern: RegExp): void {
  assert.equal(result.status, 429, result.text);
  assert.deepEqual(errorCodesOf(result), ['TOOMANYREQUESTS']);
  const [error] = (JSON.parse(result.text) as { errors: Array<{ message: string }> }).errors;
  assert.match(String(error?.message), pattern);
}

async function cancel(edge: EdgeBerth, session: URL): Promise<void> {
  const result = await call('DELETE', session.href, { headers: { authorization: edge.pushAuthorization } });
  assert.equal(result.status, 204, result.text);
}

async function finish(edge: EdgeBerth, session: URL, bytes: Buffer): Promise<void> {
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  session.searchParams.set('digest', digest);
  const result = await call('PUT', session.href, { headers: { authorization: edge.pushAuthorization, 'content-type': 'application/octet-stream' }, body: bytes });
  assert.equal(result.status, 201, result.text);
}

test('default limits: the 101st open session in one repository is refused with 429 TOOMANYREQUESTS; DELETE or finishing one frees its slot', { timeout: 60_000 }, async (t) => {
  const edge = await startEdgeBerth(t);
  assert.deepEqual(defaultUploadLimits, { perRepository: 100, total: 1000 });
  const sessions: URL[] = [];
  for (let i = 0; i < defaultUploadLimits.perRepository; i++) sessions.push(await open(edge, 'team/busy'));

  assertRefused(await post(edge, 'team/busy'), /too many open upload sessions in team\/busy \(100, the limit is 100\): finish or cancel \(DELETE\)/);
  // A whole blob in one POST also needs a session: refused the same way, and nothing is stored.
  assertRefused(await post(edge, 'team/busy', `?digest=sha256:${createHash('sha256').update('').digest('hex')}`), /team\/busy/);
  // Other repositories are not affected.
  await cancel(edge, await open(edge, 'team/other'));

  await cancel(edge, sessions.pop() as URL);
  const replacement = await open(edge, 'team/busy');
  assertRefused(await post(edge, 'team/busy'), /team\/busy/);
  await finish(edge, replacement, Buffer.from('one layer'));
  sessions.push(await open(edge, 'team/busy'));
  assert.equal(edge.berth.registry.uploads.openSessions('team/busy'), 100);
  assert.equal(edge.berth.registry.uploads.openSessions(), 100);
});

test('the total limit holds across repositories, and its refusal says so', { timeout: 30_000 }, async (t) => {
  const edge = await startEdgeBerth(t, { uploadLimits: { perRepository: 3, total: 5 } });
  for (let i = 0; i < 3; i++) await open(edge, 'team/a');
  const inB = [await open(edge, 'team/b'), await open(edge, 'team/b')];
  assertRefused(await post(edge, 'team/c'), /too many open upload sessions in this registry \(5, the limit is 5\)/);
  assertRefused(await post(edge, 'team/a'), /in team\/a \(3, the limit is 3\)/);
  await cancel(edge, inB[0] as URL);
  await open(edge, 'team/c');
  assertRefused(await post(edge, 'team/c'), /in this registry/);
});

test('abandoned sessions are purged by age and free their slots; sessions left by an earlier run count after a restart', { timeout: 30_000 }, async (t) => {
  const first = await startEdgeBerth(t, { uploadLimits: { perRepository: 2, total: 10 } });
  await open(first, 'team/app');
  await open(first, 'team/app');
  await first.close();

  // The same data directory: the start-up purge counts what the first run left open (they are not 24 h old).
  const second = await startEdgeBerth(t, { dataDir: first.dataDir, tokenName: 'second', uploadLimits: { perRepository: 2, total: 10 } });
  await eventually('the sessions of the first run are counted', () => second.berth.registry.uploads.openSessions('team/app') === 2);
  assertRefused(await post(second, 'team/app'), /in team\/app \(2, the limit is 2\)/);

  // What the hourly maintenance tick does, with every session past the age limit.
  assert.equal(await second.berth.registry.uploads.purge(0, new Date(Date.now() + 1000)), 2);
  assert.equal(second.berth.registry.uploads.openSessions(), 0);
  await open(second, 'team/app');
  await open(second, 'team/app');
});

test('a full table stops client pushes, not pulls through the mirror (its fetches are not capped)', { timeout: 30_000 }, async (t) => {
  const upstream = await startRegistry(t);
  const image = await makeImage(upstream.url, 'library/app', { tag: '1' });
  const edge = await startEdgeBerth(t, { uploadLimits: { perRepository: 1, total: 1 } });
  await addUpstream(edge.berth.state, { name: 'up', url: upstream.url, anonymousPull: false }, { sealSecret: (plain) => plain, loopbackOnly: true });
  const { token } = await createToken(edge.berth.state, { name: 'reader', scopes: ['up/*:pull'] });
  const reader = { authorization: basicHeader('reader', token) };

  await open(edge, 'team/busy');
  assertRefused(await post(edge, 'team/other'), /in this registry \(1, the limit is 1\)/);
  const manifest = await call('GET', `${edge.url}/v2/up/library/app/manifests/1`, { headers: { ...reader, accept: image.mediaType } });
  assert.equal(manifest.status, 200, manifest.text);
  const layer = image.layers[0];
  assert.ok(layer);
  const blob = await call('GET', `${edge.url}/v2/up/library/app/blobs/${layer.digest}`, { headers: reader });
  assert.equal(blob.status, 200, blob.text.slice(0, 300));
  assert.ok(blob.body.equals(layer.bytes), 'the layer came through the mirror');
  // The client's last bytes went out at the digest check; the fetch's session ends as the blob is stored, just after.
  await eventually("the mirror's session ended with its fetch", () => edge.berth.registry.uploads.openSessions() === 1);
});
