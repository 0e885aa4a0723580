import assert from 'node:assert/strict';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { describeStorage, parseStorageOption, StorageOptionError, type StorageBackend } from '../../registry/storage/storage-backend.js';
import { makeTempDir } from '../support/temp-dir.js';

/** `--storage` / BERTH_STORAGE: what each URL becomes, and how each mistake is said (before anything starts). */

const refused = (value: string, pattern: RegExp, env: NodeJS.ProcessEnv = {}) =>
  assert.throws(
    () => parseStorageOption(value, env),
    (error: unknown) => error instanceof StorageOptionError && error.code === 'BERTH_STORAGE_OPTION' && pattern.test(error.message),
    `${value} should be refused with ${pattern}`,
  );

describe('parseStorageOption', () => {
  test('nothing, or "filesystem", is the data directory (the desktop default)', () => {
    assert.deepEqual(parseStorageOption(undefined, {}), { kind: 'filesystem' });
    assert.deepEqual(parseStorageOption('filesystem', {}), { kind: 'filesystem' });
    assert.equal(describeStorage(parseStorageOption(undefined, {}), '/data'), 'filesystem /data');
  });

  test('an s3 URL maps to the driver options; the flag wins over BERTH_STORAGE', () => {
    const backend = parseStorageOption('s3://team-images?endpoint=http://127.0.0.1:7480/&region=eu-west-1&prefix=berth/&encryption=sse-s3', {
      BERTH_STORAGE: 's3://other',
    });
    assert.equal(backend.kind, 's3');
    const { options } = backend as Extract<StorageBackend, { kind: 's3' }>;
    assert.deepEqual(options, { bucket: 'team-images', prefix: 'berth/', endpoint: 'http://127.0.0.1:7480', region: 'eu-west-1', encryption: { kind: 'sse-s3' } });
    assert.equal(describeStorage(backend, '/data'), 's3://team-images?endpoint=http://127.0.0.1:7480/&region=eu-west-1&prefix=berth/&encryption=sse-s3');
    const fromEnv = parseStorageOption(undefined, { BERTH_STORAGE: 's3://other?path-style=false&redirects=true' }) as Extract<StorageBackend, { kind: 's3' }>;
    assert.deepEqual(fromEnv.options, { bucket: 'other', forcePathStyle: false, redirects: {} });
  });

  test('credentials in the URL are refused with where they go, and never echoed', () => {
    refused('s3://AKIDEXAMPLE:wJalrXUtnFEMI@bucket', /contains credentials.*AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.*AWS_PROFILE/);
    refused('s3://bucket?endpoint=http://user:pass@127.0.0.1:7480', /endpoint contains credentials.*AWS_ACCESS_KEY_ID/);
    for (const name of ['access_key', 'secretAccessKey', 'session-token', 'sse-c-key', 'password']) {
      refused(`s3://bucket?${name}=s3cr3t`, new RegExp(`"${name}" would carry a secret.*AWS_ACCESS_KEY_ID`));
    }
    try {
      parseStorageOption('s3://AKIDEXAMPLE:wJalrXUtnFEMI@bucket', {});
    } catch (error) {
      assert.ok(!(error as Error).message.includes('wJalrXUtnFEMI'), 'the secret is not in the message');
    }
  });

  test('other mistakes are said in the option\'s terms', () => {
    refused('s3://bucket?endpoit=http://x', /unknown parameter "endpoit" \(known: endpoint, region, prefix, encryption, path-style, redirects\)/);
    refused('s3://bucket?endpoint=127.0.0.1:7480', /endpoint "127\.0\.0\.1:7480" is not a URL \(such as http:\/\/127\.0\.0\.1:7480/);
    refused('s3://bucket?endpoint=ftp://s3.example.net', /endpoint "ftp:\/\/s3\.example\.net" must be http:\/\/ or https:\/\//);
    refused('s3://bucket?endpoint=not a url', /endpoint "not a url" is not a URL/);
    refused('s3://bucket?encryption=aes', /encryption "aes" is unknown \(none, sse-s3 or sse-c\)/);
    refused('s3://bucket?encryption=sse-c', /encryption=sse-c needs its 32-byte key in a file \(mode 0600\) named by BERTH_STORAGE_SSE_C_KEY_FILE/);
    refused('s3://Bad_Bucket', /not a valid S3 bucket name/);
    refused('s3://bucket/images', /put the key prefix in prefix=/);
    refused('s3://bucket:9000', /a bucket has no port: put the service's address in endpoint=/);
    refused('s3://bucket?region=x&region=y', /parameter "region" is given twice/);
    refused('s3://bucket?prefix=../up', /prefix "\.\.\/up" must be a key prefix/);
    refused('s3://bucket?path-style=yes', /path-style must be true or false/);
    refused('gs://bucket', /unsupported backend "gs" \(use filesystem, or s3:\/\/BUCKET/);
    refused('bucket', /"bucket" is not a URL: use filesystem, or s3:\/\//);
    assert.throws(() => parseStorageOption(undefined, { BERTH_STORAGE: 'gs://x' }), /^StorageOptionError: BERTH_STORAGE: unsupported backend/);
  });

  test('an SSE-C key comes from an owner-only file, raw or base64; redirects cannot go with it', async (t) => {
    const dir = await makeTempDir(t);
    const file = join(dir, 'sse-c.key');
    const key = Buffer.alloc(32, 7);
    await writeFile(file, `${key.toString('base64')}\n`, { mode: 0o600 });
    const env = { BERTH_STORAGE_SSE_C_KEY_FILE: file };
    const backend = parseStorageOption('s3://bucket?encryption=sse-c', env) as Extract<StorageBackend, { kind: 's3' }>;
    assert.deepEqual(backend.options.encryption, { kind: 'sse-c', key: new Uint8Array(key) });
    assert.ok(!describeStorage(backend, '/data').includes(key.toString('base64')), 'the key is not in the description');
    refused('s3://bucket?encryption=sse-c&redirects=true', /redirects=true is impossible with encryption=sse-c/, env);
    await chmod(file, 0o644);
    refused('s3://bucket?encryption=sse-c', /BERTH_STORAGE_SSE_C_KEY_FILE: .* is readable by others \(mode 644\): chmod 600/, env);
    await writeFile(file, 'short', { mode: 0o600 });
    await chmod(file, 0o600);
    refused('s3://bucket?encryption=sse-c', /must hold a 32-byte key, raw or base64/, env);
  });
});
