import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { createCertificateManager } from '../../registry/tls/index.js';
import { startBerth } from '../support/berth-process.js';
import { startDistribution } from '../support/distribution.js';
import { createImageLayout } from '../support/oci-layout.js';
import { makeTempDir } from '../support/temp-dir.js';
import { requireTools, toolSkipReason } from '../support/tools.js';
import { pushImage } from '../mirror/fixtures.js';
import { skopeoCopy, skopeoCopyResult, skopeoInspectRaw } from './skopeo.js';
import { berthCliOk, errorCodes, httpGet, startMirror, waitForCachedBlob } from './mirror-fixture.js';

/**
 * Credentials on both sides of the mirror: Berth with token auth serving a mirrored namespace to anonymous
 * clients and to clients that send foreign (Docker Hub) credentials, while private namespaces stay closed;
 * Berth authenticating to an upstream with Basic auth over TLS; and another Berth as the upstream.
 */

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

test('token auth: the mirrored namespace is public, foreign credentials still pull, private stays closed', { skip: toolSkipReason('docker-registry', 'skopeo'), timeout: 90_000 }, async (t) => {
  requireTools('docker-registry', 'skopeo');
  const dist = await startDistribution({ logLevel: 'warn' });
  t.after(() => dist.stop());
  const layouts = await makeTempDir(t);
  const app = await createImageLayout(join(layouts, 'app'), { tag: '1', layers: [{ bytes: 80_000 }] });
  const secret = await createImageLayout(join(layouts, 'secret'), { tag: '1', layers: [{ bytes: 20_000 }] });
  await pushImage(app.ref, dist.host, 'library/app:1');
  let token = '';
  const mirror = await startMirror(t, {
    auth: 'token',
    upstreams: [{ name: 'up', url: dist.url, flags: ['--default', '--alias', 'docker.io'] }],
    prepare: async (dataDir) => {
      await berthCliOk(['namespace', 'create', 'private', '--data', dataDir]);
      const out = await berthCliOk(['token', 'create', '--name', 'ci', '--scope', 'private/*:pull,push', '--data', dataDir]);
      token = out.trimEnd().split('\n').at(-1) ?? '';
    },
  });
  const ref = (repoTag: string) => `docker://${mirror.host}/${repoTag}`;
  const out = await makeTempDir(t);
  const anonymousPush = await skopeoCopyResult(secret.ref, ref('private/app:1'));
  assert.notEqual(anonymousPush.code, 0, 'anonymous push refused');
  await skopeoCopy(secret.ref, ref('private/app:1'), ['--dest-creds', `ci:${token}`]);

  await t.test('anonymous clients pull through the mirror', async () => {
    assert.ok((await skopeoInspectRaw(ref('up/library/app:1'))).equals(app.manifestBytes));
    await skopeoCopy(ref('up/library/app:1'), `oci:${join(out, 'anonymous')}:1`);
  });

  await t.test('Docker Hub credentials that dockerd forwards to mirrors do not get in the way', async () => {
    await skopeoCopy(ref('up/library/app:1'), `oci:${join(out, 'foreign')}:1`, ['--src-creds', 'someone:dckr_pat_xxxxxxxxxxxxxxxx']);
    // dockerd's registry-mirrors flow: no namespace in the name, foreign Basic credentials on the request.
    const root = await httpGet(`${mirror.url}/v2/library/app/manifests/1`, { Authorization: basic('someone', 'dckr_pat_xxxx') });
    assert.equal(root.status, 200, root.body.toString());
    assert.ok(root.body.equals(app.manifestBytes));
  });

  await t.test('a private namespace stays closed to anonymous and foreign callers', async () => {
    const anonymous = await httpGet(`${mirror.url}/v2/private/app/manifests/1`);
    assert.equal(anonymous.status, 401);
    assert.deepEqual(errorCodes(anonymous), ['UNAUTHORIZED']);
    const foreign = await httpGet(`${mirror.url}/v2/private/app/manifests/1`, { Authorization: basic('someone', 'dckr_pat_xxxx') });
    assert.ok(foreign.status === 401 || foreign.status === 403, `foreign credentials: ${foreign.status}`);
    const denied = await skopeoCopyResult(ref('private/app:1'), `oci:${join(out, 'private')}:1`);
    assert.notEqual(denied.code, 0);
    const allowed = await skopeoInspectRaw(ref('private/app:1')).catch(() => undefined);
    assert.equal(allowed, undefined, 'skopeo without credentials cannot read it either');
    // With the token it works.
    await skopeoCopy(ref('private/app:1'), `oci:${join(out, 'private-ok')}:1`, ['--src-creds', `ci:${token}`]);
    const pulled = await readdir(join(out, 'private-ok', 'blobs', 'sha256'));
    assert.ok(pulled.includes(secret.layers[0]?.digest.slice(7) ?? '-'));
  });
});

test('an upstream with Basic auth over TLS, configured with --password-stdin and --ca-file', { skip: toolSkipReason('docker-registry', 'skopeo', 'htpasswd'), timeout: 90_000 }, async (t) => {
  requireTools('docker-registry', 'skopeo', 'htpasswd');
  const certificates = createCertificateManager({ dataDir: await makeTempDir(t) });
  const material = await certificates.ensure();
  t.after(() => certificates.close());
  const credentials = { username: 'mirror', password: 'S3cret-upstream-pa55' };
  const dist = await startDistribution({
    logLevel: 'warn',
    auth: credentials,
    tls: { certFile: material.paths.serverCert, keyFile: material.paths.serverKey },
  });
  t.after(() => dist.stop());
  const image = await createImageLayout(await makeTempDir(t), { tag: 'v1', layers: [{ bytes: 100_000 }] });
  await pushImage(image.ref, dist.host, 'team/app:v1', credentials);

  const mirror = await startMirror(t, {
    upstreams: [{ name: 'sec', url: dist.url, flags: ['--username', credentials.username, '--ca-file', material.paths.caCert], password: `${credentials.password}\n` }],
  });
  assert.ok((await skopeoInspectRaw(`docker://${mirror.host}/sec/team/app:v1`)).equals(image.manifestBytes));
  await skopeoCopy(`docker://${mirror.host}/sec/team/app:v1`, `oci:${await makeTempDir(t)}:v1`);
  for (const layer of image.layers) await waitForCachedBlob(mirror.dataDir, layer.digest);
  // distribution answers 401 without credentials: a 200 for a blob means Berth sent the right ones.
  const blobGets = dist.requests().filter((entry) => entry.method === 'GET' && entry.path.startsWith('/v2/team/app/blobs/'));
  assert.ok(blobGets.some((entry) => entry.status === 200), `blob GETs at the upstream: ${blobGets.map((e) => e.status).join(',')}`);

  const state = await readFile(join(mirror.dataDir, 'state.json'), 'utf8');
  assert.ok(!state.includes(credentials.password), 'state.json holds no plaintext password');
  assert.ok(!mirror.berth.logs().includes(credentials.password), 'nor do the logs');
});

test('another Berth as the upstream', { skip: toolSkipReason('skopeo'), timeout: 60_000 }, async (t) => {
  requireTools('skopeo');
  const upstreamDir = await makeTempDir(t, 'berth-upstream-');
  const upstream = await startBerth({ dataDir: upstreamDir });
  t.after(async () => {
    await upstream.stop();
  });
  const image = await createImageLayout(await makeTempDir(t), { tag: '1', layers: [{ bytes: 120_000 }, { bytes: 5_000 }] });
  await skopeoCopy(image.ref, `docker://${upstream.host}/team/app:1`, ['--preserve-digests']);

  const mirror = await startMirror(t, { upstreams: [{ name: 'peer', url: upstream.url }] });
  assert.ok((await skopeoInspectRaw(`docker://${mirror.host}/peer/team/app:1`)).equals(image.manifestBytes));
  await skopeoCopy(`docker://${mirror.host}/peer/team/app:1`, `oci:${await makeTempDir(t)}:1`);
  for (const layer of image.layers) await waitForCachedBlob(mirror.dataDir, layer.digest);
  const tags = await httpGet(`${mirror.url}/v2/peer/team/app/tags/list`);
  assert.equal(tags.status, 200, tags.body.toString());
  assert.deepEqual(JSON.parse(tags.body.toString()), { name: 'peer/team/app', tags: ['1'] });
});
