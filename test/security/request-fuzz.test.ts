import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test, type TestContext } from 'node:test';
import { createAccessToken, signInAsAdmin } from '../support/berth-admin.js';
import { startBerth, type BerthProcess } from '../support/berth-process.js';
import { rawHttpExchange, type RawOutcome } from '../support/raw-http.js';
import { makeTempDir } from '../support/temp-dir.js';

/**
 * Odd requests against every mount of a real `berth serve` (registry /v2, /token, /metrics, admin /api, the GUI
 * under /ui, the catch-all /), once with `--auth none` and once with the default token auth. Requests go out over
 * bare sockets, exactly as written: paths x methods, then seeded random mixes of odd headers (ranges, framing,
 * credentials, Host), bodies and request targets.
 *
 * Fails on any 5xx, on a request with no status line within its deadline, on the connection closing unanswered
 * where the request was well-formed, on the process exiting, and on any error-level log line (a client's mistake
 * is not the server's error). Deterministic: the cases come from a seeded generator (BERTH_FUZZ_SEED to explore).
 */

const seed = Number(process.env.BERTH_FUZZ_SEED ?? 0xb3e7);
/** Random mixes per server, on top of the full paths x methods grid. */
const randomCasesPerServer = 2500;
/**
 * One request at a time, so every run sends the same requests in the same order against the same state: a
 * failure replays exactly. (Concurrent requests on one resource are a race test's job, not this one's.)
 */
const concurrency = 1;
/** Per request. Generous: the machine running the suite may be busy; a real hang is forever. */
const requestDeadlineMs = 15_000;
const errorLevel = 50;

/** mulberry32: small, fast and reproducible, which is all a fuzz case generator needs. */
function createRandom(initial: number) {
  let state = initial >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (max: number) => Math.floor(next() * max),
    pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T,
    chance: (p: number) => next() < p,
  };
}
type Random = ReturnType<typeof createRandom>;

const sha256 = (bytes: Uint8Array) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/** What a server under fuzz holds: real digests, a real upload session, credentials that work. */
interface Target {
  readonly name: string;
  readonly berth: BerthProcess;
  readonly port: number;
  /** `Authorization` values that the server accepts (empty for --auth none, where none is needed). */
  readonly goodAuthorizations: readonly string[];
  /** `Cookie: berth_admin=...` of a signed-in admin session. */
  readonly sessionCookie: string;
  readonly configDigest: string;
  readonly layerDigest: string;
  readonly manifestDigest: string;
  readonly uploadPath: string;
  /** An image the fuzz never names: afterwards it must still be served byte for byte. */
  readonly kept: { path: string; bytes: Buffer; authorization?: string };
}

/** One request, as bytes, and whether closing the connection unanswered is an acceptable reply. */
interface FuzzCase {
  readonly label: string;
  readonly bytes: Buffer;
  /** Broken framing (bad Content-Length, bad chunks, a body cut short): a server may just hang up. */
  readonly mayClose: boolean;
  /** The body is cut short: the client ends its side, so the server stops waiting for the rest. */
  readonly truncated: boolean;
}

async function seedImage(base: string, repo: string, tag: string, authorization?: string) {
  const headers = authorization ? { authorization } : undefined;
  const pushBlob = async (bytes: Buffer): Promise<string> => {
    const digest = sha256(bytes);
    const response = await fetch(`${base}/v2/${repo}/blobs/uploads/?digest=${digest}`, { method: 'POST', headers, body: bytes });
    assert.equal(response.status, 201, `seed blob into ${repo}: ${await response.text()}`);
    return digest;
  };
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
  const layer = Buffer.from(`layer of ${repo}`);
  const configDigest = await pushBlob(config);
  const layerDigest = await pushBlob(layer);
  const mediaType = 'application/vnd.oci.image.manifest.v1+json';
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layerDigest, size: layer.length }],
    }),
  );
  const put = await fetch(`${base}/v2/${repo}/manifests/${tag}`, { method: 'PUT', headers: { ...headers, 'content-type': mediaType }, body: manifest });
  assert.equal(put.status, 201, `seed manifest ${repo}:${tag}: ${await put.text()}`);
  return { configDigest, layerDigest, manifestDigest: sha256(manifest), manifest };
}

async function prepare(t: TestContext, name: string, auth: 'none' | 'default'): Promise<Target> {
  const dataDir = await makeTempDir(t, `berth-fuzz-${auth}-`);
  // The default server is started without --auth, so it runs exactly what a user gets.
  const berth = await startBerth(auth === 'none' ? { dataDir, auth: 'none' } : { dataDir, auth: null, tlsListen: '127.0.0.1:0' });
  t.after(() => berth.stop('SIGKILL'));
  const base = berth.url;
  const sessionCookie = await signInAsAdmin(berth);
  const goodAuthorizations: string[] = [];
  if (auth === 'default') {
    const token = await createAccessToken(berth, sessionCookie, 'fuzz', ['*:pull,push,delete']);
    goodAuthorizations.push(`Basic ${Buffer.from(`fuzz:${token}`).toString('base64')}`);
    const scope = 'repository:team/app:pull,push,delete repository:keep/app:pull';
    const issued = await fetch(`${base}/token?service=berth&scope=${encodeURIComponent(scope)}`, { headers: { authorization: goodAuthorizations[0] as string } });
    assert.equal(issued.status, 200);
    goodAuthorizations.push(`Bearer ${((await issued.json()) as { token: string }).token}`);
  }
  const authorization = goodAuthorizations[0];
  const image = await seedImage(base, 'team/app', '1', authorization);
  const kept = await seedImage(base, 'keep/app', 'v1', authorization);
  const upload = await fetch(`${base}/v2/team/app/blobs/uploads/`, { method: 'POST', headers: authorization ? { authorization } : undefined });
  assert.equal(upload.status, 202);
  const uploadPath = upload.headers.get('location') ?? '';
  assert.match(uploadPath, /^\/v2\/team\/app\/blobs\/uploads\/[^/]+$/);
  return {
    name,
    berth,
    port: Number(new URL(base).port),
    goodAuthorizations,
    sessionCookie,
    ...image,
    uploadPath,
    kept: { path: `/v2/keep/app/manifests/v1`, bytes: kept.manifest, authorization },
  };
}

/** Request targets on every mount, real and absurd. */
function targetsFor(target: Target): string[] {
  const { configDigest, layerDigest, manifestDigest, uploadPath, port } = target;
  const badDigests = ['sha256:zz', 'sha256:', `sha256:${'a'.repeat(63)}`, `md5:${'a'.repeat(32)}`, 'sha256%3A' + 'f'.repeat(64), `sha512:${'a'.repeat(128)}`, ':', '%00'];
  return [
    // registry
    '/v2',
    '/v2/',
    '/v2/_catalog',
    '/v2/_catalog?n=-1',
    '/v2/_catalog?n=abc&last=%00',
    '/v2/_catalog?n=99999999999999999999999',
    '/v2/team/app/manifests/1',
    '/v2/team/app/manifests/latest',
    `/v2/team/app/manifests/${manifestDigest}`,
    '/v2/team/app/manifests/.INVALID_MANIFEST_NAME',
    `/v2/team/app/manifests/${'t'.repeat(300)}`,
    '/v2/team/app/manifests/%2e%2e',
    '/v2/team/app/manifests/',
    `/v2/team/app/blobs/${configDigest}`,
    `/v2/team/app/blobs/${layerDigest}`,
    ...badDigests.map((digest) => `/v2/team/app/blobs/${digest}`),
    ...badDigests.slice(0, 4).map((digest) => `/v2/team/app/manifests/${digest}`),
    '/v2/team/app/blobs/uploads/',
    `/v2/team/app/blobs/uploads/?digest=${layerDigest}`,
    '/v2/team/app/blobs/uploads/?digest=sha256:bad',
    `/v2/team/app/blobs/uploads/?mount=${configDigest}&from=keep/app`,
    `/v2/team/app/blobs/uploads/?mount=${configDigest}&from=..%2F..%2Fetc`,
    '/v2/team/app/blobs/uploads/?mount=bad&from=',
    uploadPath,
    `${uploadPath}?digest=${layerDigest}`,
    `${uploadPath}?digest=sha256:nope`,
    '/v2/team/app/blobs/uploads/not-a-uuid',
    `/v2/team/app/blobs/uploads/${randomUUIDFrom(port)}`,
    '/v2/team/app/blobs/uploads/..%2f..%2f..%2fetc%2fpasswd',
    '/v2/team/app/blobs/uploads/%00',
    '/v2/team/app/tags/list',
    '/v2/team/app/tags/list?n=0',
    '/v2/team/app/tags/list?n=-5&last=zzz',
    `/v2/team/app/referrers/${manifestDigest}`,
    `/v2/team/app/referrers/${manifestDigest}?artifactType=%ff`,
    '/v2/team/app/referrers/sha256:bad',
    '/v2/../../etc/passwd',
    '/v2/%2e%2e/%2e%2e/etc/manifests/1',
    '/v2/UPPER/Case/manifests/1',
    '/v2/a//b/manifests/1',
    `/v2/${'a/'.repeat(150)}manifests/x`,
    `/v2/${'n'.repeat(5000)}/tags/list`,
    '/v2/team/app%00/manifests/1',
    '/v2/team/app/manifests/1%00',
    '/v2/hub/library/busybox/manifests/latest',
    '/v2/team/app/not-an-endpoint',
    // token service
    '/token',
    '/token?service=berth&scope=bad',
    '/token?scope=repository:team/app:pull',
    '/token?scope=repository::&scope=registry:catalog:*',
    `/token?scope=repository:${'x'.repeat(3000)}:pull`,
    '/token?scope=%ff%fe&service=%00',
    '/token/x',
    // metrics
    '/metrics',
    '/metrics/x',
    // admin API
    '/api/health',
    '/api/overview',
    '/api/tokens',
    '/api/tokens/%ff',
    '/api/tokens/..%2F..%2Fsettings',
    '/api/repositories?limit=-1&offset=abc',
    '/api/repositories/team%2Fapp',
    '/api/tags?repository=team/app',
    '/api/manifests?repository=team/app&reference=%00',
    '/api/namespaces/team',
    '/api/upstreams/%2e%2e',
    '/api/sync-rules/x/run',
    '/api/jobs?limit=99999999999',
    '/api/settings',
    '/api/audit?limit=-1',
    '/api/audit/export?from=garbage',
    '/api/storage',
    '/api/ca.crt',
    '/api/trust',
    '/api/events',
    '/api/no-such-route',
    '/api',
    // GUI and the rest
    '/ui',
    '/ui/',
    '/ui/images/team/app',
    '/ui/assets/missing.js',
    '/ui/favicon.svg',
    '/ui/../../etc/passwd',
    '/ui/%2e%2e/%2e%2e/etc/passwd',
    '/ui/%00',
    '/ui/signin',
    '/ui/signin?code=bad',
    `/ui/signin?code=${'A'.repeat(4000)}`,
    '/',
    '/favicon.ico',
    '/robots.txt',
    '//',
    '/%',
    '/%zz',
    `/${'p'.repeat(8000)}`,
    // request targets that are not origin-form
    '*',
    `http://127.0.0.1:${port}/v2/`,
    `http://evil.example/v2/team/app/manifests/1`,
    `HTTP://127.0.0.1:${port}/token?scope=bad`,
    `https://127.0.0.1:${port}/api/overview`,
    'ftp://127.0.0.1/v2/',
  ];
}

/** A fixed-looking but well-formed upload id that no session has. */
function randomUUIDFrom(port: number): string {
  return `00000000-0000-4000-8000-${String(port).padStart(12, '0')}`;
}

const methods = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE', 'PROPFIND', 'BREW'];

/** How a case frames its body. `mayClose` marks framing a server may refuse by hanging up. */
interface Framing {
  readonly label: string;
  readonly headers: (body: Buffer) => string[];
  readonly encode?: (body: Buffer) => Buffer;
  readonly mayClose?: boolean;
  /** Fewer body bytes than announced. */
  readonly truncated?: boolean;
}

const chunked = (body: Buffer) => Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`), body, Buffer.from('\r\n0\r\n\r\n')]);
const framings: readonly Framing[] = [
  { label: 'content-length', headers: (body) => (body.length > 0 ? [`Content-Length: ${body.length}`] : []) },
  { label: 'chunked', headers: () => ['Transfer-Encoding: chunked'], encode: chunked },
  { label: 'chunked, bad chunk size', headers: () => ['Transfer-Encoding: chunked'], encode: (body) => Buffer.concat([Buffer.from('zz\r\n'), body, Buffer.from('\r\n0\r\n\r\n')]), mayClose: true },
  { label: 'chunked, never terminated', headers: () => ['Transfer-Encoding: chunked'], encode: (body) => Buffer.concat([Buffer.from(`${(body.length + 1).toString(16)}\r\n`), body]), mayClose: true, truncated: true },
  { label: 'gzip, chunked', headers: () => ['Transfer-Encoding: gzip, chunked'], encode: chunked, mayClose: true },
  { label: 'identity TE', headers: () => ['Transfer-Encoding: identity'], mayClose: true },
  { label: 'chunked twice', headers: () => ['Transfer-Encoding: chunked', 'Transfer-Encoding: chunked'], encode: chunked, mayClose: true },
  { label: 'chunked and content-length', headers: (body) => ['Transfer-Encoding: chunked', `Content-Length: ${body.length}`], encode: chunked, mayClose: true },
  { label: 'negative length', headers: () => ['Content-Length: -1'], mayClose: true },
  { label: 'length not a number', headers: () => ['Content-Length: abc'], mayClose: true },
  { label: 'length 1e3', headers: () => ['Content-Length: 1e3'], mayClose: true },
  { label: 'two lengths', headers: (body) => [`Content-Length: ${body.length}`, `Content-Length: ${body.length + 5}`], mayClose: true },
  { label: 'length overflow', headers: () => ['Content-Length: 99999999999999999999999'], mayClose: true },
  { label: 'length larger than body', headers: (body) => [`Content-Length: ${body.length + 10}`], mayClose: true, truncated: true },
  { label: 'length 10 GB, body cut short', headers: () => ['Content-Length: 10737418240'], mayClose: true, truncated: true },
  { label: 'length 0 with bytes after', headers: () => ['Content-Length: 0'], mayClose: true },
];

/** Extra header lines, some of which are themselves malformed (those may be refused by hanging up). */
function headerVariants(target: Target): ReadonlyArray<{ label: string; lines: string[]; mayClose?: boolean }> {
  const credentials = [
    ...target.goodAuthorizations.map((value, i) => ({ label: `good credentials ${i}`, lines: [`Authorization: ${value}`] })),
    { label: 'admin session', lines: [`Cookie: ${target.sessionCookie}`, 'X-Berth-Admin: 1'] },
  ];
  return [
    ...credentials,
    ...credentials,
    { label: 'basic garbage', lines: ['Authorization: Basic !!!'] },
    { label: 'basic without colon', lines: [`Authorization: Basic ${Buffer.from('nocolon').toString('base64')}`] },
    { label: 'basic wrong token', lines: [`Authorization: Basic ${Buffer.from(`fuzz:berth_${'A'.repeat(43)}`).toString('base64')}`] },
    { label: 'bearer garbage', lines: ['Authorization: Bearer a.b.c'] },
    { label: 'bearer empty', lines: ['Authorization: Bearer'] },
    { label: 'bearer not base64', lines: ['Authorization: Bearer %%%.%%%.%%%'] },
    { label: 'other scheme', lines: ['Authorization: Negotiate YIIB'] },
    { label: 'cookie garbage', lines: ['Cookie: berth_admin=AAAA; berth_admin=; =x', 'X-Berth-Admin: 1'] },
    { label: 'range first byte', lines: ['Range: bytes=0-0'] },
    { label: 'range suffix', lines: ['Range: bytes=-1'] },
    { label: 'range suffix zero', lines: ['Range: bytes=-0'] },
    { label: 'range huge', lines: ['Range: bytes=99999999999999999999999-'] },
    { label: 'range reversed', lines: ['Range: bytes=5-2'] },
    { label: 'range negative', lines: ['Range: bytes=--1'] },
    { label: 'range garbage', lines: ['Range: bytes=abc'] },
    { label: 'range multi', lines: ['Range: bytes=0-1,2-3'] },
    { label: 'range other unit', lines: ['Range: items=0-1'] },
    { label: 'content-range', lines: ['Content-Range: 0-0'] },
    { label: 'content-range garbage', lines: ['Content-Range: bytes */*'] },
    { label: 'content-range huge', lines: ['Content-Range: 99999999999999999999-0'] },
    { label: 'content-range negative', lines: ['Content-Range: -5--1'] },
    { label: 'manifest type', lines: ['Content-Type: application/vnd.oci.image.manifest.v1+json'] },
    { label: 'index type', lines: ['Content-Type: application/vnd.docker.distribution.manifest.list.v2+json'] },
    { label: 'json type', lines: ['Content-Type: application/json'] },
    { label: 'form type', lines: ['Content-Type: application/x-www-form-urlencoded'] },
    { label: 'type garbage', lines: ['Content-Type: ;;;/;'] },
    { label: 'type long', lines: [`Content-Type: application/${'x'.repeat(4000)}`] },
    { label: 'accept odd', lines: ['Accept: */*;q=abc, text/html;level=1;;'] },
    { label: 'if-none-match', lines: ['If-None-Match: *'] },
    { label: 'if-none-match digest', lines: [`If-None-Match: "${target.manifestDigest}"`] },
    { label: 'expect continue', lines: ['Expect: 100-continue'] },
    { label: 'expect garbage', lines: ['Expect: teapot'] },
    { label: 'upgrade', lines: ['Connection: Upgrade', 'Upgrade: websocket'] },
    { label: 'many headers', lines: Array.from({ length: 150 }, (_, i) => `X-Fuzz-${i}: ${i}`) },
    { label: 'header 20 KB', lines: [`X-Big: ${'b'.repeat(20_000)}`] },
    { label: 'header with NUL', lines: ['X-Nul: a\u0000b'], mayClose: true },
    { label: 'header name with space', lines: ['Bad Header: x'], mayClose: true },
    { label: 'folded header', lines: ['X-Folded: a', ' b'], mayClose: true },
    { label: 'non-ascii header', lines: ['X-Utf8: \u00e9\u00e8'] },
  ];
}

const bodies: ReadonlyArray<{ label: string; bytes: (target: Target) => Buffer }> = [
  { label: 'no body', bytes: () => Buffer.alloc(0) },
  { label: 'no body', bytes: () => Buffer.alloc(0) },
  { label: 'half a JSON', bytes: () => Buffer.from('{"schemaVersion":') },
  { label: 'empty JSON', bytes: () => Buffer.from('{}') },
  { label: 'JSON null', bytes: () => Buffer.from('null') },
  { label: 'JSON array', bytes: () => Buffer.from('[1,2,3]') },
  {
    label: 'manifest of unknown blobs',
    bytes: () =>
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${'0'.repeat(64)}`, size: 2 },
          layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: 'sha256:bad', size: -1 }],
          subject: { digest: 'nope', size: 'x' },
        }),
      ),
  },
  { label: 'token form', bytes: (target) => Buffer.from(`grant_type=password&username=fuzz&password=${encodeURIComponent(target.goodAuthorizations[0] ?? 'x')}&scope=repository%3Ateam%2Fapp%3Apull`) },
  { label: 'NUL bytes', bytes: () => Buffer.alloc(64) },
  { label: 'binary 64 KiB', bytes: () => Buffer.from(Array.from({ length: 65_536 }, (_, i) => (i * 131 + 7) & 0xff)) },
  { label: 'zeros 1 MiB', bytes: () => Buffer.alloc(1024 * 1024) },
];

function requestBytes(method: string, requestTarget: string, version: string, lines: readonly string[], body: Buffer): Buffer {
  const head = [`${method} ${requestTarget} HTTP/${version}`, ...lines, 'Connection: close', '', ''].join('\r\n');
  return Buffer.concat([Buffer.from(head, 'latin1'), body]);
}

function buildCases(target: Target, random: Random): FuzzCase[] {
  const host = `Host: 127.0.0.1:${target.port}`;
  const targets = targetsFor(target);
  const variants = headerVariants(target);
  const cases: FuzzCase[] = [];
  // The grid: every target with every method, plainly.
  for (const requestTarget of targets) {
    for (const method of methods) {
      cases.push({ label: `${method} ${requestTarget.slice(0, 80)}`, bytes: requestBytes(method, requestTarget, '1.1', [host], Buffer.alloc(0)), mayClose: false, truncated: false });
    }
  }
  // The mixes: a target, a method, one to three header variants, a body and its framing, sometimes HTTP/1.0 or no Host.
  for (let i = 0; i < randomCasesPerServer; i++) {
    const requestTarget = random.pick(targets);
    const method = random.pick(methods);
    const chosen = Array.from({ length: 1 + random.int(3) }, () => random.pick(variants));
    const body = random.pick(bodies);
    const bodyBytes = body.bytes(target);
    const framing = random.chance(0.6) ? (framings[0] as Framing) : random.pick(framings);
    const version = random.chance(0.1) ? '1.0' : '1.1';
    const hostLines = random.chance(0.05) ? [] : random.chance(0.05) ? ['Host: [::1'] : [host];
    const lines = [...hostLines, ...chosen.flatMap((variant) => variant.lines), ...framing.headers(bodyBytes)];
    const label = `${method} ${requestTarget.slice(0, 80)} HTTP/${version} [${chosen.map((v) => v.label).join(', ')}] ${body.label} (${framing.label})${hostLines.length === 1 && hostLines[0] === host ? '' : ' odd Host'}`;
    cases.push({
      label,
      bytes: requestBytes(method, requestTarget, version, lines, framing.encode ? framing.encode(bodyBytes) : bodyBytes),
      mayClose: Boolean(framing.mayClose) || chosen.some((variant) => variant.mayClose),
      truncated: Boolean(framing.truncated),
    });
  }
  return cases;
}

function verdict(testCase: FuzzCase, outcome: RawOutcome): string | undefined {
  if (outcome.kind === 'timeout') return `no status line within ${requestDeadlineMs} ms`;
  // A server may answer before reading a large body and hang up: the reset can then wipe its answer off our socket.
  if (outcome.kind === 'closed') return testCase.mayClose || outcome.whileSending ? undefined : `closed without an answer (${outcome.detail})`;
  if (outcome.status >= 500) return `answered ${outcome.statusLine}`;
  return undefined;
}

async function fuzz(t: TestContext, target: Target): Promise<void> {
  const random = createRandom(seed ^ (target.name === 'open' ? 0 : 0x5eed));
  const cases = buildCases(target, random);
  const failures: string[] = [];
  const statuses = new Map<string, number>();
  let exited: string | undefined;
  void target.berth.exited.then((info) => {
    exited = `berth serve exited (code ${info.code ?? 'none'}, signal ${info.signal ?? 'none'})`;
  });
  const started = Date.now();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < cases.length && exited === undefined) {
      const testCase = cases[next++] as FuzzCase;
      const outcome = await rawHttpExchange('127.0.0.1', target.port, testCase.bytes, { timeoutMs: requestDeadlineMs, halfClose: testCase.truncated });
      const key = outcome.kind === 'answered' ? String(outcome.status) : outcome.kind;
      statuses.set(key, (statuses.get(key) ?? 0) + 1);
      const problem = verdict(testCase, outcome);
      if (problem) failures.push(`${testCase.label}: ${problem}`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (Date.now() - started) / 1000;
  const tally = [...statuses].sort(([a], [b]) => a.localeCompare(b)).map(([status, count]) => `${status}×${count}`).join(' ');
  t.diagnostic(`${target.name}: ${cases.length} requests in ${seconds.toFixed(1)} s (seed ${seed}): ${tally}`);

  const logs = target.berth.logs().slice(-4000);
  assert.equal(exited, undefined, `${exited}\n--- logs ---\n${logs}`);
  const errorLines = target.berth.logLines().filter((line) => typeof line.level === 'number' && line.level >= errorLevel);
  const errorText = errorLines.slice(0, 5).map((line) => JSON.stringify(line).slice(0, 1500)).join('\n');
  assert.deepEqual(failures.slice(0, 25), [], `${failures.length} of ${cases.length} requests failed (seed ${seed})\n--- error log lines ---\n${errorText}`);

  // Still up, still serving what it held, and nothing it was sent counted as its own error.
  const alive = await fetch(`${target.berth.url}${target.kept.path}`, {
    headers: { accept: 'application/vnd.oci.image.manifest.v1+json', ...(target.kept.authorization ? { authorization: target.kept.authorization } : {}) },
  });
  assert.equal(alive.status, 200, 'the image the fuzz never named is still served');
  assert.deepEqual(Buffer.from(await alive.arrayBuffer()), target.kept.bytes);
  assert.equal(errorText, '', 'no request logged an error: a client mistake is a 4xx, not a server fault');
}

test('fuzz: odd requests to every mount of berth serve --auth none: no 5xx, no hang, no exit', { timeout: 120_000 }, async (t) => {
  await fuzz(t, await prepare(t, 'open', 'none'));
});

test('fuzz: odd requests to every mount of berth serve with default token auth: no 5xx, no hang, no exit', { timeout: 120_000 }, async (t) => {
  await fuzz(t, await prepare(t, 'token', 'default'));
});
