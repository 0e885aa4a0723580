import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { inspect } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { createS3Driver, EncryptionNotConfirmedError, S3RequestError, type S3StorageDriver } from '../../registry/storage/s3-driver.js';
import { radosgwSkipReason, startRadosgw, type RadosgwServer } from '../support/services/radosgw.js';
import { radosgwDriverOptions } from './s3-backend.js';

/**
 * The S3 driver's options on a real radosgw: encryption (SSE-C works on radosgw 16; SSE-S3 is not implemented
 * there, which the driver must refuse rather than store plaintext), pre-signed redirects (off by default),
 * credentials from the environment and never in an error, and the multipart copy path of big moves.
 */
const MiB = 1024 * 1024;

describe('S3 driver options', { skip: radosgwSkipReason(), timeout: 10 * 60_000 }, () => {
  let server: RadosgwServer;
  let raw: S3Client;
  const drivers: S3StorageDriver[] = [];
  const open = async (...args: Parameters<typeof radosgwDriverOptions>) => {
    const driver = await createS3Driver(radosgwDriverOptions(...args));
    drivers.push(driver);
    return driver;
  };
  before(async () => {
    server = await startRadosgw();
    raw = new S3Client({ endpoint: server.endpoint, region: server.region, forcePathStyle: true, credentials: server.credentials, requestChecksumCalculation: 'WHEN_REQUIRED' });
  });
  after(async () => {
    for (const driver of drivers) driver.close();
    raw?.destroy();
    await server?.stop();
  });

  test('SSE-C: every write path stores ciphertext only the key opens; the driver with the key reads it back', async () => {
    const key = randomBytes(32);
    const bucket = await server.createBucket();
    const driver = await open(server, bucket, { encryption: { kind: 'sse-c', key } });
    const small = randomBytes(1000);
    await driver.putContent('/small', small);
    // Writers that resume a short object (read back), a long one (server-side copy) and a short last part
    // (completed, then copied), then a move (radosgw 16 refuses CopyObject of SSE-C objects: part by part).
    const pieces = [randomBytes(2 * MiB), randomBytes(5 * MiB), randomBytes(MiB), randomBytes(MiB)];
    for (const [index, piece] of pieces.entries()) {
      const writer = await driver.writer('/upload');
      await pipeline(Readable.from([piece]), writer.stream);
      await (index % 2 === 1 ? writer.commit() : writer.close());
    }
    await driver.move('/upload', '/blob');
    assert.deepEqual(await driver.getContent('/small'), small);
    assert.equal(sha256(await driver.getContent('/blob')), sha256(Buffer.concat(pieces)));
    for (const objectKey of ['small', 'blob']) {
      const error = await raw.send(new GetObjectCommand({ Bucket: bucket, Key: objectKey })).then(() => undefined, (failure: unknown) => failure);
      assert.ok(error, `${objectKey} cannot be read without the key`);
    }
    const otherKey = await open(server, bucket, { encryption: { kind: 'sse-c', key: randomBytes(32) } });
    await assert.rejects(otherKey.getContent('/small'), S3RequestError, 'another key does not open it');
    assert.equal(await driver.redirectUrl('/blob'), undefined, 'no redirects with SSE-C: the client has no key');
  });

  test('SSE-S3 on a service that does not confirm it (radosgw 16) is refused before anything is stored', async () => {
    const bucket = await server.createBucket();
    await assert.rejects(createS3Driver(radosgwDriverOptions(server, bucket, { encryption: { kind: 'sse-s3' } })), EncryptionNotConfirmedError);
    const plain = await open(server, bucket);
    assert.deepEqual(await plain.list('/'), [], 'the probe object was removed');
  });

  test('pre-signed redirects are off by default; when on, the URL serves the blob (whole and ranged) without credentials', async () => {
    const data = randomBytes(2 * MiB + 3);
    const byDefault = await open(server);
    await byDefault.putContent('/blobs/sha256/ab/abcd/data', data);
    assert.equal(await byDefault.redirectUrl('/blobs/sha256/ab/abcd/data'), undefined);
    const redirecting = await open(server, server.bucket, { redirects: { expiresInSeconds: 60 } });
    const url = await redirecting.redirectUrl('/blobs/sha256/ab/abcd/data');
    assert.ok(url !== undefined && url.startsWith(server.endpoint), url);
    const whole = await fetch(url);
    assert.equal(whole.status, 200);
    assert.equal(sha256(Buffer.from(await whole.arrayBuffer())), sha256(data));
    const ranged = await fetch(url, { headers: { Range: 'bytes=10-19' } });
    assert.equal(ranged.status, 206);
    assert.deepEqual(Buffer.from(await ranged.arrayBuffer()), data.subarray(10, 20));
    await assert.rejects(redirecting.redirectUrl('/blobs/sha256/ab/missing/data'), { name: 'PathNotFoundError' });
  });

  test('credentials come from the standard AWS environment; a wrong secret fails with a message that does not contain it', async () => {
    const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
    process.env.AWS_ACCESS_KEY_ID = server.credentials.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = server.credentials.secretAccessKey;
    try {
      const fromEnvironment = await open(server, server.bucket, { credentials: undefined });
      await fromEnvironment.putContent('/env', 'from the environment');
      assert.equal((await fromEnvironment.getContent('/env')).toString(), 'from the environment');
    } finally {
      restore('AWS_ACCESS_KEY_ID', saved.id);
      restore('AWS_SECRET_ACCESS_KEY', saved.secret);
    }
    const secret = `wrong-${randomBytes(12).toString('hex')}`;
    const error = await createS3Driver(radosgwDriverOptions(server, server.bucket, { credentials: { accessKeyId: server.credentials.accessKeyId, secretAccessKey: secret } })).then(
      () => undefined,
      (failure: unknown) => failure,
    );
    assert.ok(error instanceof S3RequestError, String(error));
    assert.equal(error.status, 403);
    assert.ok(!inspect(error, { depth: 8 }).includes(secret), 'the secret is nowhere in the error');
  });

  test('moves above the copy threshold go part by part (UploadPartCopy in parallel) and arrive intact', async () => {
    const driver = await open(server, server.bucket, { multipartCopyThresholdBytes: 8 * MiB, copyPartSizeBytes: 10 * MiB, copyConcurrency: 3 });
    const data = randomBytes(45 * MiB + 17);
    await driver.putContent('/big-upload', data);
    await driver.move('/big-upload', '/big-blob');
    assert.equal(sha256(await driver.getContent('/big-blob')), sha256(data));
    // The same object through a writer's server-side copy of five ranges (an append to a 45 MiB object).
    const writer = await driver.writer('/big-blob');
    await pipeline(Readable.from([Buffer.from('tail')]), writer.stream);
    await writer.commit();
    assert.equal(sha256(await driver.getContent('/big-blob')), sha256(Buffer.concat([data, Buffer.from('tail')])));
  });

  test('option values S3 would refuse are refused when the driver is created', async () => {
    await assert.rejects(createS3Driver(radosgwDriverOptions(server, server.bucket, { partSizeBytes: MiB })), RangeError);
    await assert.rejects(createS3Driver(radosgwDriverOptions(server, server.bucket, { encryption: { kind: 'sse-c', key: randomBytes(16) } })), RangeError);
    await assert.rejects(createS3Driver(radosgwDriverOptions(server, 'no-such-bucket-here')), (error: unknown) => error instanceof S3RequestError && error.status === 404);
  });
});

function restore(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
