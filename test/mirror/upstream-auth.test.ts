import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { silentLogger } from '../../registry/log.js';
import { createUpstreamClient, UpstreamUnavailableError } from '../../registry/mirror/index.js';
import { createCertificateManager } from '../../registry/tls/index.js';
import { startDistribution } from '../support/distribution.js';
import { createImageLayout } from '../support/oci-layout.js';
import { makeTempDir } from '../support/temp-dir.js';
import { requireTools, toolSkipReason } from '../support/tools.js';
import {
  createSigningCertificate,
  pushImage,
  startBlobStorage,
  startFront,
  startTokenDistribution,
  startTokenServer,
  clientFor,
  sha256Of,
} from './fixtures.js';

/** Basic auth over TLS (distribution + htpasswd + a certificate from Berth's local CA) and Docker token auth. */

const skip = toolSkipReason('docker-registry', 'skopeo', 'htpasswd');

function isUnavailable(reason: string) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof UpstreamUnavailableError, `expected UpstreamUnavailableError, got ${String(error)}`);
    assert.equal(error.reason, reason, error.message);
    return true;
  };
}

test('Basic auth over TLS against docker-registry', { skip }, async (t) => {
  requireTools('docker-registry', 'skopeo', 'htpasswd');
  const certificates = createCertificateManager({ dataDir: await makeTempDir(t) });
  const material = await certificates.ensure();
  t.after(() => certificates.close());
  const caPem = await readFile(material.paths.caCert, 'utf8');
  const credentials = { username: 'mirror', password: 'pa55-word' };
  const registry = await startDistribution({
    logLevel: 'warn',
    accessLog: false,
    auth: credentials,
    tls: { certFile: material.paths.serverCert, keyFile: material.paths.serverKey },
  });
  t.after(() => registry.stop());
  const image = await createImageLayout(await makeTempDir(t), { tag: 'v1', layers: [{ bytes: 50_000 }] });
  await pushImage(image.ref, registry.host, 'team/app:v1', credentials);

  await t.test('with the CA and the credentials everything works', async () => {
    const client = clientFor(t, { name: 'tls-basic', url: registry.url, caPem, ...credentials });
    await client.ping();
    const manifest = await client.getManifest('team/app', 'v1');
    assert.equal(manifest.digest, image.manifestDigest);
    const layer = image.layers[0];
    assert.ok(layer);
    const blob = await client.getBlob('team/app', layer.digest);
    assert.equal((await sha256Of(blob.stream)).digest, layer.digest);
    assert.deepEqual(await client.listTags('team/app'), ['v1']);
  });

  await t.test('without the CA the certificate is refused (tls), unless insecure on loopback', async () => {
    const strict = clientFor(t, { name: 'no-ca', url: registry.url, ...credentials });
    await assert.rejects(strict.headManifest('team/app', 'v1'), isUnavailable('tls'));
    const insecure = clientFor(t, { name: 'insecure', url: registry.url, insecure: true, ...credentials });
    assert.equal((await insecure.headManifest('team/app', 'v1'))?.digest, image.manifestDigest);
  });

  await t.test('wrong or missing credentials are "unauthorized", and do not take the upstream offline', async () => {
    const wrong = clientFor(t, { name: 'wrong', url: registry.url, caPem, username: 'mirror', password: 'nope' });
    for (let i = 0; i < 4; i++) await assert.rejects(wrong.getManifest('team/app', 'v1'), isUnavailable('unauthorized'));
    assert.equal(wrong.health.state().online, true);
    const anonymous = clientFor(t, { name: 'anonymous', url: registry.url, caPem });
    await assert.rejects(anonymous.getManifest('team/app', 'v1'), (error: unknown) => {
      assert.ok(error instanceof UpstreamUnavailableError);
      assert.equal(error.reason, 'unauthorized');
      assert.match(error.message, /requires a username and password/);
      return true;
    });
  });
});

test('Docker token auth: distribution verifies RS256 tokens from a token service', { skip: toolSkipReason('docker-registry', 'skopeo') }, async (t) => {
  requireTools('docker-registry', 'skopeo');
  const signer = createSigningCertificate();
  const identity = { issuer: 'berth-test-issuer', service: 'berth-test-registry' };
  const credentials = { username: 'robot', password: 't0ken-pass' };
  const tokens = await startTokenServer(t, { signer, ...identity, ...credentials, expiresIn: 60 });
  const registry = await startTokenDistribution(t, { realm: tokens.realm, ...identity, rootCertPem: signer.certPem });
  const image = await createImageLayout(await makeTempDir(t), { tag: 'v1', layers: [{ bytes: 120_000, compress: false }] });
  await pushImage(image.ref, registry.host, 'team/app:v1', credentials);
  await pushImage(image.ref, registry.host, 'team/other:v1', credentials);
  const layer = image.layers[0];
  assert.ok(layer);

  await t.test('a token is fetched with Basic credentials for the scope, then reused', async () => {
    let clock = Date.now();
    const client = createUpstreamClient({ name: 'token', url: registry.url, ...credentials }, { logger: silentLogger(), now: () => clock });
    t.after(() => client.close());
    const before = tokens.requests.length;
    assert.equal((await client.headManifest('team/app', 'v1'))?.digest, image.manifestDigest);
    assert.ok((await client.getManifest('team/app', 'v1')).bytes.equals(image.manifestBytes));
    assert.equal((await sha256Of((await client.getBlob('team/app', layer.digest)).stream)).digest, layer.digest);
    assert.deepEqual(await client.listTags('team/app'), ['v1']);
    const asked = tokens.requests.slice(before);
    assert.equal(asked.length, 1, 'one token for four requests on one repository');
    assert.deepEqual(asked[0]?.scopes, ['repository:team/app:pull']);
    assert.equal(asked[0]?.service, identity.service);
    assert.equal(asked[0]?.authorization, `Basic ${Buffer.from('robot:t0ken-pass').toString('base64')}`);

    // Another repository needs another scope, hence another token.
    assert.equal((await client.headManifest('team/other', 'v1'))?.digest, image.manifestDigest);
    assert.deepEqual(tokens.requests.slice(before + 1).map((seen) => seen.scopes), [['repository:team/other:pull']]);

    // Past expires_in (minus the margin) the token is renewed rather than sent stale.
    clock += 61_000;
    assert.equal((await client.headManifest('team/app', 'v1'))?.digest, image.manifestDigest);
    assert.equal(tokens.requests.length, before + 3);
  });

  await t.test('a token service refusing the credentials is "unauthorized"', async () => {
    const client = clientFor(t, { name: 'bad-token', url: registry.url, username: 'robot', password: 'wrong' });
    await assert.rejects(client.getManifest('team/app', 'v1'), isUnavailable('unauthorized'));
    assert.equal(client.health.state().consecutiveFailures, 0);
  });

  await t.test('blob redirects to storage are followed without the registry credentials', async () => {
    const storage = await startBlobStorage(t, image.dir);
    // In front of the registry: blob GETs answer 307 to "object storage" on another port (another origin).
    const front = await startFront(t, {
      target: registry.url,
      handle: (req, res) => {
        const match = /\/blobs\/(sha256:[a-f0-9]{64})$/.exec(req.url ?? '');
        if (req.method !== 'GET' || !match || req.headers.authorization === undefined) return false;
        res.writeHead(307, { location: `${storage.url}/storage/${match[1]}?sig=ok` }).end();
        return true;
      },
    });
    // distribution's challenges name its own realm, so tokens still come from the token server.
    const client = clientFor(t, { name: 'redirecting', url: front.url, ...credentials });
    const blob = await client.getBlob('team/app', layer.digest);
    assert.deepEqual(await sha256Of(blob.stream), { digest: layer.digest, bytes: layer.size });
    const blobAtFront = front.requests.filter((seen) => seen.path.includes('/blobs/'));
    assert.match(blobAtFront.at(-1)?.authorization ?? '', /^Bearer /, 'the registry got the token');
    assert.equal(storage.requests.length, 1);
    assert.equal(storage.requests[0]?.authorization, undefined, 'the storage host never sees the token');
  });
});
