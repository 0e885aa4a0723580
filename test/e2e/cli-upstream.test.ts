import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { startBerth } from '../support/berth-process.js';
import { startDistribution } from '../support/distribution.js';
import { freePort } from '../support/net.js';
import { createImageLayout } from '../support/oci-layout.js';
import { makeTempDir } from '../support/temp-dir.js';
import { requireTools, toolSkipReason } from '../support/tools.js';
import { berthCli, berthCliOk, httpGet } from './mirror-fixture.js';
import { dockerRef, skopeoCopy } from './skopeo.js';

/** `berth upstream test` and `berth upstream set` against real upstreams (Debian's docker-registry), up and down. */

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const lastLine = (text: string) => text.trimEnd().split('\n').at(-1) ?? '';

test('upstream test says in plain words whether an upstream is reachable and takes the credentials, and exits 1 when not', { skip: toolSkipReason('docker-registry'), timeout: 120_000 }, async (t) => {
  requireTools('docker-registry');
  const open = await startDistribution();
  t.after(() => open.stop());
  const locked = await startDistribution({ auth: { username: 'robot', password: 'right-password' } });
  t.after(() => locked.stop());
  const dataDir = await makeTempDir(t, 'berth-upstream-test-');
  const data = ['--data', dataDir];
  await berthCliOk(['upstream', 'add', 'up', open.url, ...data]);
  await berthCliOk(['upstream', 'add', 'priv', locked.url, '--username', 'robot', '--password-stdin', ...data], 'right-password\n');

  assert.match(await berthCliOk(['upstream', 'test', 'up', ...data]), new RegExp(`^Upstream "up" \\(${escape(open.url)}\\): reachable, anonymous access works \\(\\d+ ms\\)\\.$`, 'm'));
  assert.match(await berthCliOk(['upstream', 'test', 'priv', ...data]), /^Upstream "priv" \(.*\): reachable, credentials accepted \(\d+ ms\)\.$/m);

  // Wrong credentials: said as such, with the command that fixes them.
  await berthCliOk(['upstream', 'set', 'priv', '--username', 'robot', '--password-stdin', ...data], 'wrong-password\n');
  const refused = await berthCli(['upstream', 'test', 'priv', ...data]);
  assert.equal(refused.code, 1, refused.stderr);
  assert.match(refused.stderr, /reachable, but the credentials were refused \(401\): set them again with printf %s "\$PASSWORD" \| berth upstream set priv --username USER --password-stdin/);

  // Down: "connection refused: is it running at URL?", not the socket's ECONNREFUSED.
  open.kill();
  const down = await berthCli(['upstream', 'test', 'up', ...data]);
  assert.equal(down.code, 1, down.stdout);
  assert.equal(down.stderr.trim(), `berth: upstream "up" (${open.url}): connection refused: is it running at ${open.url}?`);
  assert.doesNotMatch(down.stderr, /ECONNREFUSED|    at /);
  await open.restart();
  assert.match(await berthCliOk(['upstream', 'test', 'up', ...data]), /reachable, anonymous access works/);

  const ghost = await berthCli(['upstream', 'test', 'ghost', ...data]);
  assert.equal(ghost.code, 1);
  assert.match(ghost.stderr, /^berth: no upstream "ghost": see "berth upstream list"$/m);
});

test('upstream set changes an upstream in place; a running server (token auth) pulls through the new URL on its next request', { skip: toolSkipReason('skopeo', 'docker-registry'), timeout: 120_000 }, async (t) => {
  requireTools('skopeo', 'docker-registry');
  const upstream = await startDistribution();
  t.after(() => upstream.stop());
  const image = await createImageLayout(join(await makeTempDir(t), 'app'), { tag: '1', layers: [{ bytes: 16 * 1024 }] });
  await skopeoCopy(image.ref, dockerRef(upstream.host, 'library/app', '1'));

  const dataDir = await makeTempDir(t, 'berth-upstream-set-');
  const data = ['--data', dataDir];
  const nothingThere = `http://127.0.0.1:${await freePort()}`;
  await berthCliOk(['upstream', 'add', 'up', nothingThere, '--anonymous-pull=false', ...data]);
  const secret = lastLine(await berthCliOk(['token', 'create', '--name', 'reader', '--scope', 'up/*:pull', ...data]));
  const auth = { Authorization: `Basic ${Buffer.from(`reader:${secret}`).toString('base64')}` };
  const berth = await startBerth({ dataDir, auth: 'token' });
  t.after(() => berth.stop());
  const manifest = `${berth.url}/v2/up/library/app/manifests/1`;
  assert.equal((await httpGet(manifest, auth)).status, 503, 'nothing answers at the first URL');

  const changed = await berthCliOk(['upstream', 'set', 'up', '--url', upstream.url, '--tag-ttl', '1h', ...data]);
  assert.equal(
    changed.trim(),
    [`Changed upstream "up":`, `  URL: ${nothingThere} -> ${upstream.url}`, '  tag TTL: 5m -> 1h', 'A running Berth uses the new settings from its next request.'].join('\n'),
  );
  const pulled = await httpGet(manifest, auth);
  assert.equal(pulled.status, 200, pulled.body.toString());
  assert.deepEqual(pulled.body, image.manifestBytes);
  assert.match(await berthCliOk(['upstream', 'list', ...data]), new RegExp(`^up\\s+${escape(upstream.url)}\\s+-\\s+no\\s+no\\s+no\\s+1h\\s+no\\s`, 'm'));

  // The namespace's anonymous pull, from the same command: the server lets an anonymous pull in at once.
  assert.match(await berthCliOk(['upstream', 'set', 'up', '--anonymous-pull=true', ...data]), /Namespace "up" allows anonymous pulls\./);
  assert.equal((await httpGet(manifest)).status, 200);

  const audit = (await berthCliOk(['audit', '--json', '--action', 'upstream.*', ...data])).trim().split('\n').map((line) => JSON.parse(line) as { action: string; actor: string; detail: { fields?: string[] } });
  assert.deepEqual(audit.filter((event) => event.action === 'upstream.update').map((event) => [event.actor, event.detail.fields]), [
    ['admin', ['url', 'tagTtlSeconds']],
    ['admin', ['anonymousPull']],
  ]);

  const refused = async (args: string[], code: 1 | 2, pattern: RegExp) => {
    const result = await berthCli(['upstream', 'set', ...args, ...data]);
    assert.equal(result.code, code, `${args.join(' ')}: ${result.stderr}`);
    assert.match(result.stderr, pattern);
  };
  await refused(['up'], 2, /nothing to change: give at least one option/);
  await refused(['up', '--username', 'me'], 2, /--username needs --password-stdin/);
  await refused(['up', '--tag-ttl', 'soon'], 2, /--tag-ttl: invalid duration "soon"/);
  await refused(['up', '--url', 'ftp://x.example'], 2, /https:\/\/ or http:\/\//);
  await refused(['up', '--tag-tll', '1m'], 2, /unknown option --tag-tll \(did you mean --tag-ttl\?\)/);
  await refused(['ghost', '--tag-ttl', '1m'], 1, /no upstream "ghost": see "berth upstream list"/);
});
