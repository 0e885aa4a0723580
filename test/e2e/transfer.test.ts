import assert from 'node:assert/strict';
import { copyFile, readFile, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { startBerth } from '../support/berth-process.js';
import { blobPath, createImageLayout, createIndexLayout } from '../support/oci-layout.js';
import { makeTempDir } from '../support/temp-dir.js';
import { requireTools, toolSkipReason } from '../support/tools.js';
import { sha256File } from './data-dir-check.js';
import { berthCli, berthCliOk } from './mirror-fixture.js';
import { dockerRef, skopeoCopy, skopeoInspectRaw } from './skopeo.js';
import { corruptArchive, filesUnder, waitForPath } from './transfer-fixture.js';

/**
 * Offline transfer as a user does it, on the default settings (token auth): `berth export` on one Berth, the archive
 * carried over, `berth import` (or a drop into the watched import folder) on another, and real clients pulling
 * from the second one exactly the bytes pushed to the first. A corrupt archive imports nothing.
 */

const lastLine = (text: string) => text.trimEnd().split('\n').at(-1) ?? '';
/** `berth audit --json` prints JSON Lines. */
const jsonLines = <T>(text: string): T[] => text.split('\n').filter((line) => line.trim() !== '').map((line) => JSON.parse(line) as T);

interface AuditLine {
  action: string;
  repository?: string;
  reference?: string;
  digest?: string;
  outcome: string;
  client: string;
}

test('an export imported into a second Berth pulls byte-exact with skopeo, every platform included', { skip: toolSkipReason('skopeo'), timeout: 300_000 }, async (t) => {
  requireTools('skopeo');
  const work = await makeTempDir(t, 'berth-transfer-');
  const first = join(work, 'first');
  const second = join(work, 'second');
  const source = await startBerth({ dataDir: first, auth: 'token' });
  t.after(() => source.stop());
  const pusher = lastLine(await berthCliOk(['token', 'create', '--name', 'ci', '--scope', 'team/*:pull,push', '--data', first]));
  const image = await createImageLayout(join(work, 'app'), { tag: '1', layers: [{ bytes: 2 * 1024 * 1024 }, { bytes: 40 * 1024, compress: false }] });
  const index = await createIndexLayout(join(work, 'multi'), { tag: 'multi' });
  await skopeoCopy(image.ref, dockerRef(source.host, 'team/app', '1'), ['--preserve-digests', '--dest-creds', `ci:${pusher}`]);
  await skopeoCopy(index.ref, dockerRef(source.host, 'team/multi', 'multi'), ['--all', '--preserve-digests', '--dest-creds', `ci:${pusher}`]);

  // Exported while the source serves, into an archive that other tools read as an OCI layout too.
  const archive = join(work, 'images.tar');
  const exported = await berthCliOk(['export', 'team/app:1', 'team/multi:multi', '-o', archive, '--data', first]);
  assert.match(exported, /^Exported team\/app:1 .*team\/multi:multi .*: 4 manifest\(s\), 7 blob\(s\)/);
  assert.equal((await stat(archive)).mode & 0o777, 0o600, 'the archive is private, like the data it comes from');
  assert.deepEqual(await skopeoInspectRaw(`oci-archive:${archive}:team/app:1`), image.manifestBytes, 'skopeo reads the export as an OCI archive');

  // Imported into a second Berth while it runs: pulls see the images at once.
  const target = await startBerth({ dataDir: second, auth: 'token' });
  t.after(() => target.stop());
  const imported = await berthCliOk(['import', archive, '--data', second]);
  assert.match(imported, /^Imported team\/app:1, team\/multi:multi from images\.tar \(OCI layout\): 7 blob\(s\) stored/);
  const reader = lastLine(await berthCliOk(['token', 'create', '--name', 'reader', '--scope', 'team/*:pull', '--data', second]));
  const creds = ['--src-creds', `reader:${reader}`];

  const pulledApp = join(work, 'pulled-app');
  await skopeoCopy(dockerRef(target.host, 'team/app', '1'), `dir:${pulledApp}`, creds);
  assert.deepEqual(await readFile(join(pulledApp, 'manifest.json')), image.manifestBytes, 'the manifest, byte for byte');
  for (const blob of [image.config, ...image.layers]) {
    assert.equal(await sha256File(join(pulledApp, blob.digest.replace('sha256:', ''))), await sha256File(blobPath(image.dir, blob.digest)), blob.digest);
  }
  const pulledIndex = join(work, 'pulled-multi');
  await skopeoCopy(dockerRef(target.host, 'team/multi', 'multi'), `oci:${pulledIndex}:multi`, ['--all', ...creds]);
  const pulledIndexJson = JSON.parse(await readFile(join(pulledIndex, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
  assert.equal(pulledIndexJson.manifests[0]?.digest, index.manifestDigest, 'the index digest is the one pushed to the first Berth');
  for (const child of index.images) {
    for (const digest of [child.manifestDigest, child.config.digest, ...child.layers.map((layer) => layer.digest)]) {
      assert.equal(await sha256File(blobPath(pulledIndex, digest)), await sha256File(blobPath(child.dir, digest)), `${child.platform.architecture}: ${digest}`);
    }
  }

  // Audited as imports by the CLI; the namespace came into being as with a first push: private.
  const audit = jsonLines<AuditLine>(await berthCliOk(['audit', '--action', 'image.import', '--json', '--data', second]));
  const events = audit.map((event) => `${event.repository}:${event.reference} ${event.digest} ${event.outcome} ${event.client}`).sort();
  assert.deepEqual(events, [`team/app:1 ${image.manifestDigest} success cli`, `team/multi:multi ${index.manifestDigest} success cli`]);
  const anonymous = await fetch(`${target.url}/v2/team/app/manifests/1`);
  assert.equal(anonymous.status, 401, 'an imported namespace is private');

  // The same archive again: nothing new is stored, the tags stay.
  assert.match(await berthCliOk(['import', archive, '--data', second]), /0 blob\(s\) stored \(0 B\), 7 already here/);

  // A mirrored namespace takes no imports, as it takes no pushes.
  await berthCliOk(['upstream', 'add', 'hub', 'https://registry-1.docker.io', '--data', second]);
  const mirrored = await berthCli(['import', archive, '--repository', 'hub/app', '--data', second]);
  assert.equal(mirrored.code, 1);
  assert.match(mirrored.stderr, /namespace "hub" mirrors upstream "hub" and takes no pushes or imports/);

  // Export failures are said in the user's terms and leave no archive behind.
  const missing = await berthCli(['export', 'team/app:nope', '-o', join(work, 'nope.tar'), '--data', first]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /no image team\/app:nope in this Berth/);
  assert.deepEqual((await filesUnder(work)).filter((name) => name.includes('nope')), []);
});

test('the default import folder takes a dropped archive, and a corrupt one lands in failed/ with a reason, importing nothing', { skip: toolSkipReason('skopeo'), timeout: 300_000 }, async (t) => {
  requireTools('skopeo');
  const work = await makeTempDir(t, 'berth-drop-');
  const first = join(work, 'first');
  const second = join(work, 'second');
  const source = await startBerth({ dataDir: first, auth: 'token' });
  t.after(() => source.stop());
  const pusher = lastLine(await berthCliOk(['token', 'create', '--name', 'ci', '--scope', 'team/*:pull,push', '--data', first]));
  const good = await createImageLayout(join(work, 'good'), { tag: '1', layers: [{ bytes: 256 * 1024 }] });
  const bad = await createImageLayout(join(work, 'bad'), { tag: '1', layers: [{ bytes: 1024 * 1024 }, { bytes: 64 * 1024 }] });
  await skopeoCopy(good.ref, dockerRef(source.host, 'team/good', '1'), ['--preserve-digests', '--dest-creds', `ci:${pusher}`]);
  await skopeoCopy(bad.ref, dockerRef(source.host, 'team/bad', '1'), ['--preserve-digests', '--dest-creds', `ci:${pusher}`]);
  await berthCliOk(['export', 'team/good:1', '-o', join(work, 'good.tar'), '--data', first]);
  await berthCliOk(['export', 'team/bad:1', '-o', join(work, 'bad-source.tar'), '--data', first]);
  const corruptLayer = bad.layers[0]?.digest as string;
  await corruptArchive(join(work, 'bad-source.tar'), join(work, 'bad.tar'), `blobs/${corruptLayer.replace(':', '/')}`);

  // No import flag: the folder is on by default, private, with its two outcome folders.
  const target = await startBerth({ dataDir: second, auth: 'token' });
  t.after(() => target.stop());
  const folder = join(second, 'import');
  for (const dir of [folder, join(folder, 'imported'), join(folder, 'failed')]) assert.equal((await stat(dir)).mode & 0o777, 0o700, dir);

  // Dropped as a file manager does it: copied in under its final name.
  await copyFile(join(work, 'bad.tar'), join(folder, 'bad.tar'));
  await waitForPath(join(folder, 'failed', 'bad.tar.reason.txt'));
  const reason = await readFile(join(folder, 'failed', 'bad.tar.reason.txt'), 'utf8');
  assert.match(reason, new RegExp(`archive entry blobs/sha256/${corruptLayer.slice(7)} holds content with digest sha256:[0-9a-f]{64}, not the one its name gives: the archive is corrupt`));
  assert.match(reason, /Nothing from this archive was imported/);
  await stat(join(folder, 'failed', 'bad.tar'));
  await assert.rejects(stat(join(folder, 'bad.tar')), { code: 'ENOENT' });
  // Nothing: no repository, no tag, no layer link, no blob (not even the layers that were intact), no upload left.
  assert.deepEqual(await filesUnder(join(second, 'repositories')), []);
  const stored = await filesUnder(join(second, 'blobs'));
  for (const digest of [bad.manifestDigest, bad.config.digest, ...bad.layers.map((layer) => layer.digest)]) {
    assert.ok(!stored.some((path) => path.includes(digest.slice(7))), `no blob ${digest} stored`);
  }
  const refused = jsonLines<AuditLine & { detail?: { archive?: string } }>(await berthCliOk(['audit', '--action', 'image.import', '--json', '--data', second]));
  assert.deepEqual(refused.map((event) => `${event.outcome} ${event.client} ${event.detail?.archive}`), ['failure import-folder bad.tar']);

  // A good archive, written under a temporary name and renamed when complete (as a careful copy tool does).
  await copyFile(join(work, 'good.tar'), join(folder, '.good.tar.part'));
  await rename(join(folder, '.good.tar.part'), join(folder, 'good.tar'));
  await waitForPath(join(folder, 'imported', 'good.tar'));
  const reader = lastLine(await berthCliOk(['token', 'create', '--name', 'reader', '--scope', 'team/*:pull', '--data', second]));
  const pulled = join(work, 'pulled-good');
  await skopeoCopy(dockerRef(target.host, 'team/good', '1'), `dir:${pulled}`, ['--src-creds', `reader:${reader}`]);
  assert.deepEqual(await readFile(join(pulled, 'manifest.json')), good.manifestBytes);
  assert.deepEqual(await filesUnder(join(folder, 'failed')), ['bad.tar', 'bad.tar.reason.txt']);
});
