import assert from 'node:assert/strict';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { describeMetadata, parseMetadataOption } from '../../registry/state/metadata-backend.js';
import { makeTempDir } from '../support/temp-dir.js';

const url = 'postgres://berth@db.internal:5432/berth';

test('no flag and no BERTH_METADATA, or "file", is state.json in the data directory', () => {
  assert.deepEqual(parseMetadataOption(undefined, {}), { kind: 'file' });
  assert.deepEqual(parseMetadataOption('file', {}), { kind: 'file' });
  assert.deepEqual(parseMetadataOption(undefined, { BERTH_METADATA: ' file ' }), { kind: 'file' });
  assert.equal(describeMetadata({ kind: 'file' }, '/data'), '/data/state.json');
});

test('--metadata wins over BERTH_METADATA; the password comes from PGPASSWORD', () => {
  assert.deepEqual(parseMetadataOption(url, { BERTH_METADATA: 'file', PGPASSWORD: 's3cret' }), { kind: 'postgres', target: { url, password: 's3cret' } });
  assert.deepEqual(parseMetadataOption(undefined, { BERTH_METADATA: url }), { kind: 'postgres', target: { url } });
  assert.equal(describeMetadata(parseMetadataOption(url, {}), '/data'), url);
});

test('a URL with a password is refused, saying where the password goes and without repeating it', () => {
  assert.throws(
    () => parseMetadataOption('postgres://berth:hunter2@db:5432/berth', {}),
    (error: Error & { code?: string }) =>
      error.code === 'BERTH_METADATA_OPTION' && /--metadata: the URL contains a password/.test(error.message) && /PGPASSWORD/.test(error.message) && !error.message.includes('hunter2'),
  );
  assert.throws(() => parseMetadataOption(undefined, { BERTH_METADATA: 'postgres://berth:x@db/berth' }), /^Error: BERTH_METADATA: the URL contains a password|BERTH_METADATA: the URL contains a password/);
});

test('what is not a PostgreSQL URL naming a host and a database is refused in the option\'s terms', () => {
  assert.throws(() => parseMetadataOption('localhost:5432', {}), /unsupported backend "localhost"|is not a URL/);
  assert.throws(() => parseMetadataOption('not a url', {}), /--metadata "not a url" is not a URL: use file, or postgres:\/\//);
  assert.throws(() => parseMetadataOption('mysql://db/berth', {}), /unsupported backend "mysql"/);
  assert.throws(() => parseMetadataOption('postgres://berth@db:5432/', {}), /names no database/);
});

test('BERTH_METADATA_PASSWORD_FILE: read when owner-only (trailing newline dropped), refused when others can read it', async (t) => {
  const dir = await makeTempDir(t);
  const file = join(dir, 'password');
  await writeFile(file, 'from-file\n', { mode: 0o600 });
  await chmod(file, 0o600);
  assert.deepEqual(parseMetadataOption(url, { BERTH_METADATA_PASSWORD_FILE: file }), { kind: 'postgres', target: { url, password: 'from-file' } });
  await chmod(file, 0o640);
  assert.throws(() => parseMetadataOption(url, { BERTH_METADATA_PASSWORD_FILE: file }), /is readable by others \(mode 640\): chmod 600/);
  assert.throws(() => parseMetadataOption(url, { BERTH_METADATA_PASSWORD_FILE: join(dir, 'missing') }), /cannot read .*missing: ENOENT/);
});

test('a database nobody answers at fails the open at once, naming the URL (no hang)', async (t) => {
  const { freePort } = await import('../support/net.js');
  const { openStateStore } = await import('../../registry/state/metadata-backend.js');
  const dir = await makeTempDir(t);
  const nowhere = `postgres://berth@127.0.0.1:${await freePort()}/berth`;
  const started = Date.now();
  await assert.rejects(openStateStore(dir, parseMetadataOption(nowhere, { PGPASSWORD: 'x' })), (error: Error) =>
    error.message.startsWith(`metadata database ${nowhere}: `) && /ECONNREFUSED/.test(error.message));
  assert.ok(Date.now() - started < 5000);
});
