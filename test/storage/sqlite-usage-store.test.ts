import { openUsageStore, type UsageStore } from '../../registry/storage/usage-store.js';
import { createTempDir, removeDir } from '../support/temp-dir.js';
import { describeUsageStoreContract } from './usage-store-contract.js';

// One data directory per test; "another instance" is a second connection to the same file (another process).
describeUsageStoreContract('sqlite', async () => {
  const opened: UsageStore[] = [];
  const dirs: string[] = [];
  const openIn = (dir: string) => {
    const store = openUsageStore(dir);
    opened.push(store);
    return store;
  };
  return {
    async fresh() {
      const dir = await createTempDir('berth-usage-contract-');
      dirs.push(dir);
      return { store: openIn(dir), another: async () => openIn(dir) };
    },
    async close() {
      for (const store of opened) await store.close();
      for (const dir of dirs) await removeDir(dir);
    },
  };
});
