import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { startBerth } from '../support/berth-process.js';
import { blobPath, createImageLayout, createIndexLayout } from '../support/oci-layout.js';
import { makeTempDir } from '../support/temp-dir.js';
import { requireTools, runOk, toolSkipReason } from '../support/tools.js';
import { berthCli, berthCliOk, httpGet } from './mirror-fixture.js';
import { dockerRef, skopeoCopy } from './skopeo.js';

/**
 * `berth image list|inspect|cp|rm` as a user runs them, beside a running `berth serve` with the default settings
 * (token auth): what they show matches what was pushed, a copy pulls byte for byte with skopeo without a byte of
 * content being stored twice, a deletion is a 404 for the server, and every change is in the audit trail as admin/cli.
 */

const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
const lastLine = (text: string) => text.trimEnd().split('\n').at(-1) ?? '';
const basic = (name: string, secret: string) => ({ Authorization: `Basic ${Buffer.from(`${name}:${secret}`).toString('base64')}` });

/** Every content file in the data directory's blob store: a copy must not add any. */
async function storedBlobs(dataDir: string): Promise<string[]> {
  const entries = await readdir(join(dataDir, 'blobs'), { recursive: true, withFileTypes: true });
  return entries.filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name)).sort();
}

async function fails(args: readonly string[], code: 1 | 2, pattern: RegExp): Promise<void> {
  const result = await berthCli(args);
  assert.equal(result.code, code, `berth ${args.join(' ')}: expected exit ${code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
  assert.match(result.stderr, pattern);
  assert.ok(!result.stderr.includes('    at '), `no stack trace:\n${result.stderr}`);
}

interface Listed {
  repository: string;
  tags: Array<{ tag: string; digest: string; size: number; platforms: string[]; pushedAt: string | null }>;
}

test('image list, inspect, cp and rm: what was pushed, a byte-exact copy without new blobs, a 404 after rm, all audited', { skip: toolSkipReason('skopeo'), timeout: 240_000 }, async (t) => {
  requireTools('skopeo');
  const dataDir = await makeTempDir(t, 'berth-image-');
  const berth = await startBerth({ dataDir, auth: 'token' });
  t.after(() => berth.stop());
  const data = ['--data', dataDir];
  const pusher = lastLine(await berthCliOk(['token', 'create', '--name', 'ci', '--scope', 'team/*:pull,push', ...data]));
  // Only the copies' namespace: a pull of the copy is served from copies/, not from team/.
  const reader = lastLine(await berthCliOk(['token', 'create', '--name', 'reader', '--scope', 'copies/*:pull', ...data]));

  const work = await makeTempDir(t, 'berth-image-src-');
  const image = await createImageLayout(join(work, 'app'), { tag: '1', layers: [{ bytes: 300 * 1024 }, { bytes: 40 * 1024 }], labels: { 'org.example.team': 'platform' } });
  const index = await createIndexLayout(join(work, 'multi'), { tag: 'multi' });
  const pushedFrom = Date.now();
  await skopeoCopy(image.ref, dockerRef(berth.host, 'team/app', '1'), ['--dest-creds', `ci:${pusher}`]);
  await skopeoCopy(index.ref, dockerRef(berth.host, 'team/multi', 'multi'), ['--all', '--dest-creds', `ci:${pusher}`]);

  // list: the tag, its digest, the image's size (manifest + config + layers) and when it was pushed.
  const listed = JSON.parse(await berthCliOk(['image', 'list', 'team', '--json', ...data])) as Listed[];
  assert.deepEqual(listed.map((repo) => repo.repository), ['team/app', 'team/multi']);
  const app = listed[0]?.tags[0];
  assert.equal(app?.tag, '1');
  assert.equal(app?.digest, image.manifestDigest);
  assert.equal(app?.size, image.manifestBytes.length + image.totalBytes);
  assert.deepEqual(app?.platforms, ['linux/amd64']);
  assert.ok(app?.pushedAt && Date.parse(app.pushedAt) >= pushedFrom - 1000, `push time ${app?.pushedAt}`);
  const multi = listed[1]?.tags[0];
  assert.deepEqual(multi?.platforms, ['linux/amd64', 'linux/arm64/v8']);
  assert.equal(multi?.size, index.manifestBytes.length + index.images.reduce((sum, child) => sum + child.manifestBytes.length + child.totalBytes, 0));
  const table = await berthCliOk(['image', 'list', ...data]);
  assert.match(table, /^REPOSITORY\s+TAG\s+DIGEST\s+SIZE\s+PLATFORMS\s+PUSHED\s+PULLS\s+LAST PULL$/m);
  assert.match(table, new RegExp(`^team/app\\s+1\\s+${image.manifestDigest.slice(0, 19)}\\s+\\d+ KiB\\s+linux/amd64\\s+\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\dZ\\s+0\\s+-$`, 'm'));
  assert.deepEqual((JSON.parse(await berthCliOk(['image', 'list', 'team/multi', '--json', ...data])) as Listed[]).map((repo) => repo.repository), ['team/multi']);

  // inspect: layers with their sizes, the config, the platforms of an index with each one's image size.
  const detail = JSON.parse(await berthCliOk(['image', 'inspect', 'team/app:1', '--json', ...data])) as {
    digest: string;
    layers: Array<{ digest: string; size: number }>;
    config: { labels: Record<string, string> };
    pushedAt: string | null;
  };
  assert.equal(detail.digest, image.manifestDigest);
  assert.deepEqual(detail.layers.map((layer) => [layer.digest, layer.size]), image.layers.map((layer) => [layer.digest, layer.size]));
  assert.equal(detail.config.labels['org.example.team'], 'platform');
  assert.equal(detail.pushedAt, app?.pushedAt);
  const described = await berthCliOk(['image', 'inspect', `team/app@${image.manifestDigest}`, ...data]);
  assert.match(described, /^Layers \(2, \d+ KiB\)$/m);
  for (const layer of image.layers) assert.ok(described.includes(layer.digest), `layer ${layer.digest} missing:\n${described}`);
  assert.match(described, /^ {2}labels\s+org\.example\.team=platform$/m);
  const platforms = await berthCliOk(['image', 'inspect', 'team/multi:multi', ...data]);
  assert.match(platforms, /^Platforms \(2\)$/m);
  for (const child of index.images) {
    // Each platform's row shows its image's size, not the few hundred bytes of its manifest.
    const row = platforms.split('\n').find((line) => line.includes(child.manifestDigest));
    assert.match(row ?? '', /\s\d+ KiB\s+stored$/, `row for ${child.manifestDigest}: ${row}`);
  }

  // cp: links, never stores content again; the copy pulls byte for byte, the index with all its platforms.
  const before = await storedBlobs(dataDir);
  const copied = await berthCliOk(['image', 'cp', 'team/app:1', 'copies/app:1', ...data]);
  assert.match(copied, /^Copied team\/app:1 to copies\/app:1: sha256:[0-9a-f]{64}, 1 manifest\(s\), 3 blob\(s\) linked, no bytes copied\.$/m);
  assert.match(await berthCliOk(['image', 'cp', 'team/multi:multi', 'copies/multi', ...data]), /to copies\/multi:multi: .*3 manifest\(s\), 4 blob\(s\) linked/);
  assert.deepEqual(await storedBlobs(dataDir), before, 'a copy adds no file to the blob store');

  const pulled = await makeTempDir(t, 'berth-image-pull-');
  await skopeoCopy(dockerRef(berth.host, 'copies/app', '1'), `dir:${pulled}`, ['--src-creds', `reader:${reader}`]);
  assert.deepEqual(await readFile(join(pulled, 'manifest.json')), image.manifestBytes, 'the manifest, byte for byte');
  for (const blob of [image.config, ...image.layers]) {
    const bytes = await readFile(join(pulled, blob.digest.slice('sha256:'.length)));
    assert.equal(sha256(bytes), blob.digest);
    assert.deepEqual(bytes, await readFile(blobPath(image.dir, blob.digest)));
  }
  const multiOut = await makeTempDir(t, 'berth-image-pull-multi-');
  await skopeoCopy(dockerRef(berth.host, 'copies/multi', 'multi'), `oci:${multiOut}:multi`, ['--all', '--src-creds', `reader:${reader}`]);
  const pulledIndex = JSON.parse(await readFile(join(multiOut, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
  assert.equal(pulledIndex.manifests[0]?.digest, index.manifestDigest, 'the same index digest');
  for (const child of index.images) assert.ok((await readFile(blobPath(multiOut, child.manifestDigest))).equals(child.manifestBytes));

  // The copy is audited as the pushes it amounts to, by admin from the CLI, and its namespace is private.
  const pushes = (await berthCliOk(['audit', '--json', '--action', 'push', '--namespace', 'copies', ...data]))
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { actor: string; client: string; repository: string; reference: string; digest: string; detail?: { copiedFrom?: string } });
  assert.deepEqual(
    pushes.filter((event) => event.repository === 'copies/app').map((event) => [event.actor, event.client, event.reference, event.digest, event.detail?.copiedFrom]),
    [['admin', 'cli', '1', image.manifestDigest, 'team/app:1']],
  );
  assert.equal(pushes.filter((event) => event.repository === 'copies/multi').length, 3, 'the index and its two children');
  const namespaces = JSON.parse(await berthCliOk(['namespace', 'list', '--json', ...data])) as Array<{ name: string; anonymousPull: boolean }>;
  assert.deepEqual(namespaces.find((ns) => ns.name === 'copies'), { ...namespaces.find((ns) => ns.name === 'copies'), anonymousPull: false });

  // rm: the running server answers 404 for the tag at once, though it had just served (and cached) it: its
  // manifest cache checks the metadata index's change counter, which the CLI process bumped.
  const manifestUrl = `${berth.url}/v2/copies/app/manifests/1`;
  assert.equal((await httpGet(manifestUrl, basic('reader', reader))).status, 200);
  assert.match(await berthCliOk(['image', 'rm', 'copies/app:1', ...data]), /^Deleted tag copies\/app:1\. Its manifest sha256:[0-9a-f]{12}… is still pullable by digest/m);
  assert.equal((await httpGet(manifestUrl, basic('reader', reader))).status, 404, 'the deleted tag is gone for the server');
  // The server's listings read the metadata index the CLI process wrote (one SQLite file shared by both).
  const tagList = await httpGet(`${berth.url}/v2/copies/app/tags/list`, basic('reader', reader));
  assert.equal(tagList.status, 200);
  assert.deepEqual((JSON.parse(tagList.body.toString('utf8')) as { tags: string[] }).tags, [], 'the deleted tag is no longer listed');
  assert.equal((await httpGet(`${berth.url}/v2/copies/app/manifests/${image.manifestDigest}`, basic('reader', reader))).status, 200, 'the manifest stays pullable by digest');
  assert.match(await berthCliOk(['image', 'rm', `copies/multi@${index.manifestDigest}`, ...data]), /^Deleted copies\/multi@sha256:[0-9a-f]{64} and its tag multi\./m);
  assert.equal((await httpGet(`${berth.url}/v2/copies/multi/manifests/${index.manifestDigest}`, basic('reader', reader))).status, 404);
  const deletes = (await berthCliOk(['audit', '--json', '--action', 'delete', ...data])).trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
  assert.deepEqual(
    deletes.map((event) => [event.actor, event.client, event.repository, event.reference ?? event.digest]),
    [
      ['admin', 'cli', 'copies/app', '1'],
      ['admin', 'cli', 'copies/multi', index.manifestDigest],
    ],
  );
  // The source is untouched.
  assert.equal((await httpGet(`${berth.url}/v2/team/app/manifests/1`, basic('ci', pusher))).status, 200);

  // Refusals: a bare name, a missing tag, a copy into a mirror's namespace, an image not fully stored.
  await fails(['image', 'rm', 'team/app', ...data], 2, /image "team\/app" names no tag or digest: write team\/app:TAG or team\/app@sha256:… \(did you mean team\/app:latest\?\)/);
  await fails(['image', 'rm', 'copies/app:1', ...data], 1, /no tag copies\/app:1 in this Berth: see "berth image list copies\/app"/);
  await fails(['image', 'inspect', 'localhost:5000/team/app:1', ...data], 2, /leave out the registry address/);
  await fails(['image', 'cp', 'team/app:1', 'team/app:1', ...data], 2, /nothing to copy/);
  await berthCliOk(['upstream', 'add', 'hub', 'http://127.0.0.1:9', ...data]);
  await fails(['image', 'cp', 'team/app:1', 'hub/app:1', ...data], 1, /namespace "hub" mirrors upstream "hub" and takes no pushes/);
  await fails(['image', 'list', 'nothing', ...data], 1, /no namespace "nothing" holds images/);
});

test('image cp refuses an image whose layers are not all stored (a mirror fetches them on first pull)', async (t) => {
  const dataDir = await makeTempDir(t, 'berth-image-partial-');
  const { createRegistry } = await import('../../registry/index.js');
  const registry = await createRegistry({ dataDir, garbageCollection: false });
  const image = await createImageLayout(join(await makeTempDir(t), 'app'), { tag: '1', layers: [{ bytes: 1024 }] });
  // What a pull-through cache holds after a manifest request and before any blob request: the manifest only.
  await registry.repositories.putManifest('cache/app', '1', image.manifestBytes, undefined, { requireReferences: false });
  await registry.close(0);
  const result = await berthCli(['image', 'cp', 'cache/app:1', 'team/app:1', '--data', dataDir]);
  assert.equal(result.code, 1, result.stderr);
  assert.match(result.stderr, /^berth: 2 of the 2 blobs \(layers, config\) of cache\/app:1 are not stored in this Berth yet \(a mirror fetches them on the first pull\): pull the image through Berth once, then copy it$/m);
  const listed = JSON.parse(await berthCliOk(['image', 'list', '--json', '--data', dataDir])) as Listed[];
  assert.deepEqual(listed.map((repo) => repo.repository), ['cache/app'], 'nothing was written under team/');
  assert.ok(!(await runOk('ls', [join(dataDir, 'repositories')])).stdout.includes('team'));
});
