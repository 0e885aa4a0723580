import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { inspect } from 'node:util';
import { readMasterKey } from '../../registry/state/master-key.js';
import { checkMasterKey, openSharedKey, parseMetadataOption } from '../../registry/state/metadata-backend.js';
import { makeTempDir } from '../support/temp-dir.js';
import { requireTools, runOk, toolSkipReason } from '../support/tools.js';

/** The operator's master key (BERTH_MASTER_KEY_FILE / BERTH_MASTER_KEY): how it is read, and what is refused. */

const url = 'postgres://berth@db.internal:5432/berth';

async function keyFile(dir: string, content: string | Buffer, mode = 0o600): Promise<string> {
  const path = join(dir, `master-${randomBytes(4).toString('hex')}.key`);
  await writeFile(path, content, { mode });
  await chmod(path, mode);
  return path;
}

test('a key file as "openssl rand -base64 32" writes it is read; 32 raw bytes are read as they are', async (t) => {
  const dir = await makeTempDir(t);
  const key = randomBytes(32);
  const base64 = await keyFile(dir, `${key.toString('base64')}\n`);
  assert.ok(readMasterKey({ BERTH_MASTER_KEY_FILE: base64 })?.bytes().equals(key));
  const raw = await keyFile(dir, key);
  assert.ok(readMasterKey({ BERTH_MASTER_KEY_FILE: raw })?.bytes().equals(key));
});

test('a key made with the very command the messages and the README give is read', { skip: toolSkipReason('openssl') }, async (t) => {
  const [openssl] = requireTools('openssl');
  const made = join(await makeTempDir(t), 'master.key');
  await runOk('sh', ['-c', `"$0" rand -base64 32 > "$1" && chmod 600 "$1"`, openssl!, made]);
  assert.equal(readMasterKey({ BERTH_MASTER_KEY_FILE: made })?.bytes().length, 32);
});

test('BERTH_MASTER_KEY takes base64 (either alphabet); a value of another size is refused without echoing it', () => {
  const key = randomBytes(32);
  assert.ok(readMasterKey({ BERTH_MASTER_KEY: key.toString('base64') })?.bytes().equals(key));
  assert.ok(readMasterKey({ BERTH_MASTER_KEY: ` ${key.toString('base64url')}\n` })?.bytes().equals(key));
  const short = randomBytes(16).toString('base64');
  assert.throws(
    () => readMasterKey({ BERTH_MASTER_KEY: short }),
    (error: Error & { code?: string }) =>
      error.code === 'BERTH_METADATA_OPTION' && /BERTH_MASTER_KEY is not 32 bytes in base64/.test(error.message) && !error.message.includes(short),
  );
  assert.equal(readMasterKey({}), undefined);
});

test('a key file that group or others can read is refused with the chmod to run; so is a missing or malformed one', async (t) => {
  const dir = await makeTempDir(t);
  const loose = await keyFile(dir, `${randomBytes(32).toString('base64')}\n`, 0o644);
  assert.throws(() => readMasterKey({ BERTH_MASTER_KEY_FILE: loose }), new RegExp(`BERTH_MASTER_KEY_FILE: ${loose} is readable by others \\(mode 644\\): chmod 600 ${loose}$`));
  const groupOnly = await keyFile(dir, randomBytes(32), 0o640);
  assert.throws(() => readMasterKey({ BERTH_MASTER_KEY_FILE: groupOnly }), /is readable by others \(mode 640\)/);
  assert.throws(() => readMasterKey({ BERTH_MASTER_KEY_FILE: join(dir, 'missing') }), /BERTH_MASTER_KEY_FILE: cannot read .*missing: ENOENT/);
  const folder = join(dir, 'folder');
  await mkdir(folder, { mode: 0o700 });
  assert.throws(() => readMasterKey({ BERTH_MASTER_KEY_FILE: folder }), /is not a file/);
  const short = await keyFile(dir, 'hunter2\n');
  assert.throws(
    () => readMasterKey({ BERTH_MASTER_KEY_FILE: short }),
    (error: Error) => /holds 8 bytes, not a master key \(32 random bytes, raw or base64\): make one with openssl rand -base64 32 >/.test(error.message) && !error.message.includes('hunter2'),
  );
});

test('both variables set is refused: one source, no guessing which wins', async (t) => {
  const dir = await makeTempDir(t);
  const file = await keyFile(dir, randomBytes(32));
  assert.throws(() => readMasterKey({ BERTH_MASTER_KEY_FILE: file, BERTH_MASTER_KEY: randomBytes(32).toString('base64') }), /both BERTH_MASTER_KEY_FILE and BERTH_MASTER_KEY are set: set one/);
});

test('the key bytes never show in JSON or util.inspect of the backend (logs, error reports)', async (t) => {
  const dir = await makeTempDir(t);
  const key = randomBytes(32);
  const file = await keyFile(dir, `${key.toString('base64')}\n`);
  const backend = parseMetadataOption(url, { BERTH_MASTER_KEY_FILE: file });
  assert.equal(backend.kind === 'postgres' && backend.masterKey?.source, `BERTH_MASTER_KEY_FILE ${file}`);
  for (const text of [JSON.stringify(backend), inspect(backend, { depth: 10, showHidden: true })]) {
    for (const encoding of ['base64', 'base64url', 'hex'] as const) assert.ok(!text.includes(key.toString(encoding)), `${encoding} of the key in ${text}`);
    assert.match(text, /master key from BERTH_MASTER_KEY_FILE/);
  }
});

test('PostgreSQL metadata without a master key: refused where a shared key is needed, saying how to make one; the file backend needs none', async (t) => {
  const dir = await makeTempDir(t);
  const backend = parseMetadataOption(url, { PGPASSWORD: 'x' });
  const recipe = /neither BERTH_MASTER_KEY_FILE nor BERTH_MASTER_KEY is set: openssl rand -base64 32 > \/etc\/berth\/master\.key && chmod 600 \/etc\/berth\/master\.key, then give every node the same file/;
  assert.throws(() => checkMasterKey(backend), (error: Error & { code?: string }) => error.code === 'BERTH_METADATA_OPTION' && recipe.test(error.message));
  // Refused before any connection is tried: db.internal does not resolve here, and the message is the key's.
  await assert.rejects(openSharedKey(dir, backend, 'jwt'), recipe);
  checkMasterKey({ kind: 'file' });
  // The file backend ignores the variables: a loose key file left in the environment does not stop a desktop Berth.
  const loose = await keyFile(dir, randomBytes(32), 0o644);
  assert.deepEqual(parseMetadataOption(undefined, { BERTH_MASTER_KEY_FILE: loose }), { kind: 'file' });
  assert.equal((await openSharedKey(dir, { kind: 'file' }, 'jwt')).length, 32);
});
