import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { test } from 'node:test';
import { jsonBytes, mediaTypes, sha256 } from '../support/oci-client.js';
import { startFront, type SeenRequest } from '../mirror/fixtures.js';
import { berthCliOk, errorCodes, httpGet, soon, startMirror } from '../e2e/mirror-fixture.js';

/**
 * Issue 8, rows 2 and 3: a malicious upstream (a small node:http server here) cannot take Berth down with a huge
 * tag list, nor use Berth to reach what the upstream itself could not: no redirect or token realm to link-local
 * (the cloud metadata address) or private addresses from an upstream on loopback, and the upstream's credentials
 * go to a realm only over HTTPS or on the upstream's own host. Berth runs with its defaults (token auth).
 */

const blobDigest = sha256(Buffer.from('never served'));

/** Answers a request of the hostile upstream; true, for startFront's `handle`. */
function send(res: ServerResponse, status: number, headers: Record<string, string> = {}, body?: string | Buffer): true {
  res.writeHead(status, headers).end(body);
  return true;
}

test('a hostile upstream: huge tag lists, redirects and token realms to other address classes', { timeout: 60_000 }, async (t) => {
  const tokenRequests: SeenRequest[] = [];
  const tokenService = await startFront(t, {
    handle: (req, res) => {
      tokenRequests.push({ method: req.method ?? '', path: req.url ?? '', authorization: req.headers.authorization });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"token":"t0ken","expires_in":300}');
      return true;
    },
  });
  const bigPage = jsonBytes({ name: 'x/big', tags: Array.from({ length: 150_000 }, (_, i) => `v${String(i).padStart(6, '0')}`) });
  const hostile = await startFront(t, {
    handle: (req, res) => {
      const path = (req.url ?? '').split('?')[0] ?? '';
      if (path === '/v2/' || path === '/v2') return send(res, 200, { 'content-type': 'application/json' }, '{}');
      if (path === '/v2/x/big/tags/list') return send(res, 200, { 'content-type': 'application/json' }, bigPage);
      if (path === '/v2/x/endless/tags/list') {
        // Every page full, every page pointing at the next: the total cap must stop it.
        const last = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('last') ?? '0');
        const tags = Array.from({ length: 50_000 }, (_, i) => `t${last + i + 1}`);
        const link = `</v2/x/endless/tags/list?last=${last + 50_000}>; rel="next"`;
        return send(res, 200, { 'content-type': 'application/json', link }, JSON.stringify({ name: 'x/endless', tags }));
      }
      if (path === `/v2/x/metadata/blobs/${blobDigest}`) return send(res, 307, { location: 'http://169.254.169.254/latest/meta-data/' });
      if (path === `/v2/x/lan/blobs/${blobDigest}`) return send(res, 302, { location: 'http://10.20.30.40/storage/blob' });
      if (path.startsWith('/v2/realm/metadata/')) {
        return send(res, 401, { 'www-authenticate': 'Bearer realm="http://169.254.169.254/token",service="evil"' });
      }
      if (path.startsWith('/v2/realm/elsewhere/')) {
        // Another host name for this machine, plain HTTP: the realm may be asked, but not with the credentials.
        const realm = tokenService.url.replace('127.0.0.1', 'localhost');
        if (req.headers.authorization === 'Bearer t0ken') {
          const manifest = jsonBytes({ schemaVersion: 2, mediaType: mediaTypes.ociIndex, manifests: [] });
          return send(res, 200, { 'content-type': mediaTypes.ociIndex, 'content-length': String(manifest.length) }, manifest);
        }
        return send(res, 401, { 'www-authenticate': `Bearer realm="${realm}/token",service="evil"` });
      }
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"NAME_UNKNOWN","message":"no"}]}');
      return true;
    },
  });
  const mirror = await startMirror(t, {
    auth: 'token',
    upstreams: [{ name: 'evil', url: hostile.url, flags: ['--username', 'mirror', '--password-stdin'], password: 'Upstream-secret-1\n' }],
    prepare: async (dataDir) => {
      await berthCliOk(['namespace', 'set', 'evil', '--anonymous-pull=true', '--data', dataDir]);
    },
  });
  const alive = async () => {
    assert.equal(mirror.berth.process.exitCode, null, 'Berth is running');
    assert.equal((await fetch(`${mirror.url}/v2/`)).status, 401);
  };

  await t.test('one page of 150 000 tags is listed, not a 500', async () => {
    const answer = await httpGet(`${mirror.url}/v2/evil/x/big/tags/list`);
    assert.equal(answer.status, 200, answer.body.toString().slice(0, 300));
    assert.equal((JSON.parse(answer.body.toString()) as { tags: string[] }).tags.length, 150_000);
    await alive();
  });

  // Each refusal below is a failed contact: the upstream is then offline for a moment, and the next check waits
  // until Berth asks it again (soon retries).
  await t.test('an endless tag list stops at the total cap with an honest error', async () => {
    const answer = await soon('the capped tag list', async () => {
      const got = await httpGet(`${mirror.url}/v2/evil/x/endless/tags/list`);
      assert.match(got.body.toString(), /more than 250000 entries/);
      return got;
    });
    assert.equal(answer.status, 503, answer.body.toString().slice(0, 300));
    assert.deepEqual(errorCodes(answer), ['UNAVAILABLE']);
    await alive();
  });

  await t.test('a blob redirect to the metadata address or the LAN is refused without connecting', async () => {
    for (const [repository, address] of [['metadata', '169.254.169.254'], ['lan', '10.20.30.40']] as const) {
      const answer = await soon(`the redirect to ${address}`, async () => {
        const started = Date.now();
        const got = await httpGet(`${mirror.url}/v2/evil/x/${repository}/blobs/${blobDigest}`);
        assert.match(got.body.toString(), new RegExp(`refused to connect to ${address.replaceAll('.', '\\.')}`));
        assert.ok(Date.now() - started < 10_000, 'refused at once, not after a connect timeout');
        return got;
      });
      assert.equal(answer.status, 503, answer.body.toString());
      await alive();
    }
  });

  await t.test('a token realm at the metadata address is refused; an HTTP realm elsewhere gets no credentials', async () => {
    const metadata = await soon('the realm at the metadata address', async () => {
      const got = await httpGet(`${mirror.url}/v2/evil/realm/metadata/manifests/1`);
      assert.match(got.body.toString(), /refused to connect to 169\.254\.169\.254/);
      return got;
    });
    assert.equal(metadata.status, 503, metadata.body.toString());
    const elsewhere = await soon('the manifest behind the plain-HTTP realm', async () => {
      const got = await httpGet(`${mirror.url}/v2/evil/realm/elsewhere/manifests/1`);
      assert.equal(got.status, 200, got.body.toString());
      return got;
    });
    assert.equal(elsewhere.status, 200);
    assert.ok(tokenRequests.length > 0, 'the realm was asked');
    assert.deepEqual(tokenRequests.map((seen) => seen.authorization), tokenRequests.map(() => undefined), "without the upstream's password");
    await alive();
  });
});
