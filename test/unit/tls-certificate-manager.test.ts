import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdir, readFile, readdir, rm, stat, writeFile, copyFile, chmod } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import { createCertificateManager, exportCaCertificate, type ServerContextOptions } from '../../registry/tls/index.js';
import { makeTempDir } from '../support/temp-dir.js';
import { runOk, toolTest } from '../support/tools.js';

const dayMs = 24 * 60 * 60 * 1000;

/** A real HTTPS server answering every request like a registry's /v2/ would. Closed after the test. */
async function startServer(
  t: TestContext,
  context: ServerContextOptions | Record<string, unknown>,
  host = '127.0.0.1',
): Promise<{ server: Server; port: number }> {
  const server = createServer({ ...context }, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'docker-distribution-api-version': 'registry/2.0' });
    res.end('{}');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  t.after(() => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  }));
  return { server, port: (server.address() as AddressInfo).port };
}

interface GetOptions {
  readonly host: string;
  readonly port: number;
  /** Verify the certificate for this name (sent as SNI) instead of `host`. */
  readonly servername?: string;
  /** When set, the ONLY trusted root; when undefined, Node's bundled public roots. */
  readonly ca?: string;
  readonly family?: 4 | 6;
  readonly minVersion?: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2';
  readonly maxVersion?: 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';
  readonly ciphers?: string;
}

/** One GET /v2/ on a fresh connection (no agent, so no reuse); resolves with the status and the server's certificate. */
function httpsGet(options: GetOptions): Promise<{ status: number; peer: PeerCertificate }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { ...options, path: '/v2/', method: 'GET', agent: false, timeout: 5000 },
      (res) => {
        const peer = (res.socket as TLSSocket).getPeerCertificate();
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, peer }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('TLS request timed out')));
    req.on('error', reject);
    req.end();
  });
}

async function fileModes(dir: string): Promise<Record<string, number>> {
  const modes: Record<string, number> = { '.': (await stat(dir)).mode & 0o777 };
  for (const name of await readdir(dir)) modes[name] = (await stat(join(dir, name))).mode & 0o777;
  return modes;
}

async function readTlsFiles(dataDir: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for (const name of ['ca.key', 'ca.crt', 'server.key', 'server.crt']) {
    files[name] = await readFile(join(dataDir, 'tls', name), 'utf8');
  }
  return files;
}

test('a client trusting only the Berth CA connects by localhost and 127.0.0.1; others are refused', async (t) => {
  const dataDir = await makeTempDir(t);
  const manager = createCertificateManager({ dataDir });
  t.after(() => manager.close());
  const set = await manager.ensure();
  const { port } = await startServer(t, manager.secureContextOptions());
  const caPem = await exportCaCertificate(dataDir);

  const byName = await httpsGet({ host: 'localhost', family: 4, port, ca: caPem });
  assert.equal(byName.status, 200);
  assert.equal(byName.peer.fingerprint256, set.server.fingerprint256);
  const byAddress = await httpsGet({ host: '127.0.0.1', port, ca: caPem });
  assert.equal(byAddress.status, 200);

  // Node's public roots do not include Berth's CA.
  await assert.rejects(httpsGet({ host: 'localhost', family: 4, port }), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
  // Another Berth installation's CA is no help either.
  const otherDataDir = await makeTempDir(t);
  const other = createCertificateManager({ dataDir: otherDataDir });
  t.after(() => other.close());
  await other.ensure();
  await assert.rejects(
    httpsGet({ host: 'localhost', family: 4, port, ca: await exportCaCertificate(otherDataDir) }),
    { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' },
  );
  // The right CA, but a name the certificate was not issued for.
  await assert.rejects(httpsGet({ host: '127.0.0.1', servername: 'not-berth.example.test', port, ca: caPem }), {
    code: 'ERR_TLS_CERT_ALTNAME_INVALID',
  });
});

test('a client trusting only the Berth CA connects to [::1]', async (t) => {
  const dataDir = await makeTempDir(t);
  const manager = createCertificateManager({ dataDir });
  t.after(() => manager.close());
  await manager.ensure();
  let port: number;
  try {
    ({ port } = await startServer(t, manager.secureContextOptions(), '::1'));
  } catch (error) {
    t.skip(`this machine has no IPv6 loopback (listening on ::1 failed: ${(error as Error).message})`);
    return;
  }
  const result = await httpsGet({ host: '::1', port, ca: await exportCaCertificate(dataDir) });
  assert.equal(result.status, 200);
});

test('the certificate carries the host name and extra names, and clients can use them', async (t) => {
  const dataDir = await makeTempDir(t);
  const manager = createCertificateManager({ dataDir, hostname: 'berth-host', names: ['registry.example.test', '10.20.30.40'] });
  t.after(() => manager.close());
  const set = await manager.ensure();
  const x509 = new X509Certificate(set.server.pem);
  assert.equal(
    x509.subjectAltName,
    'DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, ' +
      'DNS:berth-host, DNS:registry.example.test, IP Address:10.20.30.40',
  );
  assert.equal(new X509Certificate(set.ca.pem).subject, 'CN=Berth Local CA (berth-host)\nO=Berth');
  const { port } = await startServer(t, manager.secureContextOptions());
  const ca = set.ca.pem;
  assert.equal((await httpsGet({ host: '127.0.0.1', servername: 'registry.example.test', port, ca })).status, 200);
  assert.equal((await httpsGet({ host: '127.0.0.1', servername: 'berth-host', port, ca })).status, 200);
});

test('TLS 1.1 is refused, while the same client can talk TLS 1.1 to a server that allows it', async (t) => {
  const dataDir = await makeTempDir(t);
  const manager = createCertificateManager({ dataDir });
  t.after(() => manager.close());
  const set = await manager.ensure();
  const oldClient = { minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' } as const;

  // Control: proves the client really offers TLS 1.1, so the refusal below comes from Berth's server.
  const lax = await startServer(t, { ...manager.secureContextOptions(), minVersion: 'TLSv1', ciphers: 'DEFAULT@SECLEVEL=0' });
  assert.equal((await httpsGet({ host: '127.0.0.1', port: lax.port, ca: set.ca.pem, ...oldClient })).status, 200);

  const { port } = await startServer(t, manager.secureContextOptions());
  const refused = httpsGet({ host: '127.0.0.1', port, ca: set.ca.pem, ...oldClient });
  await assert.rejects(refused, (error: Error & { code?: string }) => {
    assert.match(`${error.code} ${error.message}`, /protocol version|unsupported protocol/i);
    return true;
  });
  // TLS 1.2 is enough.
  assert.equal((await httpsGet({ host: '127.0.0.1', port, ca: set.ca.pem, maxVersion: 'TLSv1.2' })).status, 200);
});

test('keys and certificates are 0600 and the tls directory 0700 from the first write, even under umask 000', async (t) => {
  const dataDir = await makeTempDir(t);
  const previous = process.umask(0o000);
  try {
    await createCertificateManager({ dataDir }).ensure();
  } finally {
    process.umask(previous);
  }
  assert.deepEqual(await fileModes(join(dataDir, 'tls')), {
    '.': 0o700,
    'ca.key': 0o600,
    'ca.crt': 0o600,
    'server.key': 0o600,
    'server.crt': 0o600,
  });
});

test('an existing tls directory with loose permissions is tightened to 0700', async (t) => {
  const dataDir = await makeTempDir(t);
  await mkdir(join(dataDir, 'tls'));
  await chmod(join(dataDir, 'tls'), 0o755);
  await createCertificateManager({ dataDir }).ensure();
  assert.equal((await stat(join(dataDir, 'tls'))).mode & 0o777, 0o700);
});

test('a second ensure(), and a restart, re-create nothing', async (t) => {
  const dataDir = await makeTempDir(t);
  const first = await createCertificateManager({ dataDir, names: ['registry.example.test'] }).ensure();
  const before = await readTlsFiles(dataDir);
  const manager = createCertificateManager({ dataDir, names: ['REGISTRY.example.test.'] });
  const again = await manager.ensure();
  await manager.ensure();
  assert.deepEqual(await readTlsFiles(dataDir), before);
  assert.equal(again.server.fingerprint256, first.server.fingerprint256);
  // Atomic writes leave no temp files behind.
  assert.deepEqual((await readdir(join(dataDir, 'tls'))).sort(), ['ca.crt', 'ca.key', 'server.crt', 'server.key']);
});

test('concurrent ensure() calls on first start create one CA and one server certificate', async (t) => {
  const dataDir = await makeTempDir(t);
  const manager = createCertificateManager({ dataDir });
  const sets = await Promise.all([manager.ensure(), manager.ensure(), manager.ensure()]);
  const files = await readTlsFiles(dataDir);
  for (const set of sets) {
    assert.equal(set.ca.pem, files['ca.crt']);
    assert.equal(set.server.pem, files['server.crt']);
  }
});

test('the server certificate is renewed once less than a third of its life remains, by the same CA', async (t) => {
  const dataDir = await makeTempDir(t);
  let clock = Date.now();
  const manager = createCertificateManager({ dataDir, now: () => new Date(clock) });
  const first = await manager.ensure();
  const lifetime = first.server.notAfter.getTime() - first.server.notBefore.getTime();
  assert.ok(lifetime > 89 * dayMs && lifetime <= 91 * dayMs, `server certificate lifetime ${lifetime / dayMs} days`);
  assert.ok(first.ca.notAfter.getTime() - clock > 9 * 365 * dayMs, 'the CA lives about ten years');
  const before = await readTlsFiles(dataDir);

  clock = first.server.notBefore.getTime() + lifetime * 0.6;
  await manager.ensure();
  assert.deepEqual(await readTlsFiles(dataDir), before, 'at 60% of its life the certificate is kept');

  clock = first.server.notBefore.getTime() + lifetime * 0.7;
  const renewed = await manager.ensure();
  const after = await readTlsFiles(dataDir);
  assert.notEqual(renewed.server.serialNumber, first.server.serialNumber);
  assert.notEqual(after['server.key'], before['server.key'], 'a renewal also rotates the key');
  assert.equal(after['ca.key'], before['ca.key']);
  assert.equal(after['ca.crt'], before['ca.crt']);
  assert.ok(new X509Certificate(renewed.server.pem).verify(new X509Certificate(before['ca.crt'] ?? '').publicKey));
  assert.equal(renewed.server.notBefore.getTime(), clock - 60 * 60 * 1000);
});

test('a watched server serves the renewed certificate to new connections without a restart', async (t) => {
  const dataDir = await makeTempDir(t);
  // Start 70 days in the past: both the old and the renewed certificate are valid for the real clock the
  // client checks them with.
  let offset = -70 * dayMs;
  const manager = createCertificateManager({ dataDir, now: () => new Date(Date.now() + offset) });
  t.after(() => manager.close());
  const first = await manager.ensure();
  const { server, port } = await startServer(t, manager.secureContextOptions());
  manager.watch(server);
  const ca = first.ca.pem;
  assert.equal((await httpsGet({ host: 'localhost', family: 4, port, ca })).peer.serialNumber, first.server.serialNumber);

  offset = 0;
  const renewed = await manager.ensure();
  assert.notEqual(renewed.server.serialNumber, first.server.serialNumber);
  assert.equal(renewed.ca.fingerprint256, first.ca.fingerprint256);
  const peer = (await httpsGet({ host: 'localhost', family: 4, port, ca })).peer;
  assert.equal(peer.serialNumber, renewed.server.serialNumber);
  assert.equal(peer.fingerprint256, renewed.server.fingerprint256);
  // The swapped-in context keeps refusing old protocol versions.
  const oldClient = { minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' } as const;
  await assert.rejects(httpsGet({ host: '127.0.0.1', port, ca, ...oldClient }));
});

test('the watch timer renews on its own', async (t) => {
  const dataDir = await makeTempDir(t);
  let offset = -70 * dayMs;
  const manager = createCertificateManager({ dataDir, now: () => new Date(Date.now() + offset) });
  t.after(() => manager.close());
  const first = await manager.ensure();
  const { server, port } = await startServer(t, manager.secureContextOptions());
  manager.watch(server, 20);
  offset = 0;
  const deadline = Date.now() + 10_000;
  let serial = first.server.serialNumber;
  while (serial === first.server.serialNumber && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    serial = (await httpsGet({ host: '127.0.0.1', port, ca: first.ca.pem })).peer.serialNumber;
  }
  const onDisk = new X509Certificate(await readFile(join(dataDir, 'tls', 'server.crt')));
  assert.equal(serial, onDisk.serialNumber, 'the server presents the certificate now on disk');
  assert.notEqual(serial, first.server.serialNumber);
});

test('a changed name list re-issues the certificate, and a new name inside the CA\'s constraints works at once', async (t) => {
  const dataDir = await makeTempDir(t);
  // The CA is made for example.test, so it may sign for mirror.example.test later (see tls-policy.test.ts for a
  // name outside it).
  const manager = createCertificateManager({ dataDir, names: ['example.test'] });
  t.after(() => manager.close());
  const first = await manager.ensure();
  const { server, port } = await startServer(t, manager.secureContextOptions());
  manager.watch(server);
  const ca = first.ca.pem;
  const viaNewName = { host: '127.0.0.1', servername: 'mirror.example.test', port, ca };
  await assert.rejects(httpsGet(viaNewName), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' });

  const renamed = await manager.setNames(['example.test', 'mirror.example.test']);
  assert.notEqual(renamed.server.serialNumber, first.server.serialNumber);
  assert.match(new X509Certificate(renamed.server.pem).subjectAltName ?? '', /DNS:mirror\.example\.test/);
  assert.equal(renamed.ca.fingerprint256, first.ca.fingerprint256);
  assert.equal((await httpsGet(viaNewName)).status, 200);

  // Restarting with the old configuration drops the name again.
  const restarted = await createCertificateManager({ dataDir, names: ['example.test'] }).ensure();
  assert.doesNotMatch(new X509Certificate(restarted.server.pem).subjectAltName ?? '', /mirror/);
});

test('a missing, mismatched or foreign server certificate is replaced; the CA is kept', async (t) => {
  const dataDir = await makeTempDir(t);
  const tlsDir = join(dataDir, 'tls');
  const manager = createCertificateManager({ dataDir });
  const first = await manager.ensure();

  await rm(join(tlsDir, 'server.crt'));
  const afterMissing = await manager.ensure();
  assert.notEqual(afterMissing.server.serialNumber, first.server.serialNumber);

  // A kill between writing server.key and server.crt leaves a key that does not match the certificate.
  const otherDir = await makeTempDir(t);
  await createCertificateManager({ dataDir: otherDir }).ensure();
  await copyFile(join(otherDir, 'tls', 'server.key'), join(tlsDir, 'server.key'));
  const afterMismatch = await manager.ensure();
  assert.notEqual(afterMismatch.server.serialNumber, afterMissing.server.serialNumber);

  // A certificate from another CA (here: another Berth), complete with its matching key.
  await copyFile(join(otherDir, 'tls', 'server.key'), join(tlsDir, 'server.key'));
  await copyFile(join(otherDir, 'tls', 'server.crt'), join(tlsDir, 'server.crt'));
  const afterForeign = await manager.ensure();
  const ca = new X509Certificate(afterForeign.ca.pem);
  assert.ok(new X509Certificate(afterForeign.server.pem).checkIssued(ca));

  await writeFile(join(tlsDir, 'server.crt'), 'not a certificate');
  const afterGarbage = await manager.ensure();
  assert.ok(new X509Certificate(afterGarbage.server.pem).verify(ca.publicKey));
  assert.equal(afterGarbage.ca.fingerprint256, first.ca.fingerprint256, 'the CA users trust survived all of this');
});

test('a CA whose key is gone is replaced, and the server certificate with it', async (t) => {
  const dataDir = await makeTempDir(t);
  const manager = createCertificateManager({ dataDir });
  const first = await manager.ensure();
  await rm(join(dataDir, 'tls', 'ca.key'));
  const second = await manager.ensure();
  assert.notEqual(second.ca.fingerprint256, first.ca.fingerprint256);
  assert.ok(new X509Certificate(second.server.pem).verify(new X509Certificate(second.ca.pem).publicKey));
});

test('exportCaCertificate returns the CA PEM, and explains when there is none yet', async (t) => {
  const dataDir = await makeTempDir(t);
  await assert.rejects(exportCaCertificate(dataDir), (error: Error & { code?: string }) => {
    assert.equal(error.code, 'BERTH_TLS_CA_MISSING');
    assert.match(error.message, /has not created its local CA yet/);
    assert.ok(error.message.includes(join(dataDir, 'tls', 'ca.crt')));
    return true;
  });
  const set = await createCertificateManager({ dataDir }).ensure();
  const pem = await exportCaCertificate(dataDir);
  assert.equal(pem, set.ca.pem);
  assert.match(pem, /^-----BEGIN CERTIFICATE-----/);
  assert.equal(new X509Certificate(pem).ca, true);
});

await toolTest('openssl verifies the chain and reads the extensions', ['openssl'], async (t) => {
  const dataDir = await makeTempDir(t);
  await createCertificateManager({ dataDir, hostname: 'berth-host', names: ['10.0.0.7'] }).ensure();
  const tlsDir = join(dataDir, 'tls');
  const caFile = join(tlsDir, 'ca.crt');
  const serverFile = join(tlsDir, 'server.crt');
  const verified = await runOk('openssl', ['verify', '-CAfile', caFile, serverFile]);
  assert.match(verified.stdout, /server\.crt: OK/);
  // -purpose sslserver: openssl's own check of keyUsage/extendedKeyUsage for a TLS server.
  const purpose = await runOk('openssl', ['verify', '-purpose', 'sslserver', '-CAfile', caFile, serverFile]);
  assert.match(purpose.stdout, /OK/);

  const san = await runOk('openssl', ['x509', '-noout', '-ext', 'subjectAltName', '-in', join(tlsDir, 'server.crt')]);
  assert.ok(
    san.stdout.includes('DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, DNS:berth-host, IP Address:10.0.0.7'),
    san.stdout,
  );
  const serverExtensions = 'basicConstraints,keyUsage,extendedKeyUsage';
  const server = await runOk('openssl', ['x509', '-noout', '-ext', serverExtensions, '-in', serverFile]);
  assert.match(server.stdout, /CA:FALSE/);
  assert.match(server.stdout, /Digital Signature, Key Encipherment/);
  assert.match(server.stdout, /TLS Web Server Authentication/);
  const ca = await runOk('openssl', ['x509', '-noout', '-subject', '-ext', 'basicConstraints,keyUsage', '-in', caFile]);
  assert.match(ca.stdout, /CN ?= ?Berth Local CA \(berth-host\)/);
  assert.match(ca.stdout, /CA:TRUE, pathlen:0/);
  assert.match(ca.stdout, /Certificate Sign, CRL Sign/);
  // The keys are real RSA-2048 keys openssl can read.
  const key = await runOk('openssl', ['pkey', '-noout', '-text', '-in', join(tlsDir, 'server.key')]);
  assert.match(key.stdout, /2048 bit/);
});
