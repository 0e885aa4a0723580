import assert from 'node:assert/strict';
import { randomBytes, sign } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { createImageLayout, createIndexLayout } from '../support/oci-layout.js';
import { makeTempDir, type AfterHook } from '../support/temp-dir.js';
import { requireTools, runOk, toolSkipReason } from '../support/tools.js';
import {
  createSigningCertificate,
  pushImage,
  sha256Of,
  startFront,
  startTokenDistribution,
  startTokenServer,
  type SeenRequest,
  type SigningCertificate,
  type TokenRequestSeen,
  type TokenServer,
} from '../mirror/fixtures.js';
import { skopeoCopy, skopeoCopyResult } from './skopeo.js';
import { errorCodes, httpGet, startMirror } from './mirror-fixture.js';

/**
 * Pull-through from upstreams that use Docker token auth (Bearer), as Docker Hub and ghcr.io do: Debian's
 * docker-registry verifying RS256 tokens from a token service written here. Berth asks the token service with
 * its Basic credentials (or anonymously, as most Docker Hub mirrors do), reuses a token across a pull, and
 * reports refused credentials as DENIED naming the upstream, without taking the upstream offline.
 */

const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/**
 * A token service like Docker Hub's: anonymous callers get tokens for `pull` only, callers with the right Basic
 * credentials get every action they ask for, wrong credentials get 401. (fixtures.ts' token service refuses
 * anonymous callers, which is what a private registry does; this one is the public-registry case.)
 */
async function startPublicTokenServer(
  t: AfterHook,
  options: { signer: SigningCertificate; issuer: string; service: string; username: string; password: string },
): Promise<TokenServer> {
  const requests: TokenRequestSeen[] = [];
  const expected = basic(options.username, options.password);
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://token.invalid');
    const scopes = url.searchParams.getAll('scope');
    const authorization = req.headers.authorization;
    requests.push({ authorization, service: url.searchParams.get('service'), scopes });
    if (url.pathname !== '/token' || (authorization !== undefined && authorization !== expected)) {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"incorrect username or password"}');
      return;
    }
    const anonymous = authorization === undefined;
    const access = scopes.flatMap((scope) => {
      const [type, ...rest] = scope.split(':');
      const asked = (rest.pop() ?? '').split(',').filter(Boolean);
      const actions = anonymous ? asked.filter((action) => action === 'pull') : asked;
      return type && actions.length > 0 ? [{ type, name: rest.join(':'), actions }] : [];
    });
    const now = Math.floor(Date.now() / 1000);
    const claims = {
      iss: options.issuer,
      sub: anonymous ? '' : options.username,
      aud: options.service,
      exp: now + 300,
      nbf: now - 10,
      iat: now,
      jti: randomBytes(8).toString('hex'),
      access,
    };
    const part = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
    const input = `${part({ alg: 'RS256', typ: 'JWT', x5c: [options.signer.certDerBase64] })}.${part(claims)}`;
    const signature = sign('sha256', Buffer.from(input), options.signer.keyPem).toString('base64url');
    const answer = { token: `${input}.${signature}`, expires_in: 300 };
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const close = async (): Promise<void> => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  t.after(close);
  return { realm: `http://127.0.0.1:${port}/token`, requests, close };
}

/** `skopeo inspect --raw` straight at a token-auth upstream, with its credentials. */
async function upstreamRaw(host: string, repoTag: string, creds: string): Promise<Buffer> {
  const result = await runOk('skopeo', ['inspect', '--raw', '--tls-verify=false', '--creds', creds, `docker://${host}/${repoTag}`]);
  return Buffer.from(result.stdout, 'utf8');
}

/** Requests the front saw for one upstream repository. */
const forRepository = (requests: readonly SeenRequest[], repo: string): SeenRequest[] =>
  requests.filter((seen) => seen.path.startsWith(`/v2/${repo}/`));

/** Token requests asking for one scope. */
const asking = (requests: readonly TokenRequestSeen[], scope: string): TokenRequestSeen[] =>
  requests.filter((seen) => seen.scopes.includes(scope));

test('pull-through from token-auth (Bearer) upstreams', { skip: toolSkipReason('docker-registry', 'skopeo'), timeout: 90_000 }, async (t) => {
  requireTools('docker-registry', 'skopeo');
  const signer = createSigningCertificate();
  const credentials = { username: 'u', password: 'Bearer-pa55-w0rd' };
  const creds = `${credentials.username}:${credentials.password}`;

  // A private registry (its token service refuses anonymous callers), seen by Berth through a front that
  // records every request, and a public one whose token service hands out anonymous pull tokens.
  const privateId = { issuer: 'private-issuer', service: 'private.registry.test' };
  const privateTokens = await startTokenServer(t, { signer, ...privateId, ...credentials });
  const privateRegistry = await startTokenDistribution(t, { realm: privateTokens.realm, ...privateId, rootCertPem: signer.certPem });
  const front = await startFront(t, { target: privateRegistry.url });
  const publicId = { issuer: 'public-issuer', service: 'public.registry.test' };
  const publicTokens = await startPublicTokenServer(t, { signer, ...publicId, ...credentials });
  const publicRegistry = await startTokenDistribution(t, { realm: publicTokens.realm, ...publicId, rootCertPem: signer.certPem });

  const layouts = await makeTempDir(t, 'berth-bearer-images-');
  const [app, multi] = await Promise.all([
    createImageLayout(join(layouts, 'app'), { tag: '1', layers: [{ bytes: 200_000, files: 2 }, { bytes: 30_000 }] }),
    createIndexLayout(join(layouts, 'multi'), { tag: '1' }),
  ]);
  await Promise.all([
    pushImage(app.ref, privateRegistry.host, 'library/app:1', credentials),
    pushImage(multi.ref, privateRegistry.host, 'library/multi:1', credentials),
    pushImage(app.ref, publicRegistry.host, 'library/app:1', credentials),
  ]);

  const mirror = await startMirror(t, {
    upstreams: [
      { name: 'priv', url: front.url, flags: ['--username', credentials.username], password: `${credentials.password}\n` },
      { name: 'pub', url: publicRegistry.url },
      { name: 'wrong', url: privateRegistry.url, flags: ['--username', credentials.username], password: 'not-the-password\n' },
    ],
  });
  const ref = (repoTag: string): string => `docker://${mirror.host}/${repoTag}`;
  const out = await makeTempDir(t, 'berth-bearer-out-');

  await t.test('with credentials: byte-exact pull, Basic credentials on the token request, one token per pull', async () => {
    const tokensBefore = privateTokens.requests.length;
    const frontBefore = front.requests.length;
    const dest = join(out, 'app');
    await skopeoCopy(ref('priv/library/app:1'), `dir:${dest}`, ['--preserve-digests']);

    // Taken before skopeo asks the upstream itself (below), which costs a token of its own.
    const asked = privateTokens.requests.slice(tokensBefore);
    const seen = forRepository(front.requests.slice(frontBefore), 'library/app');

    const pulled = await readFile(join(dest, 'manifest.json'));
    assert.ok(pulled.equals(app.manifestBytes), 'manifest bytes as pushed');
    const upstreamBytes = await upstreamRaw(privateRegistry.host, 'library/app:1', creds);
    assert.ok(pulled.equals(upstreamBytes), 'manifest bytes as the upstream serves them');
    for (const blob of [app.config, ...app.layers]) {
      const file = createReadStream(join(dest, blob.digest.slice('sha256:'.length)));
      assert.deepEqual(await sha256Of(file), { digest: blob.digest, bytes: blob.size }, `${blob.digest} byte-exact`);
    }

    assert.equal(asked.length, 1, `one token for the whole pull; asked for ${JSON.stringify(asked.map((seen) => seen.scopes))}`);
    assert.deepEqual(asked[0], {
      authorization: basic(credentials.username, credentials.password),
      service: privateId.service,
      scopes: ['repository:library/app:pull'],
    });

    // What reached the registry: a single unauthenticated request (answered with the challenge), then every
    // manifest and blob request carried the one Bearer token.
    const anonymous = seen.filter((request) => request.authorization === undefined);
    assert.equal(anonymous.length, 1, `unauthenticated requests: ${anonymous.map((r) => `${r.method} ${r.path}`).join(', ')}`);
    const bearers = new Set(seen.flatMap((request) => (request.authorization === undefined ? [] : [request.authorization])));
    assert.equal(bearers.size, 1, 'one token for every authenticated request');
    assert.match([...bearers][0] ?? '', /^Bearer [\w-]+\.[\w-]+\.[\w-]+$/);
    const blobGets = seen.filter((request) => request.method === 'GET' && request.path.includes('/blobs/'));
    assert.equal(blobGets.length, 1 + app.layers.length, 'config and layers, each fetched once');
    assert.ok(seen.length - anonymous.length >= 2 + blobGets.length, 'manifest HEAD/GET plus blobs rode on the token');
  });

  await t.test('with credentials: a blob the upstream lacks is 404 BLOB_UNKNOWN, not a 200 that breaks off', async () => {
    const missing = await httpGet(`${mirror.url}/v2/priv/library/app/blobs/sha256:${'1'.repeat(64)}`);
    assert.equal(missing.status, 404, missing.body.toString());
    assert.deepEqual(errorCodes(missing), ['BLOB_UNKNOWN']);
  });

  await t.test('with credentials: a multi-arch index pulls whole (one token for its repository)', async () => {
    const tokensBefore = privateTokens.requests.length;
    const dest = join(out, 'multi');
    await skopeoCopy(ref('priv/library/multi:1'), `dir:${dest}`, ['--all', '--preserve-digests']);
    const asked = privateTokens.requests.slice(tokensBefore);
    assert.deepEqual(asked.map((seen) => seen.scopes), [['repository:library/multi:pull']]);
    const index = await readFile(join(dest, 'manifest.json'));
    assert.ok(index.equals(multi.manifestBytes), 'index bytes as pushed');
    assert.ok(index.equals(await upstreamRaw(privateRegistry.host, 'library/multi:1', creds)));
    for (const image of multi.images) {
      const instance = await readFile(join(dest, `${image.manifestDigest.slice('sha256:'.length)}.manifest.json`));
      assert.ok(instance.equals(image.manifestBytes), `${image.platform.architecture} manifest byte-exact`);
    }
  });

  await t.test('an anonymous-pull upstream (like Docker Hub): Berth without credentials pulls through it', async () => {
    const tokensBefore = publicTokens.requests.length;
    const dest = join(out, 'public');
    await skopeoCopy(ref('pub/library/app:1'), `dir:${dest}`, ['--preserve-digests']);
    assert.ok((await readFile(join(dest, 'manifest.json'))).equals(app.manifestBytes));
    const layer = app.layers[0];
    assert.ok(layer);
    const file = createReadStream(join(dest, layer.digest.slice('sha256:'.length)));
    assert.deepEqual(await sha256Of(file), { digest: layer.digest, bytes: layer.size });
    const asked = publicTokens.requests.slice(tokensBefore);
    assert.deepEqual(asked, [{ authorization: undefined, service: publicId.service, scopes: ['repository:library/app:pull'] }]);
  });

  await t.test('wrong credentials: DENIED naming the upstream, never MANIFEST_UNKNOWN, and the upstream stays online', async () => {
    const tokensBefore = privateTokens.requests.length;
    const failed = await skopeoCopyResult(ref('wrong/library/app:1'), `dir:${join(out, 'wrong')}`);
    assert.notEqual(failed.code, 0);
    assert.match(failed.stderr, /denied/i);
    assert.match(failed.stderr, /upstream wrong/);
    assert.doesNotMatch(failed.stderr, /manifest unknown/i);

    // More refusals than the 3 failures that take an upstream offline: each one still reaches the token
    // service and still says DENIED (an offline upstream would answer UNAVAILABLE without asking).
    for (let attempt = 0; attempt < 4; attempt++) {
      const answer = await httpGet(`${mirror.url}/v2/wrong/library/app/manifests/1`);
      assert.equal(answer.status, 403, answer.body.toString());
      assert.deepEqual(errorCodes(answer), ['DENIED']);
      const body = JSON.parse(answer.body.toString()) as { errors: Array<{ message: string; detail?: Record<string, string> }> };
      assert.match(body.errors[0]?.message ?? '', /^upstream wrong: /);
      assert.deepEqual(body.errors[0]?.detail, { upstream: 'wrong', reason: 'unauthorized' });
    }
    const blob = await httpGet(`${mirror.url}/v2/wrong/library/app/blobs/${app.config.digest}`);
    assert.equal(blob.status, 403, blob.body.toString());
    assert.deepEqual(errorCodes(blob), ['DENIED']);

    const asked = asking(privateTokens.requests.slice(tokensBefore), 'repository:library/app:pull');
    assert.ok(asked.length >= 6, `every attempt asked the token service (${asked.length})`);
    for (const seen of asked) assert.equal(seen.authorization, basic(credentials.username, 'not-the-password'));

    // Every configured upstream has its gauge at each scrape; refused credentials leave it online.
    const metrics = (await httpGet(`${mirror.url}/metrics`)).body.toString();
    assert.match(metrics, /^berth_upstream_online\{upstream="wrong"\} 1$/m);
    assert.ok(!mirror.berth.logs().includes('upstream offline'), 'no upstream was logged as offline');

    // What the GUI shows: sign in with a link from `berth ui-url`, read the upstreams' health.
    const signIn = await fetch(await mirror.berth.signInUrl(), { redirect: 'manual' });
    assert.equal(signIn.status, 303);
    const cookie = (signIn.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    const listed = await fetch(`${mirror.url}/api/upstreams`, { headers: { cookie } });
    assert.equal(listed.status, 200);
    const { upstreams } = (await listed.json()) as { upstreams: Array<{ name: string; health?: { online: boolean } }> };
    assert.deepEqual(upstreams.find((upstream) => upstream.name === 'wrong')?.health?.online, true);
  });
});
