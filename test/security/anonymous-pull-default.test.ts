import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createToken } from '../../registry/auth/index.js';
import { startBerth } from '../../registry/berth-server.js';
import { silentLogger } from '../../registry/log.js';
import { berthCliOk, errorCodes, httpGet } from '../e2e/mirror-fixture.js';
import { makeImage } from '../support/oci-client.js';
import { decodeJwt } from '../support/registry-auth.js';
import { makeTempDir } from '../support/temp-dir.js';

/**
 * Issue 8, row 1: a namespace is private unless someone made it public. An upstream added with credentials (the
 * README's `work` example) used to get a namespace open to anonymous pulls, so anyone who reached Berth pulled the
 * private upstream's images with the admin's credentials; and an upstream named like an existing private namespace
 * made that namespace public. Here the private upstream is another Berth with token auth, the mirror is configured
 * with the real CLI and runs with its defaults.
 */

const basic = (user: string, password: string) => ({ Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });

test('an upstream with credentials, or named like a private namespace, is not opened to anonymous pulls', async (t) => {
  // The private upstream: its images pushed while it was open, then it restarts with token auth.
  const upstreamDir = await makeTempDir(t, 'berth-private-upstream-');
  const seeding = await startBerth({ dataDir: upstreamDir, logger: silentLogger(), auth: 'none', listen: '127.0.0.1:0', tlsListen: null });
  const image = await makeImage(seeding.urls.http!, 'team/app', { tag: '1' });
  await seeding.close();
  const upstream = await startBerth({ dataDir: upstreamDir, logger: silentLogger(), listen: '127.0.0.1:0', tlsListen: null });
  t.after(() => upstream.close());
  const upstreamUrl = new URL(upstream.urls.http!);
  const mirrorCredential = (await createToken(upstream.state, { name: 'mirror', scopes: ['team/*:pull'] })).token;
  assert.equal((await httpGet(`${upstreamUrl.origin}/v2/team/app/manifests/1`)).status, 401, 'the upstream itself is private');

  const dataDir = await makeTempDir(t, 'berth-mirror-');
  const cli = (args: string[], input?: string) => berthCliOk([...args, '--data', dataDir], input);
  const added = await cli(['upstream', 'add', 'work', upstreamUrl.origin, '--username', 'mirror', '--password-stdin'], `${mirrorCredential}\n`);
  assert.match(added, /Namespace "work" is private/);
  // A private namespace first, then an upstream named like it (another host name of the same upstream).
  await cli(['namespace', 'create', 'team']);
  const named = await cli(['upstream', 'add', 'team', `http://localhost:${upstreamUrl.port}`]);
  assert.match(named, /Namespace "team" is private: .*\(it existed already and keeps its setting\)/);
  const listed = JSON.parse(await cli(['upstream', 'list', '--json'])) as Array<{ name: string; anonymousPull: boolean }>;
  assert.deepEqual(listed.map((view) => [view.name, view.anonymousPull]), [['team', false], ['work', false]], 'always shown');
  const developer = (await cli(['token', 'create', '--name', 'dev', '--scope', 'work/*:pull'])).trimEnd().split('\n').at(-1) ?? '';

  const mirror = await startBerth({ dataDir, logger: silentLogger(), listen: '127.0.0.1:0', tlsListen: null });
  t.after(() => mirror.close());
  const base = mirror.urls.http!;

  // Anyone who reaches Berth: no credentials, an anonymous token, the Docker Hub credentials dockerd forwards.
  const anonymous = await httpGet(`${base}/v2/work/team/app/manifests/1`);
  assert.equal(anonymous.status, 401, anonymous.body.toString());
  assert.deepEqual(errorCodes(anonymous), ['UNAUTHORIZED']);
  const token = await httpGet(`${base}/token?scope=repository%3Awork%2Fteam%2Fapp%3Apull&service=berth`);
  const jwt = (JSON.parse(token.body.toString()) as { token: string }).token;
  assert.deepEqual(decodeJwt(jwt).access, [], 'the token service grants nothing either');
  const withJwt = await httpGet(`${base}/v2/work/team/app/manifests/1`, { Authorization: `Bearer ${jwt}` });
  assert.equal(withJwt.status, 403);
  const foreign = await httpGet(`${base}/v2/work/team/app/manifests/1`, basic('hubuser', 'dckr_pat_2b3e4f5a6b7c8d9e'));
  assert.ok(foreign.status === 401 || foreign.status === 403, `foreign credentials: ${foreign.status}`);
  const existingNamespace = await httpGet(`${base}/v2/team/team/app/manifests/1`);
  assert.equal(existingNamespace.status, 401, 'the private namespace stayed private');

  // Whoever holds a token for the namespace pulls, with the upstream credentials Berth keeps.
  const allowed = await httpGet(`${base}/v2/work/team/app/manifests/1`, basic('dev', developer));
  assert.equal(allowed.status, 200, allowed.body.toString());
  assert.ok(allowed.body.equals(image.bytes));
});
