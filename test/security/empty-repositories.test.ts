import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { createToken } from '../../registry/auth/index.js';
import { signIn } from '../http/admin-fixture.js';
import { basicHeader, call, errorCodesOf } from '../support/registry-auth.js';
import { startEdgeBerth, type EdgeBerth } from './edge-fixture.js';

/**
 * Issue 8, row 9 (the listing half): an upload session opened and abandoned used to make a repository appear in
 * `/v2/_catalog`, the admin API's repository list and so the GUI, with nothing in it; anyone allowed to push could
 * litter every listing. A repository is listed once it holds a manifest, and stops being listed when its last
 * manifest is deleted. Token auth (the default), a whole Berth as `berth serve` composes it.
 */

const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

async function pushBlob(edge: EdgeBerth, repository: string, bytes: Buffer): Promise<string> {
  const digest = sha256(bytes);
  const pushed = await call('POST', `${edge.url}/v2/${repository}/blobs/uploads/?digest=${digest}`, {
    headers: { authorization: edge.pushAuthorization, 'content-type': 'application/octet-stream' },
    body: bytes,
  });
  assert.equal(pushed.status, 201, pushed.text);
  return digest;
}

/** A one-layer OCI image; returns its manifest digest. */
async function pushImage(edge: EdgeBerth, repository: string, tag: string): Promise<string> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
  const layer = Buffer.from(`layer of ${repository}`);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: await pushBlob(edge, repository, config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: await pushBlob(edge, repository, layer), size: layer.length }],
    }),
  );
  const put = await call('PUT', `${edge.url}/v2/${repository}/manifests/${tag}`, {
    headers: { authorization: edge.pushAuthorization, 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
    body: manifest,
  });
  assert.equal(put.status, 201, put.text);
  return sha256(manifest);
}

test('repositories with nothing to pull (an abandoned upload, layers without a manifest, every manifest deleted) are not listed', { timeout: 30_000 }, async (t) => {
  const edge = await startEdgeBerth(t);
  const { token } = await createToken(edge.berth.state, { name: 'cleaner', scopes: ['team/*:pull,push,delete'] });
  const cleaner = basicHeader('cleaner', token);

  await pushImage(edge, 'team/full', '1');
  // A client cut off after its POST and first chunk.
  const started = await call('POST', `${edge.url}/v2/team/abandoned/blobs/uploads/`, { headers: { authorization: edge.pushAuthorization } });
  assert.equal(started.status, 202, started.text);
  const session = new URL(String(started.headers.location), edge.url);
  const patched = await call('PATCH', session.href, { headers: { authorization: edge.pushAuthorization, 'content-type': 'application/octet-stream' }, body: Buffer.alloc(512, 1) });
  assert.equal(patched.status, 202, patched.text);
  // A push that sent its layers and never its manifest.
  await pushBlob(edge, 'team/layers-only', Buffer.from('a layer without an image'));
  // An image pushed and then deleted by digest.
  const gone = await pushImage(edge, 'team/emptied', 'old');
  const deleted = await call('DELETE', `${edge.url}/v2/team/emptied/manifests/${gone}`, { headers: { authorization: cleaner } });
  assert.equal(deleted.status, 202, deleted.text);

  const catalog = await call('GET', `${edge.url}/v2/_catalog`, { headers: { authorization: cleaner } });
  assert.equal(catalog.status, 200, catalog.text);
  assert.deepEqual(JSON.parse(catalog.text), { repositories: ['team/full'] });

  const cookie = await signIn(edge.url, edge.dataDir);
  const admin = await fetch(`${edge.url}/api/repositories`, { headers: { cookie, 'x-berth-admin': '1' } });
  const listed = (await admin.json()) as { repositories: Array<{ name: string; tagCount: number }> };
  assert.equal(admin.status, 200);
  assert.deepEqual(
    listed.repositories.map(({ name, tagCount }) => ({ name, tagCount })),
    [{ name: 'team/full', tagCount: 1 }],
    'the GUI lists only what can be pulled',
  );

  // A folder with only an upload session is no repository: its tags are unknown, as for any other unknown name.
  const tags = await call('GET', `${edge.url}/v2/team/abandoned/tags/list`, { headers: { authorization: cleaner } });
  assert.equal(tags.status, 404, tags.text);
  assert.deepEqual(errorCodesOf(tags), ['NAME_UNKNOWN']);

  // The session itself still works, and finishing it then pushing a manifest makes the repository appear.
  const bytes = Buffer.alloc(512, 1);
  session.searchParams.set('digest', sha256(bytes));
  const finished = await call('PUT', session.href, { headers: { authorization: edge.pushAuthorization }, body: Buffer.alloc(0) });
  assert.equal(finished.status, 201, finished.text);
  await pushImage(edge, 'team/abandoned', '1');
  const after = await call('GET', `${edge.url}/v2/_catalog`, { headers: { authorization: cleaner } });
  assert.deepEqual(JSON.parse(after.text), { repositories: ['team/abandoned', 'team/full'] });
});
