import { createFilesystemDriver } from '../../registry/storage/filesystem-driver.js';
import { createTempDir, removeDir } from '../support/temp-dir.js';
import { describeDriverContract } from './driver-contract.js';

/** The desktop backend against the shared StorageDriver contract (the same suite as s3-driver.test.ts). */
describeDriverContract('filesystem driver', async () => {
  const root = await createTempDir('berth-fs-driver-');
  return {
    driver: createFilesystemDriver(root),
    another: async () => createFilesystemDriver(root),
    close: () => removeDir(root),
  };
});
