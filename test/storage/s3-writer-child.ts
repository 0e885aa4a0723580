import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { createS3Driver, type S3DriverOptions } from '../../registry/storage/s3-driver.js';

/**
 * A Berth node that dies mid-push, for s3-driver-recovery.test.ts: `node s3-writer-child.js <path>` with the driver
 * options as JSON in BERTH_TEST_S3_OPTIONS streams deterministic bytes (deterministicBytes) into a writer and never
 * stops, until the test kills it. Without arguments it does nothing (node --test may load every file under dist/test/).
 */
export function deterministicChunk(index: number, size = 1024 * 1024): Buffer {
  // A hash chain: cheap, and the parent can recompute exactly what the child sent.
  const out = Buffer.allocUnsafe(size);
  let block = createHash('sha256').update(`chunk-${index}`).digest();
  for (let offset = 0; offset < size; offset += block.length) {
    block.copy(out, offset);
    block = createHash('sha256').update(block).digest();
  }
  return out;
}

async function main(): Promise<void> {
  const [path] = process.argv.slice(2);
  const options = process.env.BERTH_TEST_S3_OPTIONS;
  if (!path || !options) return;
  const driver = await createS3Driver(JSON.parse(options) as S3DriverOptions);
  const writer = await driver.writer(path);
  process.stdout.write(`writing from ${writer.initialSize}\n`);
  const endless = Readable.from(
    (function* () {
      for (let index = 0; ; index++) yield deterministicChunk(index);
    })(),
  );
  endless.pipe(writer.stream);
}

await main();
