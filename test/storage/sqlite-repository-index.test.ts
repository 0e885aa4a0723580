import { openSqliteRepositoryIndex } from '../../registry/storage/sqlite-repository-index.js';
import type { RepositoryIndex } from '../../registry/storage/repository-index.js';
import { createTempDir, removeDir } from '../support/temp-dir.js';
import { describeRepositoryIndexContract } from './repository-index-contract.js';

// One data directory per test; "another instance" is a second connection to the same file (another process).
describeRepositoryIndexContract('sqlite', async () => {
  const opened: RepositoryIndex[] = [];
  const dirs: string[] = [];
  const openIn = (dir: string) => {
    const index = openSqliteRepositoryIndex(dir);
    opened.push(index);
    return index;
  };
  return {
    async fresh() {
      const dir = await createTempDir('berth-index-contract-');
      dirs.push(dir);
      return { index: openIn(dir), another: async () => openIn(dir) };
    },
    async close() {
      for (const index of opened) await index.close();
      for (const dir of dirs) await removeDir(dir);
    },
  };
});
