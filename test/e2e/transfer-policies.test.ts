import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { createImageLayout } from '../support/oci-layout.js';
import { makeTempDir } from '../support/temp-dir.js';
import { requireTools, runOk, toolSkipReason } from '../support/tools.js';
import { berthCli, berthCliOk } from './mirror-fixture.js';
import { filesUnder } from './transfer-fixture.js';

/**
 * `berth import` obeys what a push obeys: an archive that would pass the namespace's storage quota, or move one of
 * its immutable tags, is refused whole with the push path's message, and nothing of it is stored.
 */
test('an import is refused whole by a storage quota it would pass and by an immutable tag it would move', { skip: toolSkipReason('skopeo'), timeout: 300_000 }, async (t) => {
  requireTools('skopeo');
  const work = await makeTempDir(t, 'berth-import-rules-');
  const data = join(work, 'data');
  const archiveOf = async (name: string, layerBytes: number) => {
    const layout = await createImageLayout(join(work, name), { tag: '1', layers: [{ bytes: layerBytes }] });
    const archive = join(work, `${name}.tar`);
    await runOk('skopeo', ['copy', '--preserve-digests', layout.ref, `oci-archive:${archive}:team/app:1`], { timeoutMs: 120_000 });
    return { archive, digest: layout.manifestDigest };
  };
  const first = await archiveOf('first', 2 * 1024 * 1024);
  const second = await archiveOf('second', 64 * 1024);

  await berthCliOk(['namespace', 'create', 'team', '--data', data]);
  await berthCliOk(['quota', 'set', 'team', '--max-storage', '1MiB', '--data', data]);
  const overQuota = await berthCli(['import', first.archive, '--data', data]);
  assert.notEqual(overQuota.code, 0, 'refused');
  assert.match(overQuota.stderr + overQuota.stdout, /namespace "team" is over its storage quota|storage quota/);
  assert.deepEqual(await filesUnder(join(data, 'repositories')), [], 'no tag, link or upload left');
  assert.deepEqual((await filesUnder(join(data, 'blobs'))).filter((file) => file.endsWith('/data')), [], 'no blob stored');

  await berthCliOk(['quota', 'set', 'team', '--max-storage', '100MiB', '--data', data]);
  await berthCliOk(['import', first.archive, '--data', data]);
  const tagLink = join(data, 'repositories', 'team', 'app', '_manifests', 'tags', '1', 'current', 'link');
  assert.equal((await readFile(tagLink, 'utf8')).trim(), first.digest);

  await berthCliOk(['immutable', 'add', 'team', '*', '--data', data]);
  const moved = await berthCli(['import', second.archive, '--data', data]);
  assert.notEqual(moved.code, 0, 'refused');
  assert.match(moved.stderr + moved.stdout, /immutable/);
  assert.equal((await readFile(tagLink, 'utf8')).trim(), first.digest, 'the tag still points where it was pushed');
});
