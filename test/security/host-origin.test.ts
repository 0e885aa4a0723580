import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createSignInUrl } from '../../registry/admin/index.js';
import { createToken } from '../../registry/auth/index.js';
import { startBerth } from '../../registry/berth-server.js';
import { createListenerNames } from '../../registry/index.js';
import { silentLogger } from '../../registry/log.js';
import { createStateStore } from '../../registry/state/index.js';
import { tlsPaths } from '../../registry/tls/tls-paths.js';
import { makeImage, sha256 } from '../support/oci-client.js';
import { rawHttpExchange } from '../support/raw-http.js';
import { startRegistry } from '../support/registry-server.js';
import { basicHeader, call, errorCodesOf, parseBearerChallenge, type CallResult } from '../support/registry-auth.js';
import { makeTempDir, type AfterHook } from '../support/temp-dir.js';
import { startEdgeBerth } from './edge-fixture.js';

/**
 * Issue 8, row 6: Berth answered any Host and any Origin. DNS rebinding (a page at `evil.example` whose name then
 * resolves to 127.0.0.1) let a web page read the catalog and delete manifests under `--auth none`, and read every
 * anonymous-pull namespace under token auth; a cross-site `text/plain` POST, which needs no CORS preflight, started
 * uploads and stored blobs; an admin change carried no Origin check. Now every listener answers only its own names
 * (421) and refuses a request whose Origin is another site's (403), in each protocol's error shape. Real clients
 * never send an Origin and always name Berth as they dialled it: those keep working, however they write the name.
 */

const evilHost = (port: string) => `evil.example:${port}`;

/** An image in `team/app:1`, pushed while the data directory's Berth was open, then served by `start`'s Berth. */
async function seededDataDir(t: AfterHook): Promise<{ dataDir: string; digest: string; layer: string }> {
  const dataDir = await makeTempDir(t, 'berth-host-origin-');
  const seeding = await startBerth({ dataDir, logger: silentLogger(), auth: 'none', listen: '127.0.0.1:0', tlsListen: null });
  try {
    const image = await makeImage(seeding.urls.http!, 'team/app', { tag: '1' });
    return { dataDir, digest: image.digest, layer: image.layers[0]!.digest };
  } finally {
    await seeding.close();
  }
}

function assertRefused(result: CallResult, status: 421 | 403, what: string): void {
  assert.equal(result.status, status, `${what}: ${result.status} ${result.text.slice(0, 300)}`);
  assert.equal(result.headers.connection, 'close', `${what}: the refused request's connection is closed, its body unread`);
}

test('DNS rebinding under --auth none: a page at evil.example reads no catalog and deletes no manifest', async (t) => {
  const { dataDir, digest } = await seededDataDir(t);
  const edge = await startEdgeBerth(t, { dataDir, auth: 'none', tlsListen: null });
  const { port } = new URL(edge.url);
  const manifestUrl = `${edge.url}/v2/team/app/manifests/${digest}`;

  // What the page's own origin gets, once evil.example resolves to 127.0.0.1: a GET is same-origin, so no Origin;
  // a DELETE carries the page's origin.
  const catalog = await call('GET', `${edge.url}/v2/_catalog`, { headers: { host: evilHost(port) } });
  assertRefused(catalog, 421, 'catalog');
  assert.deepEqual(errorCodesOf(catalog), ['DENIED']);
  assert.match(catalog.text, /does not answer for the host \\"evil\.example\\"/);
  assert.doesNotMatch(catalog.text, /team\/app/);
  const deletes: Array<Record<string, string>> = [{ host: evilHost(port), origin: `http://${evilHost(port)}` }, { host: evilHost(port) }];
  for (const headers of deletes) {
    assertRefused(await call('DELETE', manifestUrl, { headers }), 421, `DELETE with ${JSON.stringify(headers)}`);
  }
  assert.equal((await call('GET', manifestUrl, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } })).status, 200, 'the manifest is still there');

  // Every other mount refuses the name too, each in its own terms.
  const metrics = await call('GET', `${edge.url}/metrics`, { headers: { host: evilHost(port) } });
  assertRefused(metrics, 421, '/metrics');
  const api = await call('GET', `${edge.url}/api/health`, { headers: { host: evilHost(port) } });
  assertRefused(api, 421, '/api/health');
  assert.equal((JSON.parse(api.text) as { error: { code: string } }).error.code, 'BERTH_MISDIRECTED');
  for (const path of ['/ui/', '/', '/ui/signin?code=x']) {
    const page = await call('GET', `${edge.url}${path}`, { headers: { host: evilHost(port) } });
    assertRefused(page, 421, path);
    assert.match(String(page.headers['content-type']), path === '/ui/signin?code=x' ? /^application\/json/ : /^text\/plain/);
  }

  // The same requests under Berth's own name are served: the refusal is the Host, nothing else.
  const ownCatalog = await call('GET', `${edge.url}/v2/_catalog`, { headers: { host: `localhost:${port}` } });
  assert.equal(ownCatalog.status, 200, ownCatalog.text);
  assert.deepEqual((JSON.parse(ownCatalog.text) as { repositories: string[] }).repositories, ['team/app']);
  assert.equal((await call('DELETE', manifestUrl, { headers: { host: `localhost:${port}` } })).status, 202);
});

test('DNS rebinding with default settings: an anonymous-pull namespace and the token service answer only Berth\'s names', async (t) => {
  const { dataDir, digest, layer } = await seededDataDir(t);
  const edge = await startEdgeBerth(t, { dataDir, tlsListen: null });
  await edge.berth.state.update((draft) => {
    draft.namespaces.push({ name: 'team', anonymousPull: true, createdAt: new Date().toISOString() });
  });
  const { port } = new URL(edge.url);
  const accept = 'application/vnd.oci.image.manifest.v1+json';
  const paths = [`/v2/team/app/manifests/1`, `/v2/team/app/manifests/${digest}`, `/v2/team/app/blobs/${layer}`, '/v2/team/app/tags/list'];
  for (const path of paths) {
    assert.equal((await call('GET', `${edge.url}${path}`, { headers: { accept } })).status, 200, `${path} is open to anonymous pulls`);
    const rebound = await call('GET', `${edge.url}${path}`, { headers: { accept, host: evilHost(port) } });
    assertRefused(rebound, 421, path);
    assert.deepEqual(errorCodesOf(rebound), ['DENIED']);
  }
  const tokenPath = '/token?service=berth&scope=repository%3Ateam%2Fapp%3Apull';
  assert.equal((await call('GET', `${edge.url}${tokenPath}`)).status, 200);
  assertRefused(await call('GET', `${edge.url}${tokenPath}`, { headers: { host: evilHost(port) } }), 421, '/token');
});

test('a cross-site text/plain POST neither starts an upload nor stores a blob (--auth none)', async (t) => {
  const edge = await startEdgeBerth(t, { auth: 'none', tlsListen: null });
  const { port } = new URL(edge.url);
  const blob = Buffer.from('stored by a web page\n');
  const digest = sha256(blob);
  const monolithic = `${edge.url}/v2/team/app/blobs/uploads/?digest=${encodeURIComponent(digest)}`;
  // What a form on another site (or a fetch with mode no-cors) sends to http://127.0.0.1:PORT: the Host is Berth's
  // own, the Origin is the page's.
  const crossSite = { 'content-type': 'text/plain', host: `127.0.0.1:${port}` };
  for (const origin of ['https://evil.example', 'null', `http://localhost:${port}`, `http://127.0.0.1:${Number(port) + 1}`, `https://127.0.0.1:${port}`]) {
    const stored = await call('POST', monolithic, { headers: { ...crossSite, origin }, body: blob });
    assertRefused(stored, 403, `Origin ${origin}`);
    assert.deepEqual(errorCodesOf(stored), ['DENIED']);
    assertRefused(await call('POST', `${edge.url}/v2/team/app/blobs/uploads/`, { headers: { ...crossSite, origin } }), 403, `upload session, Origin ${origin}`);
  }
  assert.equal((await call('HEAD', `${edge.url}/v2/team/app/blobs/${digest}`)).status, 404, 'no blob was stored');
  assert.equal(existsSync(join(edge.dataDir, 'repositories', 'team')), false, 'no upload session was started');
  // Berth's own pages may (a same-origin request carries its origin), and clients without an Origin always may.
  assert.equal((await call('POST', monolithic, { headers: { ...crossSite, origin: `http://127.0.0.1:${port}` }, body: blob })).status, 201);
  assert.equal((await call('POST', `${edge.url}/v2/team/app/blobs/uploads/`, { headers: { 'content-type': 'text/plain' } })).status, 202);
});

test('with default settings, a cross-site POST is refused even when the browser holds valid credentials', async (t) => {
  const edge = await startEdgeBerth(t, { tlsListen: null });
  const { port } = new URL(edge.url);
  const blob = Buffer.from('stored by a web page with the user\'s credentials\n');
  const digest = sha256(blob);
  const monolithic = `${edge.url}/v2/team/app/blobs/uploads/?digest=${encodeURIComponent(digest)}`;
  const headers = { 'content-type': 'text/plain', authorization: edge.pushAuthorization };
  assertRefused(await call('POST', monolithic, { headers: { ...headers, origin: 'https://evil.example' }, body: blob }), 403, 'POST with credentials');
  assertRefused(await call('GET', `${edge.url}/token?service=berth&scope=repository%3Ateam%2Fapp%3Apush`, { headers: { authorization: edge.pushAuthorization, origin: 'https://evil.example' } }), 403, '/token');
  assert.equal((await call('HEAD', `${edge.url}/v2/team/app/blobs/${digest}`, { headers: { authorization: edge.pushAuthorization } })).status, 404);
  assert.equal((await call('POST', monolithic, { headers, body: blob })).status, 201, 'the same push without an Origin, as clients send it');
  assert.equal((await call('GET', `${edge.url}/token?service=berth`, { headers: { origin: `http://127.0.0.1:${port}` } })).status, 200, 'Berth\'s own origin');
});

test('the admin API refuses a write from another origin, though it carries the session cookie and the CSRF header', async (t) => {
  const edge = await startEdgeBerth(t, { tlsListen: null });
  const { port } = new URL(edge.url);
  const { url: link } = await createSignInUrl(edge.dataDir, edge.url);
  const signedIn = await call('GET', link);
  assert.equal(signedIn.status, 303);
  const cookie = String(signedIn.headers['set-cookie']).split(';')[0]!;
  // A page on another local port is same-site with Berth, so a SameSite=Strict cookie goes along.
  const write = (origin: string | undefined, name: string) =>
    call('POST', `${edge.url}/api/namespaces`, {
      headers: { cookie, 'x-berth-admin': '1', 'content-type': 'application/json', ...(origin === undefined ? {} : { origin }) },
      body: JSON.stringify({ name, anonymousPull: true }),
    });
  for (const origin of [`http://127.0.0.1:${Number(port) + 1}`, `http://localhost:${port}`, 'https://evil.example', 'null']) {
    const refused = await write(origin, 'opened');
    assertRefused(refused, 403, `Origin ${origin}`);
    const body = JSON.parse(refused.text) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'BERTH_ORIGIN_REFUSED');
  }
  assert.ok(!edge.berth.state.read().namespaces.some((ns) => ns.name === 'opened'), 'no namespace was made');
  assert.equal((await write(`http://127.0.0.1:${port}`, 'gui')).status, 201, 'the GUI, on Berth\'s own origin');
  assert.equal((await write(undefined, 'script')).status, 201, 'a script without an Origin');
  // The CSRF header stays required besides.
  const unmarked = await call('POST', `${edge.url}/api/namespaces`, { headers: { cookie, origin: `http://127.0.0.1:${port}`, 'content-type': 'text/plain' }, body: '{"name":"plain"}' });
  assert.equal(unmarked.status, 403);
  assert.equal((JSON.parse(unmarked.text) as { error: { code: string } }).error.code, 'BERTH_ADMIN_CSRF');
});

test("clients that name Berth as they dialled it keep working, however they write the name", async (t) => {
  // A TLS name configured before the first start, so the CA and the certificate carry it.
  const dataDir = await makeTempDir(t, 'berth-names-');
  const store = await createStateStore(dataDir);
  await store.update((draft) => {
    draft.settings.tlsNames = ['berth.example.lan', '*.cluster.example.lan'];
  });
  await store.close();
  const edge = await startEdgeBerth(t, { dataDir });
  const http = new URL(edge.url);
  const https = new URL(edge.tlsUrl!);
  const ca = await readFile(tlsPaths(dataDir).caCert, 'utf8');
  const realmOf = (result: CallResult) => parseBearerChallenge(result.headers['www-authenticate'])?.realm;

  const hosts = [`127.0.0.1:${http.port}`, '127.0.0.1', `localhost:${http.port}`, 'LOCALHOST', `localhost.:${http.port}`, `[::1]:${http.port}`, `${hostname()}:${http.port}`, 'berth.example.lan:443', `node1.cluster.example.lan:${http.port}`];
  for (const host of hosts) {
    const answer = await call('GET', `${edge.url}/v2/`, { headers: { host } });
    assert.equal(answer.status, 401, `Host: ${host}: ${answer.text}`);
  }
  for (const host of ['node1.node2.cluster.example.lan', 'cluster.example.lan', '127.0.0.2', 'berth.example.lan.evil.example', '[::ffff:7f00:1]']) {
    assertRefused(await call('GET', `${edge.url}/v2/`, { headers: { host } }), 421, `Host: ${host}`);
  }

  // The configured name over HTTPS, its certificate checked: the realm sends the client back to that name.
  const secure = await call('GET', `${https.origin}/v2/`, { headers: { host: `berth.example.lan:${https.port}` }, ca, servername: 'berth.example.lan' });
  assert.equal(secure.status, 401, secure.text);
  assert.equal(realmOf(secure), `https://berth.example.lan:${https.port}/token`);
  const login = await call('GET', `${https.origin}/v2/`, { headers: { host: `berth.example.lan:${https.port}`, authorization: edge.pushAuthorization }, ca, servername: 'berth.example.lan' });
  assert.equal(login.status, 200, login.text);

  // A name added while Berth runs (here by another process, as `berth ca rotate --tls-name` does) is answered at once.
  const other = await createStateStore(dataDir);
  await other.update((draft) => {
    draft.settings.tlsNames = [...(draft.settings.tlsNames ?? []), 'late.example.lan'];
  });
  await other.close();
  assert.equal((await call('GET', `${edge.url}/v2/`, { headers: { host: 'late.example.lan' } })).status, 401);

  // HTTP/1.0 without Host (haproxy's httpchk, old tools): addressed to the connection's own address.
  const bare = await rawHttpExchange('127.0.0.1', Number(http.port), 'GET /v2/ HTTP/1.0\r\n\r\n');
  assert.equal(bare.kind === 'answered' ? bare.status : bare.kind, 401);
  assert.match(bare.kind === 'answered' ? bare.head : '', new RegExp(`realm="http://127\\.0\\.0\\.1:${http.port}/token"`));
  // An absolute-form target's authority is the Host (RFC 9112 §3.2.2), whatever the Host header says.
  const absolute = (target: string, host: string) => rawHttpExchange('127.0.0.1', Number(http.port), `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
  const foreignTarget = await absolute('http://evil.example/v2/', `127.0.0.1:${http.port}`);
  assert.equal(foreignTarget.kind === 'answered' ? foreignTarget.status : foreignTarget.kind, 421);
  const ownTarget = await absolute(`http://localhost:${http.port}/v2/`, 'evil.example');
  assert.equal(ownTarget.kind === 'answered' ? ownTarget.status : ownTarget.kind, 401);

  // A token fetched from the realm works, under the name the client used.
  const token = await call('GET', `${edge.url}/token?service=berth`, { headers: { host: `localhost:${http.port}`, authorization: edge.pushAuthorization } });
  assert.equal(token.status, 200, token.text);
  const secret = (await createToken(edge.berth.state, { name: 'basic-only', scopes: ['team/*:pull'] })).token;
  assert.equal((await call('GET', `${edge.url}/v2/`, { headers: { host: `[::1]:${http.port}`, authorization: basicHeader('basic-only', secret) } })).status, 200);
});

test('the registry as a library answers its own names, and the names it is given', async (t) => {
  const plain = await startRegistry(t);
  const named = await startRegistry(t, { names: createListenerNames({ tlsNames: () => ['registry.example.lan'] }) });
  assert.equal((await call('GET', `${plain.url}/v2/`, { headers: { host: 'localhost' } })).status, 200);
  assertRefused(await call('GET', `${plain.url}/v2/`, { headers: { host: 'registry.example.lan' } }), 421, 'a name it was not given');
  assert.equal((await call('GET', `${named.url}/v2/`, { headers: { host: 'registry.example.lan:443' } })).status, 200);
  assertRefused(await call('GET', `${named.url}/v2/`, { headers: { host: 'evil.example' } }), 421, 'a foreign name');
});
