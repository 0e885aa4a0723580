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

/** As `berth gc` opens it (stat, list and getContent on the calling thread): the same contract, to the letter. */
describeDriverContract('filesystem driver with inline reads', async () => {
  const root = await createTempDir('berth-fs-driver-inline-');
  return {
    driver: createFilesystemDriver(root, { inlineReads: true }),
    another: async () => createFilesystemDriver(root, { inlineReads: true }),
    close: () => removeDir(root),
  };
});
