import { createS3Driver, type S3DriverOptions, type S3StorageDriver } from '../../registry/storage/s3-driver.js';
import { startRadosgw, type RadosgwServer } from '../support/services/radosgw.js';

/** S3 driver options for a bucket of a test radosgw, with explicit credentials (the default way is the environment). */
export function radosgwDriverOptions(server: RadosgwServer, bucket = server.bucket, extra: Partial<S3DriverOptions> = {}): S3DriverOptions {
  return { bucket, endpoint: server.endpoint, region: server.region, credentials: server.credentials, ...extra };
}

/** A radosgw with drivers over one bucket; close() closes every driver it made and stops radosgw. */
export async function startS3Backend(extra: Partial<S3DriverOptions> = {}): Promise<{
  server: RadosgwServer;
  driver: S3StorageDriver;
  another(): Promise<S3StorageDriver>;
  close(): Promise<void>;
}> {
  const server = await startRadosgw();
  console.log(`# radosgw started in ${(server.startupMs / 1000).toFixed(2)} s`);
  const drivers: S3StorageDriver[] = [];
  const open = async (): Promise<S3StorageDriver> => {
    const driver = await createS3Driver(radosgwDriverOptions(server, server.bucket, extra));
    drivers.push(driver);
    return driver;
  };
  try {
    return {
      server,
      driver: await open(),
      another: open,
      close: async () => {
        for (const driver of drivers) driver.close();
        await server.stop();
      },
    };
  } catch (error) {
    await server.stop();
    throw error;
  }
}
