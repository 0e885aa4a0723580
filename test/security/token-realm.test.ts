import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { startBerth, type Berth } from '../../registry/berth-server.js';
import { silentLogger } from '../../registry/log.js';
import { tlsPaths } from '../../registry/tls/tls-paths.js';
import { rawHttpExchange } from '../support/raw-http.js';
import { call, parseBearerChallenge } from '../support/registry-auth.js';
import { createTempDir, removeDir } from '../support/temp-dir.js';

/**
 * Issue 8/6, the realm: the `realm` of Berth's Bearer challenges comes from its configuration, never from the
 * request. It used to echo the Host header, so a DNS-rebinding page (`Host: evil.example`) was told to fetch its
 * token from itself, same-origin. Now the Host header can only pick among the listener's own names (loopback
 * names, the host name, the configured TLS names); any other Host is refused before a challenge is written
 * (host-origin.test.ts), a request without one gets the listener's own address, and the port is always the
 * listener's. A Berth with default settings (token auth), both listeners.
 */

let dataDir: string;
let berth: Berth;
let http: URL;
let https: URL;
let ca: string;

before(async () => {
  dataDir = await createTempDir('berth-realm-');
  berth = await startBerth({ dataDir, logger: silentLogger(), listen: '127.0.0.1:0', tlsListen: '127.0.0.1:0' });
  await berth.state.update((draft) => {
    draft.settings.tlsNames = ['berth.example.lan'];
  });
  http = new URL(berth.urls.http ?? assert.fail('no HTTP listener'));
  https = new URL(berth.urls.https ?? assert.fail('no HTTPS listener'));
  ca = await readFile(tlsPaths(dataDir).caCert, 'utf8');
});

after(async () => {
  await berth?.close();
  if (dataDir) await removeDir(dataDir);
});

/** The realm of the challenge for `path`, sent with the given Host header. */
async function realmFor(base: URL, path: string, host: string): Promise<string | undefined> {
  const result = await call('GET', new URL(path, base).toString(), { headers: { host }, ca, servername: 'localhost' });
  assert.equal(result.status, 401, `${path} with Host ${host}: ${result.text}`);
  return parseBearerChallenge(result.headers['www-authenticate'])?.realm;
}

test('a foreign Host header gets no challenge at all, so nothing of it can be reflected into a realm', async () => {
  for (const host of [`evil.example:${http.port}`, 'evil.example', `127.0.0.1.evil.example:${http.port}`, `[::ffff:7f00:1]:${http.port}`]) {
    for (const path of ['/v2/', '/v2/team/app/manifests/1']) {
      const result = await call('GET', new URL(path, http).toString(), { headers: { host } });
      assert.equal(result.status, 421, `Host: ${host}`);
      assert.equal(result.headers['www-authenticate'], undefined);
      assert.doesNotMatch(result.text, /\/token/);
    }
  }
  const secure = await call('GET', new URL('/v2/', https).toString(), { headers: { host: `evil.example:${https.port}` }, ca, servername: 'localhost' });
  assert.equal(secure.status, 421);
});

test("the Host header picks among the listener's own names; the port is the listener's", async () => {
  assert.equal(await realmFor(http, '/v2/', `localhost:${http.port}`), `http://localhost:${http.port}/token`);
  assert.equal(await realmFor(http, '/v2/', `LOCALHOST:${http.port}`), `http://localhost:${http.port}/token`);
  assert.equal(await realmFor(http, '/v2/', '127.0.0.1:1'), `http://127.0.0.1:${http.port}/token`, 'a port in Host is not taken');
  assert.equal(await realmFor(http, '/v2/', `[::1]:${http.port}`), `http://[::1]:${http.port}/token`);
  // A configured TLS name is one of Berth's, and so is the URL a client that dialled it must be sent back to.
  assert.equal(await realmFor(https, '/v2/', `berth.example.lan:${https.port}`), `https://berth.example.lan:${https.port}/token`);
  assert.equal(await realmFor(https, '/v2/', `localhost:${https.port}`), `https://localhost:${https.port}/token`);
});

test('the realm answers: a token fetched from it works on the listener that sent the challenge', async () => {
  const realm = await realmFor(http, '/v2/', `localhost:${http.port}`);
  const token = await call('GET', `${realm}?service=berth`);
  assert.equal(token.status, 200, token.text);
  const secureRealm = await realmFor(https, '/v2/', `berth.example.lan:${https.port}`);
  assert.equal(secureRealm, `https://berth.example.lan:${https.port}/token`);
  // The certificate got the name after start (only a restart or the GUI reissues it): the TLS check uses localhost.
  const secureToken = await call('GET', `${https.origin}/token?service=berth`, { headers: { host: `berth.example.lan:${https.port}` }, ca, servername: 'localhost' });
  assert.equal(secureToken.status, 200, secureToken.text);
});

test('a request without a Host header (HTTP/1.0) is sent to the address it reached', async () => {
  const bare = await rawHttpExchange('127.0.0.1', Number(http.port), 'GET /v2/ HTTP/1.0\r\n\r\n');
  assert.equal(bare.kind === 'answered' ? bare.status : bare.kind, 401);
  const realm = /realm="([^"]+)"/.exec(bare.kind === 'answered' ? bare.head : '')?.[1];
  assert.equal(realm, `http://127.0.0.1:${http.port}/token`);
  assert.equal((await call('GET', `${realm}?service=berth`)).status, 200);
});
