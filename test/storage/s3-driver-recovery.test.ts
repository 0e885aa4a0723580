import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { AbortMultipartUploadCommand, CreateMultipartUploadCommand, ListMultipartUploadsCommand, S3Client, UploadPartCommand } from '@aws-sdk/client-s3';
import type { S3StorageDriver } from '../../registry/storage/s3-driver.js';
import { radosgwSkipReason } from '../support/services/radosgw.js';
import { trackChild } from '../support/tools.js';
import { radosgwDriverOptions, startS3Backend } from './s3-backend.js';
import { deterministicChunk } from './s3-writer-child.js';

/**
 * What only the S3 backend can get wrong: a node killed mid-push, appends interrupted half-way, leftovers of
 * both, and how purgeLeftovers tells them from live uploads. The state is made with a raw S3 client where a
 * test needs one that only a crash at a precise moment would leave.
 */
const MiB = 1024 * 1024;
const childScript = fileURLToPath(new URL('./s3-writer-child.js', import.meta.url));

describe('S3 driver: recovery from S3 state alone', { skip: radosgwSkipReason(), timeout: 10 * 60_000 }, () => {
  let backend: Awaited<ReturnType<typeof startS3Backend>>;
  let driver: S3StorageDriver;
  let raw: S3Client;
  let bucket: string;
  before(async () => {
    backend = await startS3Backend();
    driver = backend.driver;
    bucket = backend.server.bucket;
    raw = new S3Client({ endpoint: backend.server.endpoint, region: backend.server.region, forcePathStyle: true, credentials: backend.server.credentials, requestChecksumCalculation: 'WHEN_REQUIRED' });
  });
  after(async () => {
    raw?.destroy();
    await backend?.close();
  });

  const uploadsOf = async (key: string) => ((await raw.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: key }))).Uploads ?? []).filter((upload) => upload.Key === key);

  test('a node killed (SIGKILL) mid-write loses nothing another node cannot resume', { timeout: 180_000 }, async () => {
    const path = '/repositories/team/app/_uploads/killed/data';
    const child = spawn(process.execPath, [childScript, path], {
      env: { ...process.env, BERTH_TEST_S3_OPTIONS: JSON.stringify(radosgwDriverOptions(backend.server)) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    trackChild(child);
    const exited = new Promise((resolve) => child.once('exit', resolve));
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (output += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (output += text));
    // Until at least two parts (2 x 16 MiB) are in S3, as stat on another node sees them.
    const deadline = Date.now() + 120_000;
    let size = 0;
    while (size < 32 * MiB) {
      assert.ok(Date.now() < deadline, `the child stored ${size} bytes in time; it said: ${output}`);
      assert.equal(child.exitCode, null, `the child is still writing; it said: ${output}`);
      size = await driver.stat(path).then((info) => info.size, () => 0);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    child.kill('SIGKILL');
    await exited;
    // Parts in flight at the kill may or may not have landed: what counts is that stat and the next writer agree.
    const resumed = await (await backend.another()).writer(path);
    const kept = (await driver.stat(path)).size;
    assert.equal(resumed.initialSize, kept);
    assert.ok(kept >= 32 * MiB && kept % MiB === 0, `whole parts survive the kill (${kept} bytes)`);
    const tail = randomBytes(3 * MiB);
    await pipeline(Readable.from([tail]), resumed.stream);
    await resumed.commit();
    const expected = createHash('sha256');
    for (let index = 0; index < kept / MiB; index++) expected.update(deterministicChunk(index));
    expected.update(tail);
    assert.equal(await sha256Of(await driver.reader(path)), expected.digest('hex'), 'what the dead node stored, then the rest');
  });

  test('an append interrupted after its upload started (the object still there) resumes from the object', async () => {
    const path = '/repositories/team/app/_uploads/interrupted/data';
    const key = path.slice(1);
    const base = randomBytes(6 * MiB);
    await driver.putContent(path, base);
    // A writer died after creating its upload and copying part of the object: the object is the truth.
    const { UploadId } = await raw.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
    await raw.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: 1, Body: randomBytes(5 * MiB) }));
    assert.equal((await driver.stat(path)).size, base.length, 'stat reports the object');
    const writer = await driver.writer(path);
    assert.equal(writer.initialSize, base.length);
    const more = randomBytes(MiB);
    await pipeline(Readable.from([more]), writer.stream);
    await writer.commit();
    assert.equal(await sha256Of(await driver.reader(path)), sha256(Buffer.concat([base, more])));
    assert.equal((await uploadsOf(key)).length, 0, 'the writer aborted the leftover upload');
  });

  test('purgeLeftovers aborts only uploads that no longer hold a path’s content, and only old ones', async () => {
    const live = 'repositories/team/app/_uploads/live/data';
    const superseded = 'repositories/team/app/_uploads/superseded/data';
    // A closed writer: its upload is the path's content.
    const writer = await driver.writer(`/${live}`);
    await pipeline(Readable.from([randomBytes(6 * MiB)]), writer.stream);
    await writer.close();
    assert.equal((await uploadsOf(live)).length, 1);
    // An object with a stray upload beside it: what an interrupted append leaves.
    await driver.putContent(`/${superseded}`, 'committed');
    await raw.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: superseded }));
    assert.equal(await driver.purgeLeftovers(60 * 60_000), 0, 'nothing is an hour old');
    assert.equal(await driver.purgeLeftovers(0), 1, 'the stray upload goes');
    assert.equal((await uploadsOf(superseded)).length, 0);
    assert.equal((await uploadsOf(live)).length, 1, 'the live upload stays');
    assert.equal((await driver.getContent(`/${superseded}`)).toString(), 'committed');
    assert.equal((await driver.stat(`/${live}`)).size, 6 * MiB);
  });

  test('deleting an upload session aborts its unfinished upload, so no stale bytes come back', async () => {
    const session = '/repositories/team/app/_uploads/cancelled';
    await driver.putContent(`${session}/startedat`, new Date().toISOString());
    const writer = await driver.writer(`${session}/data`);
    await pipeline(Readable.from([randomBytes(6 * MiB)]), writer.stream);
    await writer.close();
    assert.deepEqual((await driver.list(session)).sort(), ['data', 'startedat']);
    await driver.delete(session);
    assert.equal((await uploadsOf(`${session.slice(1)}/data`)).length, 0);
    await assert.rejects(driver.stat(`${session}/data`));
    assert.equal((await driver.writer(`${session}/data`)).initialSize, 0, 'a new writer starts empty');
  });

  test('a writer whose upload another node aborted fails loudly instead of storing a partial object', async () => {
    const path = '/repositories/team/app/_uploads/aborted/data';
    const first = await driver.writer(path);
    await pipeline(Readable.from([randomBytes(6 * MiB)]), first.stream);
    await first.close();
    const second = await driver.writer(path);
    const [upload] = await uploadsOf(path.slice(1));
    await raw.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: path.slice(1), UploadId: upload?.UploadId }));
    // radosgw answers NoSuchUpload, or closes the connection while the part is still being sent.
    await assert.rejects(pipeline(Readable.from([randomBytes(20 * MiB)]), second.stream), /S3 UploadPart/);
    await second.close();
    await assert.rejects(driver.getContent(path));
  });
});

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

async function sha256Of(stream: Readable): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
