import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileKeyRingStore, KeyRingConflictError, newMasterKey } from '../../registry/storage/encryption/key-ring.js';
import { makeTempDir } from '../support/temp-dir.js';

/**
 * The ring file's compare-and-swap (the PostgreSQL ring's, and MasterKeys re-planning after a lost one, are tested in
 * test/state/postgres-key-ring.test.ts): a save from a ring that another process replaced meanwhile writes nothing.
 */

test('a ring file saved from a stale load is refused, and nothing is written', async (t) => {
  const path = join(await makeTempDir(t), 'ring.json');
  const store = fileKeyRingStore(path);
  await assert.rejects(store.save([newMasterKey()], 'some-revision'), KeyRingConflictError, 'no file: only "no ring" is current');
  await store.save([newMasterKey()], undefined);
  const loaded = await store.load();
  assert.ok(loaded);
  await assert.rejects(store.save([newMasterKey()], undefined), KeyRingConflictError, 'a second ring over the first');
  await store.save([{ ...loaded.entries[0]!, retired: true }, newMasterKey()], loaded.revision);
  const after = await store.load();
  await assert.rejects(store.save([newMasterKey()], loaded.revision), KeyRingConflictError);
  assert.deepEqual(await store.load(), after);
});
