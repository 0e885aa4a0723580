import { stat } from 'node:fs/promises';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openSqliteTrashStore, trashFileOf, type TrashStore } from '../../registry/lifecycle/trash-store.js';
import { createTempDir, makeTempDir, removeDir } from '../support/temp-dir.js';
import { describeTrashStoreContract } from './trash-store-contract.js';

// One data directory per test; "another instance" is a second connection to the same file (the CLI beside the server).
describeTrashStoreContract('sqlite', async () => {
  const opened: TrashStore[] = [];
  const dirs: string[] = [];
  const openIn = (dir: string) => {
    const store = openSqliteTrashStore(dir);
    opened.push(store);
    return store;
  };
  return {
    async fresh() {
      const dir = await createTempDir('berth-trash-contract-');
      dirs.push(dir);
      return { store: openIn(dir), another: async () => openIn(dir) };
    },
    async close() {
      for (const store of opened) await store.close();
      for (const dir of dirs) await removeDir(dir);
    },
  };
});

test('the trash file is owner-only, whatever the umask', async (t) => {
  const dir = await makeTempDir(t, 'berth-trash-modes-');
  const previous = process.umask(0o022);
  try {
    const store = openSqliteTrashStore(dir);
    await store.close();
  } finally {
    process.umask(previous);
  }
  assert.equal((await stat(trashFileOf(dir))).mode & 0o777, 0o600);
});
