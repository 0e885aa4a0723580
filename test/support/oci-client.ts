import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';

/**
 * A small, deliberately literal OCI Distribution client for black-box tests: every helper does the
 * exact requests the spec describes and fails with the request and the response in the message, so a
 * failing test reads as a bug report. Tests that need to look at raw bytes on the wire use rawRequest
 * (node:http, no URL normalisation) or rawExchange (a plain TCP socket).
 */

export const mediaTypes = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  platform?: { architecture: string; os: string };
}

export interface PushedBlob {
  digest: string;
  size: number;
  bytes: Buffer;
}

export interface PushedManifest {
  status: number;
  headers: Headers;
  /** Response body text (an OCI error body when status is not 201). */
  body: string;
  digest: string;
  bytes: Buffer;
  mediaType: string;
}

export interface Image {
  config: PushedBlob;
  layers: PushedBlob[];
  manifest: Record<string, unknown>;
  bytes: Buffer;
  digest: string;
  mediaType: string;
  /** The descriptor an index or a referrer's subject would use for this image. */
  descriptor: Descriptor;
}

/**
 * Every request gives up after this long, so a server that never answers fails the test with the
 * request named instead of hanging the whole run.
 */
export const requestTimeoutMs = 5_000;

export function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

export function sha512(bytes: Uint8Array): string {
  return `sha512:${createHash('sha512').update(bytes).digest('hex')}`;
}

/** A digest that is well formed but whose content nobody pushed. */
export function randomDigest(): string {
  return sha256(randomBytes(32));
}

let repoCounter = 0;
/** A fresh, valid repository name, so tests sharing one server never see each other's data. */
export function uniqueRepo(prefix = 'test'): string {
  repoCounter += 1;
  return `${prefix}/r${repoCounter}-${randomBytes(3).toString('hex')}`;
}

export function jsonBytes(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}

/** Resolves a Location header (absolute or relative) against the registry URL and adds query parameters. */
export function resolveLocation(base: string, location: string, query: Record<string, string> = {}): string {
  const target = new URL(location, `${base}/`);
  for (const [key, value] of Object.entries(query)) target.searchParams.set(key, value);
  return target.toString();
}

/** One line describing a response, for assertion messages. */
export async function describeResponse(method: string, url: string, response: Response): Promise<string> {
  const text = await response.text().catch(() => '<unreadable body>');
  const headers = [...response.headers].map(([k, v]) => `${k}: ${v}`).join('; ');
  return `${method} ${url} -> ${response.status} [${headers}] ${text.slice(0, 500)}`;
}

/** fetch() that throws a readable error unless the status is one of `expected`. The body is left unread on success. */
export async function request(
  method: string,
  url: string,
  init: { headers?: Record<string, string>; body?: Uint8Array | string; expected?: number | number[] } = {},
): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(url, { method, headers: init.headers, body: init.body, redirect: 'manual', signal: AbortSignal.timeout(requestTimeoutMs) });
  } catch (error) {
    throw new Error(`${method} ${url} failed: ${(error as Error).message}`, { cause: error });
  }
  const expected = init.expected === undefined ? undefined : [init.expected].flat();
  if (expected && !expected.includes(response.status)) {
    assert.fail(`expected ${expected.join('/')}: ${await describeResponse(method, url, response)}`);
  }
  return response;
}

/** Monolithic push: a single `POST /v2/<name>/blobs/uploads/?digest=` carrying the whole blob. */
export async function pushBlob(url: string, repo: string, bytes: Uint8Array, algorithm: 'sha256' | 'sha512' = 'sha256'): Promise<PushedBlob> {
  const digest = algorithm === 'sha256' ? sha256(bytes) : sha512(bytes);
  const target = `${url}/v2/${repo}/blobs/uploads/?digest=${encodeURIComponent(digest)}`;
  const response = await request('POST', target, {
    headers: { 'content-type': 'application/octet-stream' },
    body: bytes,
    expected: 201,
  });
  await response.arrayBuffer();
  return { digest, size: bytes.byteLength, bytes: Buffer.from(bytes) };
}

/** Starts an upload session; returns the absolute session URL from Location. */
export async function startUpload(url: string, repo: string): Promise<string> {
  const target = `${url}/v2/${repo}/blobs/uploads/`;
  const response = await request('POST', target, { expected: 202 });
  await response.arrayBuffer();
  const location = response.headers.get('location');
  assert.ok(location, `POST ${target} -> 202 without Location`);
  return resolveLocation(url, location);
}

/** Sends one chunk with Content-Range; returns the next session URL (always follow the latest Location). */
export async function patchChunk(url: string, session: string, chunk: Uint8Array, offset: number): Promise<string> {
  const response = await request('PATCH', session, {
    headers: {
      'content-type': 'application/octet-stream',
      'content-range': `${offset}-${offset + chunk.byteLength - 1}`,
    },
    body: chunk,
    expected: 202,
  });
  await response.arrayBuffer();
  const location = response.headers.get('location');
  assert.ok(location, `PATCH ${session} -> 202 without Location`);
  return resolveLocation(url, location);
}

/** Closes a session with `PUT ?digest=`, optionally carrying a final chunk. */
export async function finishUpload(url: string, session: string, digest: string, finalChunk?: Uint8Array): Promise<Response> {
  const target = resolveLocation(url, session, { digest });
  const headers: Record<string, string> = { 'content-type': 'application/octet-stream' };
  return request('PUT', target, { headers, body: finalChunk ?? new Uint8Array(0) });
}

/** Chunked push: POST, then PATCH chunks with Content-Range, then PUT ?digest=. */
export async function pushBlobChunked(url: string, repo: string, bytes: Uint8Array, chunkSize = 1024 * 1024): Promise<PushedBlob> {
  const digest = sha256(bytes);
  let session = await startUpload(url, repo);
  for (let offset = 0; offset < bytes.byteLength; offset += chunkSize) {
    session = await patchChunk(url, session, bytes.subarray(offset, offset + chunkSize), offset);
  }
  const response = await finishUpload(url, session, digest);
  if (response.status !== 201) assert.fail(`expected 201: ${await describeResponse('PUT', session, response)}`);
  await response.arrayBuffer();
  return { digest, size: bytes.byteLength, bytes: Buffer.from(bytes) };
}

/** `PUT /v2/<name>/manifests/<ref>`; returns whatever the server answered (callers assert the status). */
export async function putManifest(
  url: string,
  repo: string,
  reference: string,
  manifest: object | Uint8Array,
  mediaType?: string,
): Promise<PushedManifest> {
  const bytes = manifest instanceof Uint8Array ? Buffer.from(manifest) : jsonBytes(manifest);
  const type = mediaType ?? (manifest instanceof Uint8Array ? mediaTypes.ociManifest : String((manifest as { mediaType?: unknown }).mediaType));
  const response = await request('PUT', `${url}/v2/${repo}/manifests/${reference}`, { headers: { 'content-type': type }, body: bytes });
  const body = await response.text();
  return { status: response.status, headers: response.headers, body, digest: sha256(bytes), bytes, mediaType: type };
}

/** putManifest that insists on 201. */
export async function pushManifest(url: string, repo: string, reference: string, manifest: object | Uint8Array, mediaType?: string): Promise<PushedManifest> {
  const pushed = await putManifest(url, repo, reference, manifest, mediaType);
  if (pushed.status !== 201) assert.fail(`PUT ${url}/v2/${repo}/manifests/${reference} -> ${pushed.status} ${pushed.body.slice(0, 500)}`);
  return pushed;
}

/** Pushes a random config and `layers` random layers, then an OCI image manifest (by tag when given, else by digest). */
export async function makeImage(
  url: string,
  repo: string,
  options: { layers?: number; tag?: string; layerSize?: number; docker?: boolean; annotations?: Record<string, string> } = {},
): Promise<Image> {
  const docker = options.docker ?? false;
  const config = await pushBlob(url, repo, jsonBytes({ architecture: 'amd64', os: 'linux', nonce: randomBytes(8).toString('hex') }));
  const layers: PushedBlob[] = [];
  for (let i = 0; i < (options.layers ?? 1); i++) layers.push(await pushBlob(url, repo, randomBytes(options.layerSize ?? 512)));
  const mediaType = docker ? mediaTypes.dockerManifest : mediaTypes.ociManifest;
  const manifest: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType,
    config: { mediaType: docker ? mediaTypes.dockerConfig : mediaTypes.ociConfig, digest: config.digest, size: config.size },
    layers: layers.map((layer) => ({ mediaType: docker ? mediaTypes.dockerLayer : mediaTypes.ociLayer, digest: layer.digest, size: layer.size })),
  };
  if (options.annotations) manifest.annotations = options.annotations;
  const bytes = jsonBytes(manifest);
  const digest = sha256(bytes);
  await pushManifest(url, repo, options.tag ?? digest, bytes, mediaType);
  return { config, layers, manifest, bytes, digest, mediaType, descriptor: { mediaType, digest, size: bytes.byteLength } };
}

/** The empty JSON blob `{}` that artifacts use as their config (image-spec "empty descriptor"). */
export const emptyConfig = {
  bytes: Buffer.from('{}'),
  descriptor: { mediaType: mediaTypes.ociEmpty, digest: sha256(Buffer.from('{}')), size: 2 } as Descriptor,
};

/** Pushes an artifact manifest (empty config, one small layer) with artifactType and optional subject. */
export async function makeArtifact(
  url: string,
  repo: string,
  options: { artifactType?: string; subject?: Descriptor; annotations?: Record<string, string>; configMediaType?: string; tag?: string } = {},
): Promise<PushedManifest & { manifest: Record<string, unknown> }> {
  await pushBlob(url, repo, emptyConfig.bytes);
  const layer = await pushBlob(url, repo, randomBytes(64));
  const manifest: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType: mediaTypes.ociManifest,
    config: { ...emptyConfig.descriptor, mediaType: options.configMediaType ?? mediaTypes.ociEmpty },
    layers: [{ mediaType: 'application/octet-stream', digest: layer.digest, size: layer.size }],
  };
  if (options.artifactType) manifest.artifactType = options.artifactType;
  if (options.subject) manifest.subject = options.subject;
  if (options.annotations) manifest.annotations = options.annotations;
  const bytes = jsonBytes(manifest);
  const pushed = await pushManifest(url, repo, options.tag ?? sha256(bytes), bytes, mediaTypes.ociManifest);
  return { ...pushed, manifest };
}

export interface OciErrorBody {
  errors: { code: string; message?: string; detail?: unknown }[];
}

/**
 * Asserts an OCI error response: the status (one of), a JSON body `{errors:[{code,message,detail}]}`,
 * and that one of the errors has one of the allowed codes. Accepts a fetch Response, a RawResponse, or
 * a status + body text pair.
 */
export async function assertOciError(
  response: Response | RawResponse | { status: number; body: string; headers?: Headers },
  status: number | number[],
  code: string | string[],
  context = '',
): Promise<OciErrorBody> {
  const statuses = [status].flat();
  const codes = [code].flat();
  let text: string;
  let contentType: string | undefined;
  if (response instanceof Response) {
    text = await response.text();
    contentType = response.headers.get('content-type') ?? undefined;
  } else if (Buffer.isBuffer(response.body)) {
    const raw = response as RawResponse;
    text = raw.body.toString('utf8');
    contentType = String(raw.headers['content-type'] ?? '');
  } else {
    const pushed = response as { body: string; headers?: Headers };
    text = pushed.body;
    contentType = pushed.headers?.get('content-type') ?? undefined;
  }
  const where = `${context} -> ${response.status} ${text.slice(0, 400)}`;
  assert.ok(statuses.includes(response.status), `expected status ${statuses.join('/')}: ${where}`);
  if (contentType !== undefined) assert.match(contentType, /json/, `error Content-Type should be JSON, got ${contentType}: ${where}`);
  let body: OciErrorBody;
  try {
    body = JSON.parse(text) as OciErrorBody;
  } catch {
    assert.fail(`error body is not JSON: ${where}`);
  }
  assert.ok(Array.isArray(body.errors) && body.errors.length > 0, `body lacks errors[]: ${where}`);
  for (const error of body.errors) {
    assert.match(error.code, /^[A-Z_]+$/, `bad error code: ${where}`);
    if (error.message !== undefined) assert.equal(typeof error.message, 'string', `message must be a string: ${where}`);
  }
  assert.ok(body.errors.some((e) => codes.includes(e.code)), `expected code ${codes.join('/')}: ${where}`);
  return body;
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/**
 * node:http request with the path sent exactly as given (no `..` folding, no re-encoding);
 * `chunked` sends the body in two pieces with Transfer-Encoding: chunked.
 */
export function rawRequest(
  base: string,
  method: string,
  path: string,
  options: { headers?: Record<string, string>; body?: Uint8Array; chunked?: boolean } = {},
): Promise<RawResponse> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: hostname, port, method, path, headers: options.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.setTimeout(requestTimeoutMs, () => req.destroy(new Error(`no response to ${method} ${path} within ${requestTimeoutMs} ms`)));
    req.on('error', reject);
    if (options.chunked && options.body) {
      // Writing before end() makes node send `Transfer-Encoding: chunked` and no Content-Length,
      // the way containerd and Docker stream layers.
      const half = Math.floor(options.body.byteLength / 2);
      req.write(options.body.subarray(0, half));
      setTimeout(() => req.end(options.body?.subarray(half)), 5);
    } else {
      req.end(options.body);
    }
  });
}

/**
 * Sends a hand-written HTTP/1.1 request over a plain socket (with `Connection: close`) and returns
 * the head and every byte after it, so a test can see a body the server should not have sent.
 */
export function rawExchange(base: string, method: string, path: string, headers: Record<string, string> = {}): Promise<{
  statusLine: string;
  headers: Record<string, string>;
  afterHead: Buffer;
}> {
  const { hostname, port } = new URL(base);
  const lines = [`${method} ${path} HTTP/1.1`, `Host: ${hostname}:${port}`, 'Connection: close'];
  for (const [key, value] of Object.entries(headers)) lines.push(`${key}: ${value}`);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    socket.setTimeout(requestTimeoutMs, () => socket.destroy(new Error(`no response to raw ${method} ${path} within ${requestTimeoutMs} ms`)));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const all = Buffer.concat(chunks);
      const end = all.indexOf('\r\n\r\n');
      if (end < 0) return reject(new Error(`incomplete response: ${all.toString('latin1').slice(0, 300)}`));
      const [statusLine = '', ...headerLines] = all.subarray(0, end).toString('latin1').split('\r\n');
      const parsed: Record<string, string> = {};
      for (const line of headerLines) {
        const colon = line.indexOf(':');
        parsed[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      resolve({ statusLine, headers: parsed, afterHead: all.subarray(end + 4) });
    });
    socket.write(`${lines.join('\r\n')}\r\n\r\n`);
  });
}

/** Parses an RFC 8288 `Link: <url>; rel="next"` header into a URL (resolved against base), or undefined. */
export function nextLink(base: string, header: string | null): URL | undefined {
  if (!header) return undefined;
  const match = /<([^>]+)>\s*;\s*rel="?next"?/.exec(header);
  assert.ok(match?.[1], `malformed Link header: ${header}`);
  return new URL(match[1], `${base}/`);
}

/** An image pushed by pushImageOf: its manifest, config and layers. */
export interface PushedImage {
  readonly digest: string;
  readonly bytes: Buffer;
  readonly config: PushedBlob;
  readonly layers: readonly PushedBlob[];
}

/** An OCI image manifest over `layers` (pushed already) and a fresh config, pushed by tag or digest. */
export async function pushImageOf(url: string, repo: string, reference: string | undefined, layers: readonly PushedBlob[], architecture = 'amd64'): Promise<PushedImage> {
  const config = await pushBlobChunked(
    url,
    repo,
    jsonBytes({ architecture, os: 'linux', rootfs: { type: 'layers', diff_ids: layers.map((layer) => layer.digest) }, config: {}, nonce: randomBytes(4).toString('hex') }),
  );
  const manifest = {
    schemaVersion: 2,
    mediaType: mediaTypes.ociManifest,
    config: { mediaType: mediaTypes.ociConfig, digest: config.digest, size: config.size },
    layers: layers.map((layer) => ({ mediaType: mediaTypes.ociLayer, digest: layer.digest, size: layer.size })),
  };
  const bytes = jsonBytes(manifest);
  const digest = sha256(bytes);
  await pushManifest(url, repo, reference ?? digest, bytes, mediaTypes.ociManifest);
  return { digest, bytes, config, layers };
}

