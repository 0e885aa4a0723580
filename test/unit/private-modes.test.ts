import assert from 'node:assert/strict';
import { chmod, lstat, mkdir, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { repairTopLevelModes, repairTreeModes } from '../../registry/config/private-modes.js';
import { makeTempDir } from '../support/temp-dir.js';

/**
 * The start-up check of the data directory's modes (config/private-modes.ts): group/other bits are removed, the
 * owner's kept; a symbolic link is never followed (chmod would change what it points at, outside the directory).
 */

test('the top-level check closes the data directory and its direct children; the tree walk does the rest, each path once', async (t) => {
  const root = await makeTempDir(t);
  const dataDir = join(root, 'data');
  await mkdir(join(dataDir, 'blobs', 'sha256', 'ab'), { recursive: true });
  await writeFile(join(dataDir, 'blobs', 'sha256', 'ab', 'data'), 'x');
  await writeFile(join(dataDir, 'state.json'), '{}');
  await writeFile(join(dataDir, 'owner-read-only'), 'r');
  for (const dir of ['', 'blobs', 'blobs/sha256', 'blobs/sha256/ab']) await chmod(join(dataDir, dir), 0o755);
  await chmod(join(dataDir, 'blobs', 'sha256', 'ab', 'data'), 0o644);
  await chmod(join(dataDir, 'state.json'), 0o664);
  await chmod(join(dataDir, 'owner-read-only'), 0o444);
  // A link out of the data directory, to a file others may read on purpose.
  const outside = join(root, 'shared.txt');
  await writeFile(outside, 'shared');
  await chmod(outside, 0o644);
  await symlink(outside, join(dataDir, 'link-out'));

  const top = await repairTopLevelModes(dataDir);
  assert.deepEqual(top, { fixed: 4, failed: 0 }, 'the directory, blobs/, state.json and owner-read-only');
  assert.equal((await stat(dataDir)).mode & 0o777, 0o700);
  assert.equal((await stat(join(dataDir, 'blobs', 'sha256'))).mode & 0o777, 0o755, 'below the top level is left to the walk');

  const below = await repairTreeModes(dataDir);
  assert.deepEqual(below, { fixed: 3, failed: 0 }, 'blobs/sha256, blobs/sha256/ab and its data: what the top level fixed is not counted twice');
  assert.equal((await stat(join(dataDir, 'blobs', 'sha256', 'ab', 'data'))).mode & 0o777, 0o600);
  assert.equal((await stat(join(dataDir, 'state.json'))).mode & 0o777, 0o600);
  assert.equal((await stat(join(dataDir, 'owner-read-only'))).mode & 0o777, 0o400, "the owner's bits are kept");
  assert.equal((await stat(outside)).mode & 0o777, 0o644, 'the file behind a link is not touched');
  assert.ok((await lstat(join(dataDir, 'link-out'))).isSymbolicLink());
});

test('a missing data directory is created 0700, even under umask 0', async (t) => {
  const dataDir = join(await makeTempDir(t), 'new', 'data');
  const previous = process.umask(0);
  try {
    assert.deepEqual(await repairTopLevelModes(dataDir), { fixed: 0, failed: 0 });
  } finally {
    process.umask(previous);
  }
  assert.equal((await stat(dataDir)).mode & 0o777, 0o700);
});

test('the walk stops when asked', async (t) => {
  const dataDir = await makeTempDir(t);
  for (let i = 0; i < 20; i++) {
    await writeFile(join(dataDir, `f${i}`), '');
    await chmod(join(dataDir, `f${i}`), 0o644);
  }
  let asked = 0;
  const repair = await repairTreeModes(dataDir, () => ++asked > 5);
  assert.equal(repair.fixed, 5);
});
