import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { migrateMetadata, type MetadataBackend } from '../../registry/state/metadata-backend.js';
import { createFilesystemDriver } from '../../registry/storage/filesystem-driver.js';
import { createS3Driver } from '../../registry/storage/s3-driver.js';
import { bindStorage, readStorageId, StorageMismatchError } from '../../registry/storage/storage-binding.js';
import { openStorage, parseStorageOption, StorageUnavailableError } from '../../registry/storage/storage-backend.js';
import { postgresSkipReason, requirePostgres, startPostgres, type PostgresServer } from '../support/services/postgres.js';
import { radosgwSkipReason, requireRadosgw, startRadosgw, type RadosgwServer } from '../support/services/radosgw.js';
import { makeTempDir } from '../support/temp-dir.js';
import { radosgwDriverOptions } from './s3-backend.js';

/**
 * A PostgreSQL metadata database is bound to the first storage that uses it, on real PostgreSQL and radosgw: the
 * same bucket (from any node) is accepted, anything else (another bucket, another prefix, a data directory) is
 * refused before it can make the shared index forget repositories.
 */

describe('storage binding (PostgreSQL + radosgw)', { skip: postgresSkipReason() ?? radosgwSkipReason(), timeout: 240_000 }, () => {
  let pg: PostgresServer;
  let s3: RadosgwServer;
  before(async () => {
    requirePostgres();
    requireRadosgw();
    [pg, s3] = await Promise.all([startPostgres(), startRadosgw()]);
  });
  after(async () => {
    await Promise.all([pg?.stop(), s3?.stop()]);
  });

  const freshDatabase = async (): Promise<MetadataBackend> => {
    const db = await pg.createDatabase();
    const metadata: MetadataBackend = { kind: 'postgres', target: { url: db.url, password: db.connection.password } };
    await migrateMetadata(metadata);
    return metadata;
  };
  const s3Driver = async (bucket: string, prefix?: string) => {
    const driver = await createS3Driver(radosgwDriverOptions(s3, bucket, prefix ? { prefix } : {}));
    return driver;
  };

  test('the first storage binds the database; the same bucket is accepted again, from every node starting at once', async (t) => {
    const metadata = await freshDatabase();
    const bucket = await s3.createBucket();
    const drivers = await Promise.all([1, 2, 3].map(() => s3Driver(bucket, 'berth/')));
    t.after(() => drivers.forEach((driver) => driver.close()));
    const description = `s3://${bucket}?prefix=berth/`;
    // Three nodes start together on a fresh bucket: they agree on one id, and exactly one of them bound it.
    const bindings = await Promise.all(drivers.map((driver) => bindStorage(driver, description, metadata)));
    const ids = new Set(bindings.map((binding) => binding?.storageId));
    assert.equal(ids.size, 1, `one id: ${[...ids].join(', ')}`);
    assert.equal(bindings.filter((binding) => binding?.bound).length, 1);
    const [id] = ids;
    assert.match(id ?? '', /^[0-9a-f]{32}$/);
    assert.equal(await readStorageId(drivers[0]!), id, 'the id is at the storage root');
    const again = await bindStorage(drivers[1]!, description, metadata);
    assert.deepEqual(again, { storageId: id, bound: false });
    const db = (metadata as Extract<MetadataBackend, { kind: 'postgres' }>).target.url.split('/').at(-1) ?? '';
    const row = (await pg.psql('SELECT storage_id, storage FROM berth_storage_binding;', db)).trim();
    assert.equal(row, `${id}|${description}`);
  });

  test('another bucket, another prefix and a data directory are refused with the storage the database belongs to', async (t) => {
    const metadata = await freshDatabase();
    const [first, other] = await Promise.all([s3.createBucket(), s3.createBucket()]);
    const bound = await s3Driver(first);
    const otherBucket = await s3Driver(other);
    const otherPrefix = await s3Driver(first, 'elsewhere/');
    t.after(() => [bound, otherBucket, otherPrefix].forEach((driver) => driver.close()));
    const binding = await bindStorage(bound, `s3://${first}`, metadata);
    assert.ok(binding?.bound);

    const expectRefusal = async (promise: Promise<unknown>, found: RegExp) =>
      assert.rejects(promise, (error: unknown) => {
        assert.ok(error instanceof StorageMismatchError, String(error));
        assert.equal(error.code, 'BERTH_STORAGE_MISMATCH');
        assert.match(error.message, new RegExp(`belongs to the storage s3://${first} \\(storage id ${binding.storageId}, bound `));
        assert.match(error.message, found);
        assert.match(error.message, /start every node with the same --storage as the first one/);
        return true;
      });
    await expectRefusal(bindStorage(otherBucket, `s3://${other}`, metadata), new RegExp(`this node's storage s3://${other} holds no Berth storage id`));
    assert.equal(await readStorageId(otherBucket), undefined, 'nothing was written to the refused bucket');
    await expectRefusal(bindStorage(otherPrefix, `s3://${first}?prefix=elsewhere/`, metadata), /holds no Berth storage id/);

    // A data directory, through the same entry point the CLI and berth serve use.
    const dataDir = await makeTempDir(t);
    await expectRefusal(openStorage(dataDir, { kind: 'filesystem' }, metadata), new RegExp(`this node's storage filesystem ${dataDir} holds no Berth storage id`));
    assert.equal(existsSync(join(dataDir, 'berth-storage-id')), false);

    // A storage bound to another database carries its own id: refused, with that id named.
    const elsewhere = await freshDatabase();
    await bindStorage(otherBucket, `s3://${other}`, elsewhere);
    const otherId = await readStorageId(otherBucket);
    await expectRefusal(bindStorage(otherBucket, `s3://${other}`, metadata), new RegExp(`holds storage id ${otherId}`));
  });

  test('the desktop default writes nothing; a filesystem storage with PostgreSQL gets its id file', async (t) => {
    const dataDir = await makeTempDir(t);
    const opened = await openStorage(dataDir, { kind: 'filesystem' }, { kind: 'file' });
    opened.close();
    assert.equal(existsSync(join(dataDir, 'berth-storage-id')), false, 'no id file without a database');
    const metadata = await freshDatabase();
    const binding = await bindStorage(createFilesystemDriver(dataDir), `filesystem ${dataDir}`, metadata);
    assert.ok(binding?.bound);
    assert.equal(await readStorageId(createFilesystemDriver(dataDir)), binding.storageId);
  });

  test('a bucket that does not answer is said plainly, before any binding', async (t) => {
    const metadata = await freshDatabase();
    const dataDir = await makeTempDir(t);
    const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
    process.env.AWS_ACCESS_KEY_ID = s3.credentials.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = s3.credentials.secretAccessKey;
    t.after(() => {
      process.env.AWS_ACCESS_KEY_ID = saved.id;
      process.env.AWS_SECRET_ACCESS_KEY = saved.secret;
      if (saved.id === undefined) delete process.env.AWS_ACCESS_KEY_ID;
      if (saved.secret === undefined) delete process.env.AWS_SECRET_ACCESS_KEY;
    });
    // Credentials from the AWS environment, as berth serve gets them.
    const good = await openStorage(dataDir, parseStorageOption(`s3://${s3.bucket}?endpoint=${s3.endpoint}&region=${s3.region}`, {}), metadata);
    good.close();
    await assert.rejects(
      openStorage(dataDir, parseStorageOption(`s3://no-such-bucket-here?endpoint=${s3.endpoint}&region=${s3.region}`, {}), metadata),
      (error: unknown) =>
        error instanceof StorageUnavailableError && /^storage s3:\/\/no-such-bucket-here\?.*: bucket not reachable: S3 HeadBucket \(bucket\) failed \(404/.test(error.message),
    );
    process.env.AWS_SECRET_ACCESS_KEY = 'not-the-secret';
    await assert.rejects(
      openStorage(dataDir, parseStorageOption(`s3://${s3.bucket}?endpoint=${s3.endpoint}&region=${s3.region}`, {}), metadata),
      (error: unknown) => error instanceof StorageUnavailableError && /bucket not reachable: S3 HeadBucket \(bucket\) failed \(403/.test(error.message) && !error.message.includes('not-the-secret'),
    );
  });
});
