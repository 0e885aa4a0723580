import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { startDistribution, type DistributionServer } from '../support/distribution.js';
import { finishUpload, patchChunk, request, sha256, startUpload } from '../support/oci-client.js';
import { createImageLayout, mediaTypes } from '../support/oci-layout.js';
import { createIsolatedPodman } from '../support/podman.js';
import { radosgwSkipReason, requireRadosgw, startRadosgw } from '../support/services/radosgw.js';
import { makeTempDir } from '../support/temp-dir.js';
import { requireTools, run, runOk, toolSkipReason } from '../support/tools.js';

const skip = toolSkipReason('docker-registry');

async function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; headers: Headers }> {
  const response = await fetch(url, { headers });
  return { status: response.status, body: await response.text(), headers: response.headers };
}

test('docker-registry starts on an ephemeral loopback port and logs each request', { skip }, async (t) => {
  requireTools('docker-registry');
  const registry = await startDistribution();
  t.after(() => registry.stop());
  assert.match(registry.host, /^127\.0\.0\.1:\d+$/);
  const response = await get(`${registry.url}/v2/`);
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('docker-distribution-api-version'), 'registry/2.0');
  const missing = await get(`${registry.url}/v2/nope/manifests/latest`);
  assert.equal(missing.status, 404);
  // distribution 2.8 answers MANIFEST_UNKNOWN for a repository that does not exist (newer versions: NAME_UNKNOWN).
  assert.match(JSON.parse(missing.body).errors[0].code, /^(MANIFEST|NAME)_UNKNOWN$/);
  // The access log is written after the response: give it a moment.
  await new Promise((resolve) => setTimeout(resolve, 100));
  const manifestGets = registry.requests().filter((entry) => entry.path === '/v2/nope/manifests/latest');
  assert.equal(manifestGets.length, 1);
  assert.equal(manifestGets[0]?.status, 404);
  assert.equal(manifestGets[0]?.method, 'GET');
});

test('htpasswd auth refuses anonymous requests and accepts the configured user', { skip }, async (t) => {
  requireTools('docker-registry');
  const registry = await startDistribution({ auth: { username: 'alice', password: 's3cret' }, logLevel: 'warn' });
  t.after(() => registry.stop());
  const anonymous = await get(`${registry.url}/v2/`);
  assert.equal(anonymous.status, 401);
  assert.match(anonymous.headers.get('www-authenticate') ?? '', /^Basic realm=/);
  const wrong = await get(`${registry.url}/v2/`, { authorization: `Basic ${Buffer.from('alice:nope').toString('base64')}` });
  assert.equal(wrong.status, 401);
  const right = await get(`${registry.url}/v2/`, { authorization: `Basic ${Buffer.from('alice:s3cret').toString('base64')}` });
  assert.equal(right.status, 200);
});

test('kill() drops connections and restart() serves again on the same port', { skip }, async (t) => {
  requireTools('docker-registry');
  const registry = await startDistribution({ accessLog: false, logLevel: 'error' });
  t.after(() => registry.stop());
  const firstPid = registry.pid();
  registry.kill();
  await new Promise((resolve) => setTimeout(resolve, 200));
  await assert.rejects(fetch(`${registry.url}/v2/`));
  await registry.restart();
  assert.notEqual(registry.pid(), firstPid);
  assert.equal((await get(`${registry.url}/v2/`)).status, 200);
});

test('an image built by oci-layout pushes with skopeo and pulls with podman', { skip: toolSkipReason('docker-registry', 'skopeo', 'podman') }, async (t) => {
  requireTools('docker-registry', 'skopeo', 'podman');
  const registry = await startDistribution({ logLevel: 'warn' });
  t.after(() => registry.stop());
  const image = await createImageLayout(await makeTempDir(t), { tag: 'v1', layers: [{ bytes: 3000, files: 2 }, { bytes: 5000, compress: false }] });
  // --preserve-digests: without it skopeo gzips the plain-tar layer on the way and rewrites the manifest.
  const push = ['--insecure-policy', 'copy', '--preserve-digests', '--dest-tls-verify=false', image.ref, `docker://${registry.host}/team/app:v1`];
  await runOk('skopeo', push);
  const stored = await get(`${registry.url}/v2/team/app/manifests/v1`, { accept: mediaTypes.imageManifest });
  assert.equal(stored.status, 200);
  assert.equal(stored.body, image.manifestBytes.toString('utf8'), 'the registry keeps the exact manifest bytes');
  assert.equal(stored.headers.get('docker-content-digest'), image.manifestDigest);

  const podman = await createIsolatedPodman(t);
  await podman.runOk(['pull', '--tls-verify=false', `${registry.host}/team/app:v1`]);
  const [inspected] = JSON.parse((await podman.runOk(['image', 'inspect', `${registry.host}/team/app:v1`])).stdout) as Array<{
    Architecture: string;
    Config: { Cmd: string[] };
    RootFS: { Layers: string[] };
  }>;
  assert.equal(inspected?.Architecture, 'amd64');
  assert.deepEqual(inspected?.Config.Cmd, ['/bin/sh']);
  assert.deepEqual(inspected?.RootFS.Layers, image.layers.map((layer) => layer.diffId));
});

test('TLS with htpasswd: skopeo needs the credentials and trusts the certificate it is given', { skip: toolSkipReason('docker-registry', 'skopeo', 'openssl') }, async (t) => {
  requireTools('docker-registry', 'skopeo', 'openssl');
  const certDir = await makeTempDir(t);
  const certFile = join(certDir, 'server.crt');
  const keyFile = join(certDir, 'server.key');
  await runOk('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', keyFile, '-out', certFile]);
  const registry = await startDistribution({ tls: { certFile, keyFile }, auth: { username: 'bob', password: 'pw' }, logLevel: 'warn' });
  t.after(() => registry.stop());
  assert.match(registry.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  // skopeo's --dest-cert-dir wants the CA as *.crt in a directory.
  const trust = await makeTempDir(t);
  await copyFile(certFile, join(trust, 'ca.crt'));
  const image = await createImageLayout(await makeTempDir(t), { layers: [{ bytes: 1000 }] });
  const destination = `docker://${registry.host}/secure/app:1`;
  const anonymous = await run('skopeo', ['--insecure-policy', 'copy', '--dest-cert-dir', trust, image.ref, destination], { timeoutMs: 60_000 });
  assert.notEqual(anonymous.code, 0);
  assert.match(anonymous.stderr, /unauthorized|authentication required/i);
  await runOk('skopeo', ['--insecure-policy', 'copy', '--dest-cert-dir', trust, '--dest-creds', 'bob:pw', image.ref, destination], { timeoutMs: 60_000 });
  const raw = await runOk('skopeo', ['inspect', '--raw', '--cert-dir', trust, '--creds', 'bob:pw', destination]);
  assert.equal(raw.stdout, image.manifestBytes.toString('utf8'));
});

test(
  "with S3 storage on radosgw: processes sharing one http.secret continue each other's uploads, and blobs are served, not redirected",
  { skip: skip ?? radosgwSkipReason(), timeout: 180_000 },
  async (t) => {
    requireTools('docker-registry');
    requireRadosgw();
    const radosgw = await startRadosgw();
    t.after(() => radosgw.stop());
    const s3 = {
      endpoint: radosgw.endpoint,
      region: radosgw.region,
      bucket: radosgw.bucket,
      accessKey: radosgw.credentials.accessKeyId,
      secretKey: radosgw.credentials.secretAccessKey,
    };
    const httpSecret = randomBytes(16).toString('hex');
    const servers: DistributionServer[] = [];
    t.after(() => Promise.all(servers.map((server) => server.stop())));
    for (let index = 0; index < 2; index += 1) servers.push(await startDistribution({ s3, httpSecret, logLevel: 'warn' }));
    const [a, b] = servers as [DistributionServer, DistributionServer];
    // distribution's Location names the process that answered: send the next request to the other one, as a balancer does.
    const on = (server: DistributionServer, session: string): string => {
      const url = new URL(session);
      return `${server.url}${url.pathname}${url.search}`;
    };
    const MiB = 1024 * 1024;
    const bytes = randomBytes(7 * MiB + 3);
    const cut = 5 * MiB + 1;
    let session = await startUpload(a.url, 'bench/big');
    session = await patchChunk(b.url, on(b, session), bytes.subarray(0, cut), 0);
    session = await patchChunk(a.url, on(a, session), bytes.subarray(cut), cut);
    const digest = sha256(bytes);
    const done = await finishUpload(b.url, on(b, session), digest);
    assert.equal(done.status, 201, `PUT ?digest= on the other process: ${done.status} ${await done.text()}`);
    const blob = await request('GET', `${a.url}/v2/bench/big/blobs/${digest}`, { expected: 200 });
    assert.equal(blob.headers.get('location'), null, 'served by the registry, not redirected to the object store');
    assert.equal(sha256(Buffer.from(await blob.arrayBuffer())), digest);
  },
);
