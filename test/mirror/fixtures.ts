import { spawn } from 'node:child_process';
import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import forge from 'node-forge';
import { silentLogger } from '../../registry/log.js';
import { createUpstreamClient, type Upstream, type UpstreamClient, type UpstreamHealth } from '../../registry/mirror/index.js';
import { distributionBinary } from '../support/distribution.js';
import { freePort, waitForHttp } from '../support/net.js';
import { blobPath } from '../support/oci-layout.js';
import { makeTempDir, type AfterHook } from '../support/temp-dir.js';
import { runOk, trackChild } from '../support/tools.js';

/**
 * Real peers and real faults for the upstream-client tests: skopeo pushes, a front server that forwards to a
 * real registry and can cut, delay, rewrite or redirect its answers, a Docker token service that signs RS256
 * JWTs distribution verifies, and distribution configured for token auth.
 */

/**
 * `skopeo copy --all` of an OCI layout image (`oci:DIR:TAG`) into `host/repo:tag` (plain HTTP or unverified TLS,
 * optional credentials). --all keeps image indexes whole; --preserve-digests keeps the exact bytes.
 */
export async function pushImage(sourceRef: string, host: string, repoTag: string, creds?: { username: string; password: string }): Promise<void> {
  const args = ['--insecure-policy', 'copy', '--all', '--preserve-digests', '--dest-tls-verify=false'];
  if (creds) args.push('--dest-creds', `${creds.username}:${creds.password}`);
  await runOk('skopeo', [...args, sourceRef, `docker://${host}/${repoTag}`], { timeoutMs: 120_000 });
}

/** Hashes a stream as it flows (never buffered). */
export async function sha256Of(stream: Readable): Promise<{ digest: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    hash.update(chunk);
    bytes += chunk.length;
  }
  return { digest: `sha256:${hash.digest('hex')}`, bytes };
}

/**
 * A client that is closed after the test. `health` replaces the default one (offline after one failure): tests of
 * how failures are classified send several bad requests in a row and give it one that never goes offline.
 */
export function clientFor(t: AfterHook, upstream: Upstream, fetchTimeoutMs = 10_000, health?: UpstreamHealth): UpstreamClient {
  const client = createUpstreamClient(upstream, { logger: silentLogger(), fetchTimeoutMs, health });
  t.after(() => client.close());
  return client;
}

export interface SeenRequest {
  readonly method: string;
  readonly path: string;
  readonly authorization: string | undefined;
}

export interface FrontOptions {
  /** Base URL of the registry to forward to (http only). */
  readonly target?: string;
  /** Answer a request yourself (return true), or let it be forwarded (return false). */
  readonly handle?: (req: IncomingMessage, res: ServerResponse) => boolean;
  /** For GET .../blobs/...: forward the headers and this many body bytes, then destroy the socket. */
  readonly cutBlobsAfterBytes?: number;
  /** Listen on this port (to bring an upstream "back" where it used to be). */
  readonly port?: number;
}

export interface FrontServer {
  readonly url: string;
  readonly port: number;
  readonly requests: SeenRequest[];
  close(): Promise<void>;
}

/** A node:http server in front of a registry: the place where faults are injected at the socket level. */
export async function startFront(t: AfterHook, options: FrontOptions): Promise<FrontServer> {
  const requests: SeenRequest[] = [];
  const server: Server = createServer((req, res) => {
    requests.push({ method: req.method ?? '', path: req.url ?? '', authorization: req.headers.authorization });
    if (options.handle?.(req, res)) return;
    if (options.target === undefined) {
      res.writeHead(502).end();
      return;
    }
    const target = new URL(req.url ?? '/', options.target);
    const headers = { ...req.headers, host: target.host };
    const upstream = httpRequest(target, { method: req.method, headers }, (answer) => {
      const cut = options.cutBlobsAfterBytes;
      if (cut !== undefined && req.method === 'GET' && /\/blobs\/sha256:/.test(req.url ?? '') && answer.statusCode === 200) {
        res.writeHead(200, answer.headers);
        let sent = 0;
        answer.on('data', (chunk: Buffer) => {
          if (sent >= cut) return;
          const part = chunk.subarray(0, cut - sent);
          sent += part.length;
          res.write(part);
          if (sent >= cut) {
            answer.destroy();
            // Let the bytes leave, then drop the connection mid-body: what a dying upstream looks like.
            setTimeout(() => res.socket?.destroy(), 20);
          }
        });
        return;
      }
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.socket?.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', resolve);
  });
  const port = (server.address() as AddressInfo).port;
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  t.after(close);
  return { url: `http://127.0.0.1:${port}`, port, requests, close };
}

/** Serves the blobs of an OCI layout at `/storage/sha256:<hex>` and records who asked: a stand-in for S3. */
export async function startBlobStorage(t: AfterHook, layoutDir: string): Promise<FrontServer> {
  return startFront(t, {
    handle: (req, res) => {
      const match = /^\/storage\/(sha256:[a-f0-9]{64})\?sig=ok$/.exec(req.url ?? '');
      if (!match) {
        res.writeHead(403).end();
        return true;
      }
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      createReadStream(blobPath(layoutDir, match[1] as string)).pipe(res);
      return true;
    },
  });
}

export interface SigningCertificate {
  readonly certPem: string;
  readonly keyPem: string;
  /** base64 DER, for the JWT's x5c header. */
  readonly certDerBase64: string;
}

/** A self-signed RSA certificate for signing tokens (the key made by node:crypto, the certificate by node-forge). */
export function createSigningCertificate(): SigningCertificate {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }).toString());
  cert.serialNumber = `01${randomBytes(8).toString('hex')}`;
  cert.validity.notBefore = new Date(Date.now() - 60 * 60 * 1000);
  cert.validity.notAfter = new Date(Date.now() + 24 * 60 * 60 * 1000);
  const subject = [{ name: 'commonName', value: 'berth test token signer' }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.sign(forge.pki.privateKeyFromPem(keyPem) as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
  const certPem = forge.pki.certificateToPem(cert);
  const der = forge.asn1.toDer(forge.pki.certificateToAsn1(cert)).getBytes();
  return { certPem, keyPem, certDerBase64: Buffer.from(der, 'binary').toString('base64') };
}

export interface TokenRequestSeen {
  readonly authorization: string | undefined;
  readonly service: string | null;
  readonly scopes: string[];
}

export interface TokenServer {
  readonly realm: string;
  readonly requests: TokenRequestSeen[];
  close(): Promise<void>;
}

export interface TokenServerOptions {
  readonly signer: SigningCertificate;
  readonly issuer: string;
  readonly service: string;
  readonly username: string;
  readonly password: string;
  /** expires_in of issued tokens, seconds. Default 300. */
  readonly expiresIn?: number;
}

function base64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/**
 * A Docker token service (distribution `docs/spec/auth/token.md`): Basic credentials must match; anonymous
 * requests get 401. Grants whatever is asked. Tokens are RS256 JWTs with the signing certificate in x5c, which
 * distribution checks against its rootcertbundle.
 */
export async function startTokenServer(t: AfterHook, options: TokenServerOptions): Promise<TokenServer> {
  const requests: TokenRequestSeen[] = [];
  const expected = `Basic ${Buffer.from(`${options.username}:${options.password}`).toString('base64')}`;
  const expiresIn = options.expiresIn ?? 300;
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://token.invalid');
    const scopes = url.searchParams.getAll('scope');
    requests.push({ authorization: req.headers.authorization, service: url.searchParams.get('service'), scopes });
    if (url.pathname !== '/token') {
      res.writeHead(404).end();
      return;
    }
    if (req.headers.authorization !== expected) {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"bad credentials"}');
      return;
    }
    const now = Math.floor(Date.now() / 1000);
    const access = scopes.flatMap((scope) => {
      const [type, ...rest] = scope.split(':');
      const actions = rest.pop();
      return type && actions ? [{ type, name: rest.join(':'), actions: actions.split(',') }] : [];
    });
    const claims = {
      iss: options.issuer,
      sub: options.username,
      aud: options.service,
      exp: now + expiresIn,
      nbf: now - 10,
      iat: now,
      jti: randomBytes(8).toString('hex'),
      access,
    };
    const input = `${base64url({ alg: 'RS256', typ: 'JWT', x5c: [options.signer.certDerBase64] })}.${base64url(claims)}`;
    const signature = sign('sha256', Buffer.from(input), options.signer.keyPem).toString('base64url');
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ token: `${input}.${signature}`, expires_in: expiresIn, issued_at: new Date().toISOString() }));
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

export interface TokenRegistry {
  readonly url: string;
  readonly host: string;
  logs(): string;
}

/**
 * docker-registry with `auth: token`. The shared distribution helper has no option for token auth, so this
 * spawns the binary with its own config (same pattern: loopback, ephemeral port, temp storage, tracked child).
 */
export async function startTokenDistribution(
  t: AfterHook,
  auth: { realm: string; service: string; issuer: string; rootCertPem: string },
): Promise<TokenRegistry> {
  const dir = await makeTempDir(t, 'berth-token-registry-');
  const bundle = join(dir, 'token-root.pem');
  await writeFile(bundle, auth.rootCertPem);
  const port = await freePort();
  const config = [
    'version: 0.1',
    'log:',
    '  level: warn',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${JSON.stringify(join(dir, 'storage'))}`,
    'http:',
    `  addr: 127.0.0.1:${port}`,
    `  secret: ${randomBytes(16).toString('hex')}`,
    'auth:',
    '  token:',
    `    realm: ${JSON.stringify(auth.realm)}`,
    `    service: ${JSON.stringify(auth.service)}`,
    `    issuer: ${JSON.stringify(auth.issuer)}`,
    `    rootcertbundle: ${JSON.stringify(bundle)}`,
    '',
  ].join('\n');
  const configFile = join(dir, 'config.yml');
  await writeFile(configFile, config);
  const child = spawn(distributionBinary, ['serve', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  trackChild(child);
  let log = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (log += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (log += chunk));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
  });
  await waitForHttp(`http://127.0.0.1:${port}/v2/`, { abort: () => (child.exitCode !== null ? `docker-registry exited:\n${log}` : undefined) });
  return { url: `http://127.0.0.1:${port}`, host: `127.0.0.1:${port}`, logs: () => log };
}
