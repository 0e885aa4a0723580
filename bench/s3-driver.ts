import { randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { createS3Driver, type S3DriverOptions } from '../registry/storage/s3-driver.js';
import { startRadosgw } from '../test/support/services/radosgw.js';

/**
 * Throughput of the S3 storage driver against a throwaway radosgw, beside the bare SDK on the same service
 * (one PutObject of the whole buffer, one streamed GetObject) as the ceiling:
 *   tsc -p tsconfig.json && node dist/bench/s3-driver.js [--mib 256] [--runs 3] [--part-mib 16]
 * Prints the radosgw start time and the best of each figure in MiB/s.
 */
const { values: flags } = parseArgs({
  options: { mib: { type: 'string', default: '256' }, runs: { type: 'string', default: '3' }, 'part-mib': { type: 'string', default: '16' } },
});
const MiB = 1024 * 1024;
const size = Number(flags.mib) * MiB;
const runs = Number(flags.runs);

const server = await startRadosgw();
console.log(`radosgw started in ${(server.startupMs / 1000).toFixed(2)} s`);
try {
  const options: S3DriverOptions = {
    bucket: server.bucket,
    endpoint: server.endpoint,
    region: server.region,
    credentials: server.credentials,
    partSizeBytes: Number(flags['part-mib']) * MiB,
  };
  const driver = await createS3Driver(options);
  const raw = new S3Client({ endpoint: server.endpoint, region: server.region, forcePathStyle: true, credentials: server.credentials, requestChecksumCalculation: 'WHEN_REQUIRED' });
  // 1 MiB chunks, made once: the figures are the store's and the driver's, not the random generator's.
  const chunks = Array.from({ length: size / MiB }, () => randomBytes(MiB));
  const whole = Buffer.concat(chunks);
  const discard = () => new Writable({ highWaterMark: MiB, write: (_chunk, _encoding, callback) => callback() });
  const best: Record<string, number> = {};
  const time = async (label: string, work: () => Promise<void>) => {
    const started = performance.now();
    await work();
    const rate = size / MiB / ((performance.now() - started) / 1000);
    best[label] = Math.max(best[label] ?? 0, rate);
  };
  for (let run = 0; run < runs; run++) {
    await time('sdk PutObject', async () => {
      await raw.send(new PutObjectCommand({ Bucket: server.bucket, Key: 'bench/raw', Body: whole, ContentLength: whole.length }));
    });
    await time('sdk GetObject', async () => {
      const got = await raw.send(new GetObjectCommand({ Bucket: server.bucket, Key: 'bench/raw' }));
      await pipeline(got.Body as Readable, discard());
    });
    await time('driver writer+commit', async () => {
      const writer = await driver.writer(`/bench/driver-${run}`);
      await pipeline(Readable.from(chunks), writer.stream);
      await writer.commit();
    });
    await time('driver move (server-side copy)', async () => {
      await driver.move(`/bench/driver-${run}`, `/bench/moved-${run}`);
    });
    await time('driver reader', async () => {
      await pipeline(await driver.reader(`/bench/moved-${run}`), discard());
    });
    await time('driver copyTo', async () => {
      await driver.copyTo(`/bench/moved-${run}`, discard(), { start: 0, end: size - 1 });
    });
    await driver.delete('/bench');
  }
  for (const [label, rate] of Object.entries(best)) console.log(`${label.padEnd(32)} ${rate.toFixed(0).padStart(6)} MiB/s`);
  driver.close();
  raw.destroy();
} finally {
  await server.stop();
}
