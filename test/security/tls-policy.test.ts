import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { createStateStore } from '../../registry/state/index.js';
import { berthBin, startBerth } from '../support/berth-process.js';
import { startConnectProxy } from '../support/connect-proxy.js';
import { makeTempDir } from '../support/temp-dir.js';
import { run, runOk, toolTest } from '../support/tools.js';
import { eventually } from '../e2e/mirror-fixture.js';
import { signIn } from '../http/admin-fixture.js';
import { startEdgeBerth } from './edge-fixture.js';

/**
 * Issue 8, row 11. Berth's HTTPS listener speaks TLS 1.3, and TLS 1.2 only with ECDHE and AEAD suites (Node's
 * defaults also took AES128-SHA and AES256-SHA256: no forward secrecy, CBC). Its local CA, which `berth trust`
 * puts in system trust stores, carries name constraints: a certificate it signs for any other name is refused by
 * real verifiers (OpenSSL, curl, and Go's crypto/tls in skopeo, as in docker and containerd), while Berth's own
 * server certificate verifies. A CA made before constraints keeps working and is replaced by `berth ca rotate`.
 */

interface Handshake {
  ok: boolean;
  protocol?: string;
  cipher?: string;
  output: string;
}

/** One `openssl s_client` handshake with Berth's HTTPS listener; `ok` when a cipher was agreed. */
async function handshake(port: number, args: readonly string[], caFile?: string): Promise<Handshake> {
  const verify = caFile ? ['-CAfile', caFile, '-verify_return_error'] : [];
  const result = await run('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'localhost', ...verify, ...args], { input: '', timeoutMs: 20_000 });
  const output = `${result.stdout}\n${result.stderr}`;
  const agreed = /^New, (TLSv[\d.]+), Cipher is (\S+)$/m.exec(output);
  return { ok: result.code === 0 && agreed !== null && agreed[2] !== '(NONE)', protocol: agreed?.[1], cipher: agreed?.[2], output };
}

/** Signs a server certificate for `altNames` with a CA's key, as whoever stole ca.key would. */
async function signWith(caDir: string, outDir: string, name: string, altNames: string): Promise<{ key: string; cert: string }> {
  const key = join(outDir, `${name}.key`);
  const csr = join(outDir, `${name}.csr`);
  const cert = join(outDir, `${name}.crt`);
  await runOk('openssl', ['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-subj', `/CN=${name}`, '-addext', `subjectAltName=${altNames}`, '-addext', 'extendedKeyUsage=serverAuth', '-out', csr]);
  await runOk('openssl', ['x509', '-req', '-in', csr, '-CA', join(caDir, 'ca.crt'), '-CAkey', join(caDir, 'ca.key'), '-set_serial', '0x1234', '-days', '30', '-copy_extensions', 'copy', '-out', cert]);
  return { key, cert };
}

/** `curl --cacert` to `https://NAME:PORT/v2/` with NAME resolved to 127.0.0.1: the HTTP status, or curl's error. */
async function curlVia(name: string, port: number, caFile: string): Promise<{ code: number | null; status: string; stderr: string }> {
  const result = await run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '--cacert', caFile, '--resolve', `${name}:${port}:127.0.0.1`, `https://${name}:${port}/v2/`], { timeoutMs: 20_000 });
  return { code: result.code, status: result.stdout.trim(), stderr: result.stderr };
}

/** The server certificate a TLS client gets from `port` for `servername` (not verified: the test looks at it). */
function peerCertificate(port: number, servername = 'localhost'): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ port, host: '127.0.0.1', servername, rejectUnauthorized: false }, () => {
      const peer = socket.getPeerX509Certificate();
      socket.end();
      if (peer) resolve(peer);
      else reject(new Error('no peer certificate'));
    });
    socket.on('error', reject);
  });
}

await toolTest('TLS 1.3 and TLS 1.2 with ECDHE-AEAD suites are accepted; CBC, non-ECDHE and TLS 1.1 are refused (openssl s_client, Node)', ['openssl'], async (t) => {
  const edge = await startEdgeBerth(t);
  const port = Number(new URL(String(edge.tlsUrl)).port);
  const caFile = join(edge.dataDir, 'tls', 'ca.crt');
  // @SECLEVEL=0 lets the client offer what it is asked to; the server's answer is what is tested.
  for (const [label, args] of [
    ['AES128-SHA (RSA key exchange, CBC)', ['-tls1_2', '-cipher', 'AES128-SHA:@SECLEVEL=0']],
    ['AES256-SHA256 (RSA key exchange, CBC)', ['-tls1_2', '-cipher', 'AES256-SHA256:@SECLEVEL=0']],
    ['AES128-GCM-SHA256 (RSA key exchange)', ['-tls1_2', '-cipher', 'AES128-GCM-SHA256:@SECLEVEL=0']],
    ['ECDHE-RSA-AES128-SHA256 (ECDHE, CBC)', ['-tls1_2', '-cipher', 'ECDHE-RSA-AES128-SHA256:@SECLEVEL=0']],
    ['ECDHE-RSA-AES256-SHA (ECDHE, CBC)', ['-tls1_2', '-cipher', 'ECDHE-RSA-AES256-SHA:@SECLEVEL=0']],
    ['DHE-RSA-AES128-GCM-SHA256 (finite-field DHE)', ['-tls1_2', '-cipher', 'DHE-RSA-AES128-GCM-SHA256:@SECLEVEL=0']],
    ['TLS 1.1', ['-tls1_1', '-cipher', 'DEFAULT:@SECLEVEL=0']],
  ] as const) {
    const result = await handshake(port, args);
    assert.equal(result.ok, false, `${label} must be refused, got ${result.protocol} ${result.cipher}`);
  }
  for (const [cipher, protocol, args] of [
    ['ECDHE-RSA-AES128-GCM-SHA256', 'TLSv1.2', ['-tls1_2', '-cipher', 'ECDHE-RSA-AES128-GCM-SHA256']],
    ['ECDHE-RSA-AES256-GCM-SHA384', 'TLSv1.2', ['-tls1_2', '-cipher', 'ECDHE-RSA-AES256-GCM-SHA384']],
    ['ECDHE-RSA-CHACHA20-POLY1305', 'TLSv1.2', ['-tls1_2', '-cipher', 'ECDHE-RSA-CHACHA20-POLY1305']],
    ['TLS_AES_128_GCM_SHA256', 'TLSv1.3', ['-tls1_3', '-ciphersuites', 'TLS_AES_128_GCM_SHA256']],
    ['TLS_AES_256_GCM_SHA384', 'TLSv1.3', ['-tls1_3', '-ciphersuites', 'TLS_AES_256_GCM_SHA384']],
    ['TLS_CHACHA20_POLY1305_SHA256', 'TLSv1.3', ['-tls1_3', '-ciphersuites', 'TLS_CHACHA20_POLY1305_SHA256']],
  ] as const) {
    const result = await handshake(port, args, caFile);
    assert.deepEqual({ ok: result.ok, protocol: result.protocol, cipher: result.cipher }, { ok: true, protocol, cipher }, result.output);
  }

  // Node's own TLS client: a CBC-only offer fails, the defaults get TLS 1.3 and a certificate that verifies.
  const ca = await readFile(caFile, 'utf8');
  const connectWith = (options: { ciphers?: string; maxVersion?: 'TLSv1.2' }) =>
    new Promise<string>((resolve, reject) => {
      const socket = tlsConnect({ port, host: '127.0.0.1', servername: 'localhost', ca, ...options }, () => {
        resolve(`${socket.getProtocol()} ${socket.getCipher().standardName}`);
        socket.end();
      });
      socket.on('error', reject);
    });
  await assert.rejects(connectWith({ ciphers: 'AES256-SHA256:AES128-SHA', maxVersion: 'TLSv1.2' }), /handshake failure|no shared cipher|ssl/i);
  assert.match(await connectWith({}), /^TLSv1\.3 TLS_AES_/);
});

await toolTest('the local CA only signs for Berth\'s names: a certificate it signs for another name is refused by openssl, curl and skopeo', ['openssl', 'curl', 'skopeo'], async (t) => {
  const dataDir = await makeTempDir(t, 'berth-tls-');
  const state = await createStateStore(dataDir);
  await state.update((draft) => void (draft.settings.tlsNames = ['berth.example.lan', '10.9.8.7']));
  await state.close();
  const edge = await startEdgeBerth(t, { dataDir });
  const port = Number(new URL(String(edge.tlsUrl)).port);
  const tlsDir = join(dataDir, 'tls');
  const caFile = join(tlsDir, 'ca.crt');

  // The constraints as `openssl x509 -text` shows them: exactly Berth's names.
  const text = (await runOk('openssl', ['x509', '-in', caFile, '-noout', '-text'])).stdout;
  const constraints = /X509v3 Name Constraints: critical\n\s+Permitted:\n((?:\s+(?:DNS|IP):\S+\n)+)/.exec(text);
  assert.ok(constraints, text);
  const permitted = constraints[1]!.trim().split(/\s+/);
  const host = hostname().toLowerCase();
  const expected = ['DNS:localhost', 'IP:127.0.0.0/255.0.0.0', 'IP:0:0:0:0:0:0:0:1/FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF', 'DNS:berth.example.lan', 'IP:10.9.8.7/255.255.255.255'];
  // The host name too, when it is a DNS name not already inside localhost.
  if (/^[a-z0-9.-]+$/.test(host) && host !== 'localhost' && !host.endsWith('.localhost')) expected.splice(3, 0, `DNS:${host}`);
  assert.deepEqual(permitted, expected);
  assert.match(text, /X509v3 Basic Constraints: critical\n\s+CA:TRUE, pathlen:0/);
  assert.match(text, /X509v3 Extended Key Usage: \n\s+TLS Web Server Authentication/);

  // Berth's own certificate verifies, by file and on the wire, for each of its names.
  assert.match((await runOk('openssl', ['verify', '-CAfile', caFile, '-purpose', 'sslserver', join(tlsDir, 'server.crt')])).stdout, /server\.crt: OK/);
  for (const name of ['localhost', 'berth.example.lan']) {
    const answer = await curlVia(name, port, caFile);
    assert.deepEqual({ code: answer.code, status: answer.status }, { code: 0, status: '401' }, `${name}: ${answer.stderr}`);
  }

  // Whoever steals ca.key can sign for any name; verifiers refuse every name outside the constraints, and a
  // certificate that mixes one in with Berth's names too.
  const evil = await signWith(tlsDir, await makeTempDir(t), 'evil.example.com', 'DNS:evil.example.com');
  const mixed = await signWith(tlsDir, await makeTempDir(t), 'localhost', 'DNS:localhost,DNS:bank.example.com');
  for (const forged of [evil, mixed]) {
    const verified = await run('openssl', ['verify', '-CAfile', caFile, '-purpose', 'sslserver', forged.cert]);
    assert.notEqual(verified.code, 0);
    assert.match(`${verified.stdout}${verified.stderr}`, /permitted subtree violation/);
  }
  const forgedServer = createServer({ key: await readFile(evil.key, 'utf8'), cert: await readFile(evil.cert, 'utf8') }, (_req, res) => res.writeHead(200).end('{}'));
  await new Promise<void>((resolve) => forgedServer.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => forgedServer.close(() => resolve())));
  const forgedPort = (forgedServer.address() as AddressInfo).port;
  const curled = await curlVia('evil.example.com', forgedPort, caFile);
  assert.equal(curled.code, 60, `curl must refuse the certificate: ${curled.stderr}`);
  assert.match(curled.stderr, /permitted subtree violation/);

  // skopeo (Go's crypto/tls, as in docker and containerd), trusting Berth's CA: through a proxy that sends every
  // name to this machine, the forged certificate is refused for its name, and Berth's own accepted.
  const proxy = await startConnectProxy(t);
  const certDir = await makeTempDir(t);
  await writeFile(join(certDir, 'ca.crt'), await readFile(caFile));
  const inspect = (reference: string) => run('skopeo', ['inspect', '--retry-times', '0', '--cert-dir', certDir, `docker://${reference}`], { env: { HTTPS_PROXY: proxy.url, https_proxy: proxy.url, NO_PROXY: '', no_proxy: '' }, timeoutMs: 60_000 });
  const refused = await inspect(`evil.example.com:${forgedPort}/team/app:1`);
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /x509: a root or intermediate certificate is not authorized to sign for this name/);
  const accepted = await inspect(`berth.example.lan:${port}/team/app:1`);
  assert.doesNotMatch(accepted.stderr, /x509|certificate/i, 'Berth\'s own certificate is accepted');
  // What comes back is Berth's registry answering over the verified connection: no credentials, no pull.
  assert.match(accepted.stderr, /denied: anonymous may not pull team\/app/);
  assert.deepEqual([...new Set(proxy.tunnels)], [`evil.example.com:${forgedPort}`, `berth.example.lan:${port}`], 'both went through the proxy, by name');
});

await toolTest('a CA made before name constraints keeps working, with a warning; berth ca rotate replaces it, and adds a name the old CA cannot cover', ['openssl', 'curl'], async (t) => {
  const dataDir = await makeTempDir(t, 'berth-tls-');
  const tlsDir = join(dataDir, 'tls');
  await mkdir(tlsDir, { recursive: true, mode: 0o700 });
  // A CA like the ones older Berths made: a pathlen-0 root without name constraints.
  await runOk('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(tlsDir, 'ca.key'), '-out', join(tlsDir, 'ca.crt'), '-days', '3650', '-subj', '/CN=Berth Local CA (old)/O=Berth', '-addext', 'basicConstraints=critical,CA:TRUE,pathlen:0', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  await chmod(join(tlsDir, 'ca.key'), 0o600);
  const oldCa = await readFile(join(tlsDir, 'ca.crt'), 'utf8');
  const oldCaFile = join(await makeTempDir(t), 'old-ca.crt');
  await writeFile(oldCaFile, oldCa);

  const berth = await startBerth({ dataDir, auth: 'token' });
  t.after(() => berth.stop());
  const port = Number(new URL(String(berth.ready.tlsUrl)).port);
  // It keeps working: the same CA, a server certificate that verifies against it, and a warning with the fix.
  await berth.waitForLog((line) => typeof line.msg === 'string' && line.msg.startsWith('the local CA has no name constraints') && /berth ca rotate/.test(line.msg));
  assert.equal(await readFile(join(tlsDir, 'ca.crt'), 'utf8'), oldCa);
  assert.equal((await handshake(port, [], oldCaFile)).ok, true);

  const berthCli = (...args: string[]) => runOk(process.execPath, [berthBin, ...args, '--data', dataDir], { timeoutMs: 60_000 });
  const rotated = await berthCli('ca', 'rotate');
  assert.match(rotated.stdout, /^Made a new local CA: .*ca\.crt$/m);
  assert.match(rotated.stdout, /signs only for: localhost, 127\.0\.0\.0\/8, ::1\/128/);
  assert.match(rotated.stdout, /Every client that trusted the old CA must trust this one instead .*"berth trust"/);
  const newCaFile = join(tlsDir, 'ca.crt');
  assert.notEqual(await readFile(newCaFile, 'utf8'), oldCa);
  assert.match((await runOk('openssl', ['x509', '-in', newCaFile, '-noout', '-text'])).stdout, /X509v3 Name Constraints: critical/);
  // The running server serves a certificate from the new CA without a restart; the old CA no longer verifies it.
  await eventually('the running server to serve a certificate from the new CA', async () => (await handshake(port, [], newCaFile)).ok, 20_000);
  assert.equal((await handshake(port, [], oldCaFile)).ok, false);

  // A TLS name outside the new CA's constraints: the GUI's settings call refuses it and says what to run...
  const cookie = await signIn(berth.url, dataDir);
  const refused = await fetch(`${berth.url}/api/settings`, { method: 'PATCH', headers: { cookie, 'x-berth-admin': '1', 'content-type': 'application/json' }, body: JSON.stringify({ tlsNames: ['berth.example.lan'] }) });
  assert.equal(refused.status, 400);
  const body = (await refused.json()) as { error: { message: string; hint?: string } };
  assert.match(body.error.message, /Berth's local CA may not sign for berth\.example\.lan/);
  assert.match(body.error.hint ?? '', /berth ca rotate --tls-name berth\.example\.lan/);
  // ...and that command adds it: the name is saved, and the running server's certificate covers it at once.
  const added = await berthCli('ca', 'rotate', '--tls-name', 'berth.example.lan');
  assert.match(added.stdout, /Added TLS name\(s\): berth\.example\.lan/);
  const settings = JSON.parse(await readFile(join(dataDir, 'state.json'), 'utf8')) as { settings: { tlsNames?: string[] } };
  assert.deepEqual(settings.settings.tlsNames, ['berth.example.lan']);
  await eventually('the new name to verify against the newest CA', async () => (await curlVia('berth.example.lan', port, newCaFile)).status === '401', 20_000);
  assert.match((await peerCertificate(port)).subjectAltName ?? '', /DNS:berth\.example\.lan/);
});
