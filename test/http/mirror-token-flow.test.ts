import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createToken } from '../../registry/auth/index.js';
import { startBerth, type Berth } from '../../registry/berth-server.js';
import { silentLogger } from '../../registry/log.js';
import { addUpstream } from '../../registry/mirror/upstream-changes.js';
import { jsonBytes, makeImage, mediaTypes, sha256, type Image } from '../support/oci-client.js';
import { basicHeader, call, decodeJwt, errorCodesOf, parseBearerChallenge, type CallResult, type GrantedAccess } from '../support/registry-auth.js';
import { startRegistry, type RunningRegistry } from '../support/registry-server.js';
import { createTempDir, removeDir } from '../support/temp-dir.js';

/**
 * Docker token auth through the mirror, on a Berth with default settings (`--auth token`), replaying the exact
 * request sequences of the clients that use it as a mirror (taken from their source and from what they sent to a
 * real Berth): dockerd 20.10's registry-mirrors (pings /v2/, asks /token for the name as it knows it, with or
 * without the Docker Hub credentials of its config), containerd 1.6 with hosts.toml (`?ns=` on every request
 * but not on the token request; the challenge's scope added to its own), and podman with a registries.conf
 * mirror, with a prefix (`HOST/hub`) or at the root. Each must pull, and no token Berth hands out may make a
 * request fail that would succeed without one.
 *
 * The upstreams are one open Berth registry reached under two host names: `hub` (default, alias docker.io, open to
 * anonymous pulls, as `berth upstream add` makes it on loopback) and `corp` (alias corp.example, private).
 */

const dockerHubLogin = basicHeader('hubuser', 'dckr_pat_2b3e4f5a6b7c8d9e');

let upstream: RunningRegistry;
let busybox: Image;
let tool: Image;
let dataDir: string;
let berth: Berth;
let base: string;
const secrets = new Map<string, string>();

before(async () => {
  upstream = await startRegistry();
  busybox = await makeImage(upstream.url, 'library/busybox', { tag: 'latest', layers: 2, docker: true });
  tool = await makeImage(upstream.url, 'team/tool', { tag: '1' });

  dataDir = await createTempDir('berth-token-flow-');
  berth = await startBerth({ dataDir, logger: silentLogger(), listen: '127.0.0.1:0', tlsListen: null });
  base = berth.urls.http ?? assert.fail('no HTTP listener');
  const port = new URL(upstream.url).port;
  const seal = (plain: string) => plain;
  await addUpstream(berth.state, { name: 'hub', url: `http://127.0.0.1:${port}`, aliases: ['docker.io'], isDefault: true }, { sealSecret: seal, loopbackOnly: true });
  await addUpstream(berth.state, { name: 'corp', url: `http://localhost:${port}`, aliases: ['corp.example'], anonymousPull: false }, { sealSecret: seal, loopbackOnly: true });
  for (const [name, scopes] of [
    ['ci', ['corp/*:pull']],
    ['apps', ['apps/*:pull,push']],
  ] as const) {
    secrets.set(name, (await createToken(berth.state, { name, scopes: [...scopes] })).token);
  }
});

after(async () => {
  await berth?.close();
  await upstream?.close();
  if (dataDir) await removeDir(dataDir);
});

const manifestAccept = [mediaTypes.dockerManifest, mediaTypes.ociManifest, mediaTypes.ociIndex].join(', ');
const bearer = (jwt: string) => ({ credentials: { kind: 'bearer' as const, jwt } });

/** `GET /token?...` with the query string exactly as a client builds it. */
async function getToken(query: string, authorization?: string): Promise<{ jwt: string; access: GrantedAccess[] }> {
  const result = await call('GET', `${base}/token?${query}`, { headers: authorization ? { authorization } : {} });
  assert.equal(result.status, 200, `GET /token?${query}: ${result.text}`);
  const jwt = (JSON.parse(result.text) as { token: string }).token;
  return { jwt, access: decodeJwt(jwt).access };
}

/** containerd's OAuth2 form: `POST /token` when it has credentials for the host. */
async function postToken(form: Record<string, string>): Promise<{ jwt: string; access: GrantedAccess[] }> {
  const body = new URLSearchParams(form).toString();
  const result = await call('POST', `${base}/token`, { body, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  assert.equal(result.status, 200, `POST /token: ${result.text}`);
  const jwt = (JSON.parse(result.text) as { access_token: string }).access_token;
  return { jwt, access: decodeJwt(jwt).access };
}

const grants = (access: readonly GrantedAccess[], name: string, action: string) =>
  access.some((entry) => entry.type === 'repository' && entry.name === name && entry.actions.includes(action));

function assertPulled(result: CallResult, image: Image, what: string): void {
  assert.equal(result.status, 200, `${what}: ${result.status} ${result.text.slice(0, 300)}`);
  assert.equal(result.headers['docker-content-digest'], image.digest, what);
}

/** The rest of a pull: manifest by digest, then every blob, byte-exact. */
async function pullRest(path: string, image: Image, jwt: string, query = ''): Promise<void> {
  const manifest = await call('GET', `${base}/v2/${path}/manifests/${image.digest}${query}`, { ...bearer(jwt), headers: { accept: manifestAccept } });
  assertPulled(manifest, image, 'manifest by digest');
  assert.ok(manifest.body.equals(image.bytes), 'the upstream manifest, byte for byte');
  for (const blob of [image.config, ...image.layers]) {
    const got = await call('GET', `${base}/v2/${path}/blobs/${blob.digest}${query}`, bearer(jwt));
    assert.equal(got.status, 200, `blob ${blob.digest}: ${got.text.slice(0, 200)}`);
    assert.equal(sha256(got.body), blob.digest);
  }
}

test('dockerd (registry-mirrors), no credentials: the token for library/busybox covers hub/library/busybox', async () => {
  const ping = await call('GET', `${base}/v2/`);
  assert.equal(ping.status, 401);
  const challenge = parseBearerChallenge(ping.headers['www-authenticate']);
  assert.deepEqual(challenge, { realm: `${base}/token`, service: 'berth' });

  // dockerd asks for the repository as it names it; it ignores any scope in challenges.
  const { jwt, access } = await getToken('scope=repository%3Alibrary%2Fbusybox%3Apull&service=berth');
  assert.ok(grants(access, 'hub/library/busybox', 'pull'), `granted: ${JSON.stringify(access)}`);
  const head = await call('HEAD', `${base}/v2/library/busybox/manifests/latest`, { ...bearer(jwt), headers: { accept: manifestAccept } });
  assertPulled(head, busybox, 'HEAD by tag');
  await pullRest('library/busybox', busybox, jwt);
});

test('dockerd with Docker Hub credentials in its config: they count as none for the pull', async () => {
  const { jwt, access } = await getToken('account=hubuser&scope=repository%3Alibrary%2Fbusybox%3Apull&service=berth', dockerHubLogin);
  assert.ok(grants(access, 'hub/library/busybox', 'pull'), `granted: ${JSON.stringify(access)}`);
  assert.equal(decodeJwt(jwt).sub, 'anonymous', 'a foreign credential is no identity');
  const head = await call('HEAD', `${base}/v2/library/busybox/manifests/latest`, { ...bearer(jwt), headers: { accept: manifestAccept } });
  assertPulled(head, busybox, 'HEAD by tag');
  await pullRest('library/busybox', busybox, jwt);

  // The same credentials asking for more than a pull are checked, and refused.
  const push = await call('GET', `${base}/token?account=hubuser&scope=repository%3Alibrary%2Fbusybox%3Apull%2Cpush&service=berth`, {
    headers: { authorization: dockerHubLogin },
  });
  assert.equal(push.status, 401);
});

test('containerd (hosts.toml, ?ns=docker.io): a public mirror needs no token at all', async () => {
  const head = await call('HEAD', `${base}/v2/library/busybox/manifests/latest?ns=docker.io`, { headers: { accept: manifestAccept } });
  assertPulled(head, busybox, 'HEAD by tag');
  const blob = await call('GET', `${base}/v2/library/busybox/blobs/${busybox.layers[0]!.digest}?ns=docker.io`);
  assert.equal(blob.status, 200);
});

test('containerd with a Berth token for a private mirror: the challenge names the local repository, the form grants it', async () => {
  // containerd makes the request first and fetches a token only when challenged.
  const path = '/v2/team/tool/manifests/1?ns=corp.example';
  const first = await call('HEAD', `${base}${path}`, { headers: { accept: manifestAccept } });
  assert.equal(first.status, 401);
  const challenge = parseBearerChallenge(first.headers['www-authenticate']);
  assert.equal(challenge?.scope, 'repository:corp/team/tool:pull');
  assert.equal(challenge?.realm, `${base}/token`);

  // Its token request: its own scope for the name (no ns) plus the challenge's, as one space-separated form field.
  const scope = ['repository:corp/team/tool:pull', 'repository:team/tool:pull'].join(' ');
  const form = { grant_type: 'password', username: 'ci', password: secrets.get('ci')!, scope, service: 'berth', client_id: 'containerd-client' };
  const { jwt, access } = await postToken(form);
  assert.ok(grants(access, 'corp/team/tool', 'pull'), `granted: ${JSON.stringify(access)}`);
  assertPulled(await call('HEAD', `${base}${path}`, { ...bearer(jwt), headers: { accept: manifestAccept } }), tool, 'HEAD with the token');
  await pullRest('team/tool', tool, jwt, '?ns=corp.example');

  // Docker Hub credentials in containerd's config get nothing from the private mirror.
  const foreign = await postToken({ ...form, username: 'hubuser', password: 'dckr_pat_2b3e4f5a6b7c8d9e' });
  assert.ok(!grants(foreign.access, 'corp/team/tool', 'pull'), `granted: ${JSON.stringify(foreign.access)}`);
  const refused = await call('HEAD', `${base}${path}`, { ...bearer(foreign.jwt), headers: { accept: manifestAccept } });
  assert.ok(refused.status === 401 || refused.status === 403, `foreign credentials: ${refused.status}`);
});

test('the name mapping grants nothing the caller may not pull: an anonymous token never reaches the private mirror', async () => {
  // Without ?ns=, team/tool is the default upstream's (public) hub/team/tool; with it, the private corp/team/tool.
  const { jwt, access } = await getToken('scope=repository%3Ateam%2Ftool%3Apull&service=berth');
  assert.ok(grants(access, 'hub/team/tool', 'pull'));
  assert.ok(!access.some((entry) => entry.name.startsWith('corp/')), `granted: ${JSON.stringify(access)}`);
  const viaHub = await call('GET', `${base}/v2/team/tool/manifests/1`, { ...bearer(jwt), headers: { accept: manifestAccept } });
  assertPulled(viaHub, tool, 'through the public default upstream');
  const viaCorp = await call('GET', `${base}/v2/team/tool/manifests/1?ns=corp.example`, { ...bearer(jwt), headers: { accept: manifestAccept } });
  assert.equal(viaCorp.status, 403);
  assert.deepEqual(errorCodesOf(viaCorp), ['DENIED']);
  const direct = await getToken('scope=repository%3Acorp%2Fteam%2Ftool%3Apull&service=berth');
  assert.deepEqual(direct.access, [], 'nor by its local name');
});

test('podman with a prefix mirror (HOST/hub): the token for hub/library/busybox', async () => {
  const ping = await call('GET', `${base}/v2/`);
  assert.equal(parseBearerChallenge(ping.headers['www-authenticate'])?.realm, `${base}/token`);
  const { jwt, access } = await getToken('scope=repository%3Ahub%2Flibrary%2Fbusybox%3Apull&service=berth');
  assert.ok(grants(access, 'hub/library/busybox', 'pull'));
  const manifest = await call('GET', `${base}/v2/hub/library/busybox/manifests/latest`, { ...bearer(jwt), headers: { accept: manifestAccept } });
  assertPulled(manifest, busybox, 'GET by tag');
  await pullRest('hub/library/busybox', busybox, jwt);
});

test('podman with a root mirror (HOST): the first token works, no insufficient_scope round trip', async () => {
  const { jwt } = await getToken('scope=repository%3Alibrary%2Fbusybox%3Apull&service=berth');
  const manifest = await call('GET', `${base}/v2/library/busybox/manifests/latest`, { ...bearer(jwt), headers: { accept: manifestAccept } });
  assertPulled(manifest, busybox, 'GET by tag');
  await pullRest('library/busybox', busybox, jwt);
});

test('a token is never worse than none: a JWT granted something else still pulls what anyone may pull', async () => {
  const { jwt, access } = await getToken('scope=repository%3Acorp%2Fteam%2Ftool%3Apull&service=berth');
  assert.deepEqual(access, []);
  assertPulled(await call('HEAD', `${base}/v2/library/busybox/manifests/latest`, { ...bearer(jwt), headers: { accept: manifestAccept } }), busybox, 'public pull');
  // What it may not do stays refused.
  const closed = await call('HEAD', `${base}/v2/corp/team/tool/manifests/1`, { ...bearer(jwt), headers: { accept: manifestAccept } });
  assert.equal(closed.status, 403);
});

test('a push into a new namespace beside a default upstream: the token keeps pull and push on the name itself', async () => {
  const basic = `Basic ${Buffer.from(`apps:${secrets.get('apps')}`).toString('base64')}`;
  const { jwt, access } = await getToken('scope=repository%3Aapps%2Fweb%3Apull%2Cpush&service=berth', basic);
  assert.ok(grants(access, 'apps/web', 'pull') && grants(access, 'apps/web', 'push'), `granted: ${JSON.stringify(access)}`);
  const headers = { authorization: `Bearer ${jwt}` };
  const layer = await pushBlobWith(headers, 'apps/web', Buffer.from('a layer of apps/web'));
  const config = await pushBlobWith(headers, 'apps/web', jsonBytes({ architecture: 'amd64', os: 'linux' }));
  const manifest = jsonBytes({
    schemaVersion: 2,
    mediaType: mediaTypes.ociManifest,
    config: { mediaType: mediaTypes.ociConfig, digest: config, size: jsonBytes({ architecture: 'amd64', os: 'linux' }).length },
    layers: [{ mediaType: mediaTypes.ociLayer, digest: layer, size: 19 }],
  });
  const put = await call('PUT', `${base}/v2/apps/web/manifests/1`, { headers: { ...headers, 'content-type': mediaTypes.ociManifest }, body: manifest });
  assert.equal(put.status, 201, put.text);
  // Now `apps` holds content: a pull of apps/web is local, not the default upstream's.
  const pulled = await call('GET', `${base}/v2/apps/web/manifests/1`, { headers: { ...headers, accept: manifestAccept } });
  assert.equal(pulled.status, 200, pulled.text);
  assert.equal(pulled.headers['docker-content-digest'], sha256(manifest));
});

/** A monolithic upload (POST then PUT ?digest=) with the given headers; returns the digest. */
async function pushBlobWith(headers: Record<string, string>, repo: string, bytes: Buffer): Promise<string> {
  const digest = sha256(bytes);
  const start = await call('POST', `${base}/v2/${repo}/blobs/uploads/`, { headers });
  assert.equal(start.status, 202, start.text);
  const location = new URL(String(start.headers.location), base);
  location.searchParams.set('digest', digest);
  const done = await call('PUT', location.toString(), { headers: { ...headers, 'content-type': 'application/octet-stream' }, body: bytes });
  assert.equal(done.status, 201, done.text);
  return digest;
}
