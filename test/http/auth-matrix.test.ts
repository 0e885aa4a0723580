import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { createToken, revokeToken } from '../../registry/auth/index.js';
import { startBerth, type Berth } from '../../registry/berth-server.js';
import { silentLogger } from '../../registry/log.js';
import {
  call,
  createAddressPool,
  decodeJwt,
  errorCodesOf,
  fetchBearer,
  parseBearerChallenge,
  type CallResult,
  type Credentials,
} from '../support/registry-auth.js';
import { createTempDir, removeDir } from '../support/temp-dir.js';

/**
 * The access-control matrix of an authenticated Berth: every identity × credential scheme × namespace ×
 * endpoint, each cell checked against a table of what the identity may do. Berth runs in-process with
 * `auth: 'token'`. The matrix refuses each dead token dozens of times on purpose, so the failure limit (which
 * counts per token; tested with its defaults in test/security/credential-lockout.test.ts and
 * test/e2e/auth-tls.test.ts) is raised out of its way, and every request comes from its own loopback source address.
 */

type Action = 'pull' | 'push' | 'delete';
type Namespace = 'alpha' | 'beta';
type IdentityName = 'anonymous' | 'alpha-reader' | 'alpha-writer' | 'alpha-admin' | 'all-reader' | 'expired' | 'revoked';
/** basic: Basic credentials straight to /v2 (none for anonymous); bearer: a JWT for exactly the scopes the request
 * needs, from GET /token; bearer-unscoped: a valid JWT that was granted nothing. */
type Scheme = 'basic' | 'bearer' | 'bearer-unscoped';

interface Identity {
  /** Scopes of its access token; none for anonymous. */
  readonly scopes?: readonly string[];
  /** Whether its credentials are still good. */
  readonly status: 'none' | 'active' | 'expired' | 'revoked';
  /** What it may do per namespace: the expectation every cell is checked against. */
  readonly may: Readonly<Record<Namespace, readonly Action[]>>;
}

/*
 * Beta allows anonymous pull, and an access token never has less than anonymous: every token may pull from beta.
 * Expired and revoked tokens carry full scopes, so any success they got would be the credential check failing.
 */
const identities: Readonly<Record<IdentityName, Identity>> = {
  anonymous: { status: 'none', may: { alpha: [], beta: ['pull'] } },
  'alpha-reader': { scopes: ['alpha/*:pull'], status: 'active', may: { alpha: ['pull'], beta: ['pull'] } },
  'alpha-writer': { scopes: ['alpha/*:pull,push'], status: 'active', may: { alpha: ['pull', 'push'], beta: ['pull'] } },
  'alpha-admin': { scopes: ['alpha/*:pull,push,delete'], status: 'active', may: { alpha: ['pull', 'push', 'delete'], beta: ['pull'] } },
  'all-reader': { scopes: ['*:pull'], status: 'active', may: { alpha: ['pull'], beta: ['pull'] } },
  expired: { scopes: ['*:pull,push,delete'], status: 'expired', may: { alpha: [], beta: [] } },
  revoked: { scopes: ['*:pull,push,delete'], status: 'revoked', may: { alpha: [], beta: [] } },
};

const namespaces: readonly Namespace[] = ['alpha', 'beta'];
const schemes: readonly Scheme[] = ['basic', 'bearer', 'bearer-unscoped'];
const otherNamespace = (ns: Namespace): Namespace => (ns === 'alpha' ? 'beta' : 'alpha');
const repoOf = (ns: Namespace) => `${ns}/app`;

const ociManifest = 'application/vnd.oci.image.manifest.v1+json';
const sha256 = (bytes: Uint8Array) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/** What was pushed into each repository before the matrix runs. */
interface Seeded {
  manifestBytes: Buffer;
  manifestDigest: string;
  layerDigest: string;
  layerBytes: Buffer;
  artifactDigest: string;
}

/** The request a cell makes, built by an endpoint (after any setup it needs, done with the root token). */
interface Probe {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: Uint8Array;
  /** Extra scopes a Docker client would ask /token for (mount asks for pull on the source). */
  extraScopes?: string[];
  /** Success status, when it depends on the identity (mount: 201 or 202). */
  ok?: number;
  /** After a success: what the answer must show, as a failure message (undefined when fine). */
  verify?: (result: CallResult) => Promise<string | undefined> | string | undefined;
  /** After a refusal: what must not have happened, as a failure message. */
  unchanged?: () => Promise<string | undefined>;
}

interface Endpoint {
  readonly name: string;
  /** The actions the route needs on the repository in the path (the table in registry/http/distribution-api.ts). */
  readonly needs: readonly Action[];
  readonly ok: number;
  readonly probe: (ctx: CellContext) => Promise<Probe>;
}

interface CellContext {
  readonly repo: string;
  readonly ns: Namespace;
  readonly identity: Identity;
  readonly seeded: Seeded;
}

let berth: Berth;
let dataDir: string;
let base: string;
const secrets = new Map<IdentityName | 'root', string>();
const seeded = new Map<Namespace, Seeded>();
const nextAddress = createAddressPool(1);
let counter = 0;
const unique = (prefix: string) => `${prefix}-${(counter += 1)}`;

function credentialsOf(name: IdentityName | 'root'): Credentials {
  const secret = secrets.get(name);
  return secret ? { kind: 'basic', username: name, password: secret } : { kind: 'none' };
}

/** A request from a fresh source address. */
function send(method: string, path: string, options: { credentials?: Credentials; headers?: Record<string, string>; body?: Uint8Array } = {}) {
  return call(method, `${base}${path}`, { ...options, localAddress: nextAddress() });
}

/** Setup and verification with the all-powerful root token; anything but `expected` fails the test at once. */
async function root(method: string, path: string, expected: number, options: { headers?: Record<string, string>; body?: Uint8Array } = {}) {
  const result = await send(method, path, { ...options, credentials: credentialsOf('root') });
  assert.equal(result.status, expected, `setup ${method} ${path} -> ${result.status} ${result.text.slice(0, 300)}`);
  return result;
}

async function rootPushBlob(repo: string, bytes: Uint8Array): Promise<string> {
  const digest = sha256(bytes);
  await root('POST', `/v2/${repo}/blobs/uploads/?digest=${encodeURIComponent(digest)}`, 201, { body: bytes });
  return digest;
}

async function rootStartUpload(repo: string): Promise<string> {
  const started = await root('POST', `/v2/${repo}/blobs/uploads/`, 202);
  const location = started.headers.location;
  assert.ok(location, 'upload session without Location');
  return new URL(location, base).pathname;
}

async function rootStatus(method: string, path: string): Promise<number> {
  return (await send(method, path, { credentials: credentialsOf('root') })).status;
}

async function seed(repo: string): Promise<Seeded> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, nonce: randomBytes(8).toString('hex') }));
  const layerBytes = randomBytes(700);
  const configDigest = await rootPushBlob(repo, config);
  const layerDigest = await rootPushBlob(repo, layerBytes);
  const manifestBytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: ociManifest,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layerDigest, size: layerBytes.length }],
    }),
  );
  await root('PUT', `/v2/${repo}/manifests/v1`, 201, { headers: { 'content-type': ociManifest }, body: manifestBytes });
  const manifestDigest = sha256(manifestBytes);

  // An artifact (an SBOM, say) whose subject is the image, for the referrers API.
  const empty = Buffer.from('{}');
  const emptyDigest = await rootPushBlob(repo, empty);
  const sbom = randomBytes(64);
  const sbomDigest = await rootPushBlob(repo, sbom);
  const artifact = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: ociManifest,
      artifactType: 'application/vnd.example.sbom',
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: emptyDigest, size: 2 },
      layers: [{ mediaType: 'application/octet-stream', digest: sbomDigest, size: sbom.length }],
      subject: { mediaType: ociManifest, digest: manifestDigest, size: manifestBytes.length },
    }),
  );
  const artifactDigest = sha256(artifact);
  await root('PUT', `/v2/${repo}/manifests/${artifactDigest}`, 201, { headers: { 'content-type': ociManifest }, body: artifact });
  return { manifestBytes, manifestDigest, layerDigest, layerBytes, artifactDigest };
}

const upload = { 'content-type': 'application/octet-stream' };

const endpoints: readonly Endpoint[] = [
  {
    name: 'manifest GET',
    needs: ['pull'],
    ok: 200,
    probe: async ({ repo, seeded: s }) => ({
      method: 'GET',
      path: `/v2/${repo}/manifests/v1`,
      headers: { accept: ociManifest },
      verify: (r) => (r.body.equals(s.manifestBytes) ? undefined : 'served other bytes than were pushed'),
    }),
  },
  {
    name: 'manifest HEAD',
    needs: ['pull'],
    ok: 200,
    probe: async ({ repo, seeded: s }) => ({
      method: 'HEAD',
      path: `/v2/${repo}/manifests/v1`,
      headers: { accept: ociManifest },
      verify: (r) => (r.headers['docker-content-digest'] === s.manifestDigest ? undefined : `digest header ${String(r.headers['docker-content-digest'])}`),
    }),
  },
  {
    name: 'manifest PUT',
    needs: ['pull', 'push'],
    ok: 201,
    probe: async ({ repo, seeded: s }) => {
      const tag = unique('put');
      return {
        method: 'PUT',
        path: `/v2/${repo}/manifests/${tag}`,
        headers: { 'content-type': ociManifest },
        body: s.manifestBytes,
        unchanged: async () => ((await rootStatus('HEAD', `/v2/${repo}/manifests/${tag}`)) === 404 ? undefined : `refused PUT still created tag ${tag}`),
      };
    },
  },
  {
    name: 'manifest DELETE',
    needs: ['delete'],
    ok: 202,
    probe: async ({ repo, seeded: s }) => {
      const tag = unique('del');
      await root('PUT', `/v2/${repo}/manifests/${tag}`, 201, { headers: { 'content-type': ociManifest }, body: s.manifestBytes });
      return {
        method: 'DELETE',
        path: `/v2/${repo}/manifests/${tag}`,
        verify: async () => ((await rootStatus('HEAD', `/v2/${repo}/manifests/${tag}`)) === 404 ? undefined : 'tag still there after 202'),
        unchanged: async () => ((await rootStatus('HEAD', `/v2/${repo}/manifests/${tag}`)) === 200 ? undefined : `refused DELETE removed tag ${tag}`),
      };
    },
  },
  {
    name: 'blob GET',
    needs: ['pull'],
    ok: 200,
    probe: async ({ repo, seeded: s }) => ({
      method: 'GET',
      path: `/v2/${repo}/blobs/${s.layerDigest}`,
      verify: (r) => (r.body.equals(s.layerBytes) ? undefined : 'served other bytes than were pushed'),
    }),
  },
  {
    name: 'blob HEAD',
    needs: ['pull'],
    ok: 200,
    probe: async ({ repo, seeded: s }) => ({ method: 'HEAD', path: `/v2/${repo}/blobs/${s.layerDigest}` }),
  },
  {
    name: 'blob DELETE',
    needs: ['delete'],
    ok: 202,
    probe: async ({ repo }) => {
      const digest = await rootPushBlob(repo, randomBytes(32));
      return {
        method: 'DELETE',
        path: `/v2/${repo}/blobs/${digest}`,
        unchanged: async () => ((await rootStatus('HEAD', `/v2/${repo}/blobs/${digest}`)) === 200 ? undefined : 'refused DELETE removed the blob'),
      };
    },
  },
  {
    name: 'upload POST',
    needs: ['pull', 'push'],
    ok: 202,
    probe: async ({ repo }) => ({
      method: 'POST',
      path: `/v2/${repo}/blobs/uploads/`,
      verify: (r) => (r.headers.location?.startsWith(`/v2/${repo}/blobs/uploads/`) ? undefined : `Location ${String(r.headers.location)}`),
    }),
  },
  {
    name: 'upload PATCH',
    needs: ['pull', 'push'],
    ok: 202,
    probe: async ({ repo }) => {
      const session = await rootStartUpload(repo);
      return { method: 'PATCH', path: session, headers: { ...upload, 'content-range': '0-9' }, body: randomBytes(10) };
    },
  },
  {
    name: 'upload PUT',
    needs: ['pull', 'push'],
    ok: 201,
    probe: async ({ repo }) => {
      const session = await rootStartUpload(repo);
      const bytes = randomBytes(20);
      const digest = sha256(bytes);
      return {
        method: 'PUT',
        path: `${session}?digest=${encodeURIComponent(digest)}`,
        headers: upload,
        body: bytes,
        unchanged: async () => ((await rootStatus('HEAD', `/v2/${repo}/blobs/${digest}`)) === 404 ? undefined : 'refused PUT still stored the blob'),
      };
    },
  },
  {
    name: 'upload GET (status)',
    needs: ['pull', 'push'],
    ok: 204,
    probe: async ({ repo }) => ({ method: 'GET', path: await rootStartUpload(repo) }),
  },
  {
    name: 'upload DELETE (cancel)',
    needs: ['pull', 'push'],
    ok: 204,
    probe: async ({ repo }) => {
      const session = await rootStartUpload(repo);
      return { method: 'DELETE', path: session, unchanged: async () => ((await rootStatus('GET', session)) === 204 ? undefined : 'refused cancel ended the session') };
    },
  },
  {
    name: 'tags list',
    needs: ['pull'],
    ok: 200,
    probe: async ({ repo }) => ({
      method: 'GET',
      path: `/v2/${repo}/tags/list`,
      verify: (r) => ((JSON.parse(r.text) as { tags: string[] }).tags.includes('v1') ? undefined : `tags ${r.text.slice(0, 200)}`),
    }),
  },
  {
    name: 'referrers',
    needs: ['pull'],
    ok: 200,
    probe: async ({ repo, seeded: s }) => ({
      method: 'GET',
      path: `/v2/${repo}/referrers/${s.manifestDigest}`,
      verify: (r) => {
        const index = JSON.parse(r.text) as { manifests: Array<{ digest: string }> };
        return index.manifests.some((m) => m.digest === s.artifactDigest) ? undefined : `referrers lack the artifact: ${r.text.slice(0, 300)}`;
      },
    }),
  },
  {
    // Cross-repository mount into this repository from the other namespace's: 201 only when the caller may also pull
    // the source; otherwise a plain upload session (202), so that nothing of the source leaks.
    name: 'mount from the other namespace',
    needs: ['pull', 'push'],
    ok: 201,
    probe: async ({ repo, ns, identity }) => {
      const source = repoOf(otherNamespace(ns));
      const digest = await rootPushBlob(source, randomBytes(48));
      const mayPullSource = identity.may[otherNamespace(ns)].includes('pull');
      const linked = async () => rootStatus('HEAD', `/v2/${repo}/blobs/${digest}`);
      return {
        method: 'POST',
        path: `/v2/${repo}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(source)}`,
        extraScopes: [`repository:${source}:pull`],
        ok: mayPullSource ? 201 : 202,
        verify: async (r) => {
          const status = await linked();
          if (mayPullSource) return status === 200 ? undefined : `mounted (201) but the blob is not in ${repo}: HEAD ${status}`;
          if (status !== 404) return `fell back to an upload but the source blob is readable in ${repo}: HEAD ${status}`;
          return r.headers.location?.startsWith(`/v2/${repo}/blobs/uploads/`) ? undefined : `202 without a session Location: ${String(r.headers.location)}`;
        },
        unchanged: async () => ((await linked()) === 404 ? undefined : 'refused mount still linked the blob'),
      };
    },
  },
];

/** What a refused request must look like, by the gate's rules (registry/auth/access-gate.ts). */
type Refusal =
  | { status: 401; code: 'UNAUTHORIZED'; error?: 'invalid_token' | 'insufficient_scope' }
  | { status: 403; code: 'DENIED' };

function refusalFor(identity: Identity, scheme: Scheme, mayAll: boolean, anonymousMayAll: boolean): Refusal | undefined {
  if (identity.status === 'expired' || identity.status === 'revoked') return { status: 401, code: 'UNAUTHORIZED', error: 'invalid_token' };
  if (scheme === 'basic') {
    if (mayAll) return undefined;
    // No credentials at all: a challenge, so that a client knows to log in. Credentials that fall short: DENIED.
    return identity.status === 'none' ? { status: 401, code: 'UNAUTHORIZED' } : { status: 403, code: 'DENIED' };
  }
  // A bearer JWT names an identity (an anonymous one too): what it can never do is DENIED; what it could do but
  // this JWT was not granted asks for a wider JWT, unless no credentials at all would do (a token is never worse
  // than none).
  if (!mayAll) return { status: 403, code: 'DENIED' };
  if (scheme !== 'bearer-unscoped' || anonymousMayAll) return undefined;
  return { status: 401, code: 'UNAUTHORIZED', error: 'insufficient_scope' };
}

function expectedChallenge(repoScope: string | undefined, error?: string): string {
  const parts = [`realm="${base}/token"`, 'service="berth"'];
  if (repoScope) parts.push(`scope="${repoScope}"`);
  if (error) parts.push(`error="${error}"`);
  return `Bearer ${parts.join(',')}`;
}

/** Checks a response against the refusal or success expected; returns the problems found. */
async function judge(result: CallResult, refusal: Refusal | undefined, okStatus: number, probe: Probe, needScope: string | undefined): Promise<string[]> {
  const problems: string[] = [];
  if (!refusal) {
    if (result.status !== okStatus) problems.push(`expected ${okStatus}, got ${result.status} ${result.text.slice(0, 200)}`);
    else {
      const bad = await probe.verify?.(result);
      if (bad) problems.push(bad);
    }
    return problems;
  }
  if (result.status !== refusal.status) {
    problems.push(`expected ${refusal.status} ${refusal.code}, got ${result.status} ${result.text.slice(0, 200)}`);
    return problems;
  }
  if (probe.method !== 'HEAD' && !errorCodesOf(result).includes(refusal.code)) problems.push(`expected code ${refusal.code} in ${result.text.slice(0, 200)}`);
  const header = result.headers['www-authenticate'];
  if (refusal.status === 401) {
    const wanted = expectedChallenge(needScope, refusal.error);
    if (header !== wanted) problems.push(`WWW-Authenticate ${JSON.stringify(header)}, expected ${JSON.stringify(wanted)}`);
  } else if (header !== undefined) {
    problems.push(`a 403 should not challenge: WWW-Authenticate ${String(header)}`);
  }
  const changed = await probe.unchanged?.();
  if (changed) problems.push(changed);
  return problems;
}

/** The credentials a cell uses, or the /token refusal that ends the cell early. */
async function credentialsFor(name: IdentityName, scheme: Scheme, scopes: string[]): Promise<{ credentials?: Credentials; tokenRefusal?: CallResult }> {
  const basic = credentialsOf(name);
  if (scheme === 'basic') return { credentials: basic };
  const { result, jwt } = await fetchBearer(base, scheme === 'bearer' ? scopes : [], { credentials: basic, localAddress: nextAddress() });
  if (!jwt) return { tokenRefusal: result };
  return { credentials: { kind: 'bearer', jwt } };
}

before(async () => {
  dataDir = await createTempDir('berth-auth-matrix-');
  berth = await startBerth({ dataDir, logger: silentLogger(), auth: 'token', listen: '127.0.0.1:0', tlsListen: null, credentialFailureLimits: { maxFailures: 100_000 } });
  base = berth.urls.http ?? assert.fail('no HTTP listener');
  const make = async (name: IdentityName | 'root', scopes: readonly string[], extra: { expiresIn?: number; now?: Date } = {}) => {
    const { token } = await createToken(berth.state, { name, scopes, ...extra });
    secrets.set(name, token);
  };
  await make('root', ['*:pull,push,delete']);
  for (const [name, identity] of Object.entries(identities) as Array<[IdentityName, Identity]>) {
    if (!identity.scopes) continue;
    // Expired a minute ago: created 61 s in the past with a one-second life.
    if (identity.status === 'expired') await make(name, identity.scopes, { expiresIn: 1_000, now: new Date(Date.now() - 61_000) });
    else await make(name, identity.scopes);
    if (identity.status === 'revoked') await revokeToken(berth.state, name);
  }
  await berth.state.update((draft) => {
    draft.namespaces = [
      { name: 'alpha', anonymousPull: false, createdAt: new Date().toISOString() },
      { name: 'beta', anonymousPull: true, createdAt: new Date().toISOString() },
    ];
  });
  for (const ns of namespaces) seeded.set(ns, await seed(repoOf(ns)));
});

after(async () => {
  await berth?.close();
  if (dataDir) await removeDir(dataDir);
});

for (const [name, identity] of Object.entries(identities) as Array<[IdentityName, Identity]>) {
  for (const scheme of schemes) {
    test(`${name} with ${scheme === 'basic' && identity.status === 'none' ? 'no credentials' : scheme}: every endpoint in alpha/app and beta/app`, async () => {
      const failures: string[] = [];
      for (const ns of namespaces) {
        for (const endpoint of endpoints) {
          const repo = repoOf(ns);
          const cell = `${name} ${scheme} ${repo} ${endpoint.name}`;
          const probe = await endpoint.probe({ repo, ns, identity, seeded: seeded.get(ns)! });
          const needScope = `repository:${repo}:${endpoint.needs.join(',')}`;
          const mayAll = endpoint.needs.every((action) => identity.may[ns].includes(action));
          const { credentials, tokenRefusal } = await credentialsFor(name, scheme, [needScope, ...(probe.extraScopes ?? [])]);
          if (tokenRefusal) {
            // Only a dead token may be refused a JWT; /token answers it like a failed Basic login.
            const fine = identity.status !== 'active' && identity.status !== 'none' && tokenRefusal.status === 401 && /^Basic /.test(String(tokenRefusal.headers['www-authenticate']));
            if (!fine) failures.push(`${cell}: GET /token -> ${tokenRefusal.status} ${tokenRefusal.text.slice(0, 200)}`);
            continue;
          }
          if (identity.status === 'expired' || identity.status === 'revoked') {
            if (scheme !== 'basic') failures.push(`${cell}: /token issued a JWT to a ${identity.status} token`);
          }
          const result = await send(probe.method, probe.path, { credentials, headers: probe.headers, body: probe.body });
          const anonymousMayAll = endpoint.needs.every((action) => identities.anonymous.may[ns].includes(action));
          const refusal = refusalFor(identity, scheme, mayAll, anonymousMayAll);
          for (const problem of await judge(result, refusal, probe.ok ?? endpoint.ok, probe, needScope)) failures.push(`${cell}: ${problem}`);
        }
      }
      assert.deepEqual(failures, [], `${failures.length} cells failed:\n${failures.join('\n')}`);
    });
  }
}

test('catalog: exactly the repositories the caller may pull; anonymous and dead tokens are challenged', async () => {
  const failures: string[] = [];
  for (const [name, identity] of Object.entries(identities) as Array<[IdentityName, Identity]>) {
    const expected = namespaces.filter((ns) => identity.may[ns].includes('pull')).map(repoOf);
    for (const scheme of ['basic', 'bearer'] as const) {
      const cell = `${name} ${scheme} GET /v2/_catalog`;
      const { credentials, tokenRefusal } = await credentialsFor(name, scheme, ['registry:catalog:*']);
      if (tokenRefusal) {
        if (identity.status === 'active' || identity.status === 'none') failures.push(`${cell}: /token -> ${tokenRefusal.status}`);
        continue;
      }
      const result = await send('GET', '/v2/_catalog', { credentials });
      const dead = identity.status === 'expired' || identity.status === 'revoked';
      if (identity.status === 'none' && scheme === 'basic') {
        // No credentials: the catalog needs an identity, and the challenge names no repository.
        if (result.status !== 401 || result.headers['www-authenticate'] !== expectedChallenge(undefined)) {
          failures.push(`${cell}: expected 401 with a bare challenge, got ${result.status} ${String(result.headers['www-authenticate'])}`);
        }
        continue;
      }
      if (dead) {
        if (result.status !== 401 || result.headers['www-authenticate'] !== expectedChallenge(undefined, 'invalid_token')) {
          failures.push(`${cell}: expected 401 invalid_token, got ${result.status} ${String(result.headers['www-authenticate'])}`);
        }
        continue;
      }
      if (result.status !== 200) {
        failures.push(`${cell}: expected 200, got ${result.status} ${result.text.slice(0, 200)}`);
        continue;
      }
      const listed = (JSON.parse(result.text) as { repositories: string[] }).repositories;
      if (JSON.stringify(listed) !== JSON.stringify(expected)) failures.push(`${cell}: listed ${JSON.stringify(listed)}, expected ${JSON.stringify(expected)}`);
    }
  }
  assert.deepEqual(failures, [], failures.join('\n'));
});

test("a JWT's access claim is the requested scopes intersected with the token's, never more", async () => {
  const requested = [
    'repository:alpha/app:pull,push,delete',
    'repository:beta/app:*',
    'repository:gamma/app:pull',
    'registry:catalog:*',
  ];
  for (const [name, identity] of Object.entries(identities) as Array<[IdentityName, Identity]>) {
    const { result, jwt } = await fetchBearer(base, requested, { credentials: credentialsOf(name), localAddress: nextAddress() });
    if (identity.status === 'expired' || identity.status === 'revoked') {
      assert.equal(result.status, 401, `${name}: /token must refuse a ${identity.status} token`);
      assert.equal(jwt, undefined);
      continue;
    }
    assert.equal(result.status, 200, `${name}: ${result.text}`);
    assert.equal(result.headers['cache-control'], 'no-store');
    const claims = decodeJwt(jwt ?? '');
    assert.equal(claims.sub, name);
    assert.equal(claims.aud, 'berth');
    assert.ok(claims.exp - claims.iat <= 300, `${name}: a JWT lives at most five minutes`);
    const granted = Object.fromEntries(claims.access.map((entry) => [`${entry.type}:${entry.name}`, entry.actions]));
    const wanted: Record<string, readonly string[]> = {};
    for (const ns of namespaces) if (identity.may[ns].length > 0) wanted[`repository:${repoOf(ns)}`] = identity.may[ns];
    // gamma is no namespace of this test: only a `*` scope reaches it. Only such a token may list the catalog.
    if (identity.scopes?.some((scope) => scope.startsWith('*:'))) {
      wanted['repository:gamma/app'] = ['pull'];
      wanted['registry:catalog'] = ['*'];
    }
    assert.deepEqual(granted, wanted, `${name}: access claim ${JSON.stringify(claims.access)}`);
  }
});

test('POST /token: the OAuth2 password grant issues the same JWT; other grants get unsupported_grant_type', async () => {
  const form = (fields: Record<string, string>) =>
    send('POST', '/token', { headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: Buffer.from(new URLSearchParams(fields).toString()) });
  const granted = await form({
    grant_type: 'password',
    username: 'alpha-writer',
    password: secrets.get('alpha-writer') ?? '',
    service: 'berth',
    scope: 'repository:alpha/app:pull,push,delete repository:beta/app:push',
    client_id: 'containerd',
  });
  assert.equal(granted.status, 200, granted.text);
  const body = JSON.parse(granted.text) as { access_token: string; token: string; expires_in: number; scope: string };
  assert.equal(body.access_token, body.token);
  assert.ok(body.expires_in > 0 && body.expires_in <= 300);
  assert.deepEqual(decodeJwt(body.access_token).access, [{ type: 'repository', name: 'alpha/app', actions: ['pull', 'push'] }]);
  assert.equal(body.scope, 'repository:alpha/app:pull,push');
  const used = await send('HEAD', `/v2/alpha/app/manifests/v1`, { credentials: { kind: 'bearer', jwt: body.access_token } });
  assert.equal(used.status, 200);

  const refresh = await form({ grant_type: 'refresh_token', refresh_token: 'x', service: 'berth', client_id: 'containerd' });
  assert.equal(refresh.status, 400, refresh.text);
  assert.equal((JSON.parse(refresh.text) as { error: string }).error, 'unsupported_grant_type');
  const missing = await form({ username: 'x', password: 'y' });
  assert.equal(missing.status, 400);
  assert.equal((JSON.parse(missing.text) as { error: string }).error, 'invalid_request');

  const wrong = await form({ grant_type: 'password', username: 'alpha-writer', password: `berth_${'A'.repeat(43)}`, scope: 'repository:alpha/app:push' });
  assert.equal(wrong.status, 401, wrong.text);
  const revoked = await form({ grant_type: 'password', username: 'revoked', password: secrets.get('revoked') ?? '', scope: 'repository:alpha/app:pull' });
  assert.equal(revoked.status, 401, revoked.text);
});

test('a forged or foreign JWT is refused with invalid_token, whatever it claims', async () => {
  const { jwt } = await fetchBearer(base, ['repository:alpha/app:pull'], { credentials: credentialsOf('alpha-reader'), localAddress: nextAddress() });
  const [header, , signature] = (jwt ?? '').split('.');
  const claims = { ...decodeJwt(jwt ?? ''), access: [{ type: 'repository', name: 'alpha/app', actions: ['pull', 'push', 'delete'] }] };
  const forged = `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${signature}`;
  const result = await send('DELETE', '/v2/alpha/app/manifests/v1', { credentials: { kind: 'bearer', jwt: forged } });
  assert.equal(result.status, 401, result.text);
  assert.equal(parseBearerChallenge(result.headers['www-authenticate'])?.error, 'invalid_token');
  assert.equal(await rootStatus('HEAD', '/v2/alpha/app/manifests/v1'), 200, 'the forged delete did nothing');
});

test('a login (GET /v2/, /token without scope) checks the password, even one not shaped like a Berth token', async () => {
  for (const password of ['typo', `berth_${'B'.repeat(43)}`]) {
    const credentials: Credentials = { kind: 'basic', username: 'alpha-reader', password };
    const base2 = await send('GET', '/v2/', { credentials });
    assert.equal(base2.status, 401, `GET /v2/ with password ${password}: ${base2.status}`);
    const { result } = await fetchBearer(base, [], { credentials, localAddress: nextAddress() });
    assert.equal(result.status, 401, `GET /token with password ${password}: ${result.status}`);
  }
  // The foreign credentials dockerd forwards to mirrors still pull what anonymous may pull.
  const foreign: Credentials = { kind: 'basic', username: 'someone', password: 'dckr_pat_x' };
  assert.equal((await send('GET', '/v2/beta/app/tags/list', { credentials: foreign })).status, 200);
  assert.equal((await fetchBearer(base, ['repository:beta/app:pull'], { credentials: foreign, localAddress: nextAddress() })).result.status, 200);
  const ok = await send('GET', '/v2/', { credentials: credentialsOf('alpha-reader') });
  assert.equal(ok.status, 200);
});

test("a JWT dies with its token: after revocation it gets 401 invalid_token, not DENIED", async () => {
  const { token } = await createToken(berth.state, { name: 'short-lived', scopes: ['alpha/*:pull'] });
  const { jwt } = await fetchBearer(base, ['repository:alpha/app:pull'], { credentials: { kind: 'basic', username: 'x', password: token }, localAddress: nextAddress() });
  assert.ok(jwt);
  const path = '/v2/alpha/app/tags/list';
  assert.equal((await send('GET', path, { credentials: { kind: 'bearer', jwt } })).status, 200);
  await revokeToken(berth.state, 'short-lived');
  const refused = await send('GET', path, { credentials: { kind: 'bearer', jwt } });
  assert.equal(refused.status, 401, refused.text);
  assert.equal(refused.headers['www-authenticate'], expectedChallenge('repository:alpha/app:pull', 'invalid_token'));
});
