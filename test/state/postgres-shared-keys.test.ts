import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { loadOrCreateJwtKey } from '../../registry/auth/jwt.js';
import { createSecretBox } from '../../registry/auth/secret-box.js';
import { MasterKey } from '../../registry/state/master-key.js';
import { openSecretBox, openSharedKey, rotateMasterKey } from '../../registry/state/metadata-backend.js';
import { openPostgresDatabase } from '../../registry/state/postgres/database.js';
import { migrate } from '../../registry/state/postgres/migrations.js';
import { migrations } from '../../registry/state/postgres/migration-list.js';
import { migratedDatabase, postgresBackendOf } from './postgres-databases.js';
import { postgresForFile, type PostgresDatabaseInfo } from '../support/services/postgres.js';
import { makeTempDir } from '../support/temp-dir.js';

/**
 * The keys every node shares, in a real PostgreSQL: created once by whichever node comes first, sealed with the
 * operator's master key, refused (never replaced) under another master key.
 */

const postgres = postgresForFile();
const { skip } = postgres;

const masterKey = (bytes = randomBytes(32)) => new MasterKey(bytes, 'BERTH_MASTER_KEY');

/** A node's own (empty) data directory. */
const nodeDir = async (t: TestContext, name: string) => {
  const dir = join(await makeTempDir(t), name);
  await mkdir(dir, { mode: 0o700 });
  return dir;
};

async function rows(info: PostgresDatabaseInfo): Promise<Array<{ name: string; sealed: string }>> {
  const database = openPostgresDatabase({ url: info.url, password: info.connection.password });
  try {
    return (await database.pool.query<{ name: string; sealed: string }>('SELECT name, sealed FROM berth_secrets ORDER BY name')).rows.map((row) => ({ ...row }));
  } finally {
    await database.close();
  }
}

test('two nodes with their own data directories get the same keys from the database, and write no key files', { skip }, async (t) => {
  const info = await migratedDatabase(postgres.server());
  const key = masterKey();
  const [a, b] = [await nodeDir(t, 'a'), await nodeDir(t, 'b')];
  const jwtA = await openSharedKey(a, postgresBackendOf(info, key), 'jwt');
  const jwtB = await openSharedKey(b, postgresBackendOf(info, key), 'jwt');
  assert.equal(jwtA.length, 32);
  assert.ok(jwtA.equals(jwtB), 'node B signs with the key node A made');
  const boxA = await openSharedKey(a, postgresBackendOf(info, key), 'secretBox');
  assert.ok(boxA.equals(await openSharedKey(b, postgresBackendOf(info, key), 'secretBox')));
  assert.ok(!boxA.equals(jwtA), 'one key per purpose');
  assert.deepEqual((await rows(info)).map((row) => row.name), ['jwt-signing-key', 'secret-box-key']);
  for (const dir of [a, b]) assert.deepEqual(await readdir(dir), [], `nothing written to ${dir}`);
});

test('an upstream password sealed through node A opens through node B', { skip }, async (t) => {
  const info = await migratedDatabase(postgres.server());
  const key = masterKey();
  const sealed = (await openSecretBox(await nodeDir(t, 'a'), postgresBackendOf(info, key))).seal('registry-password');
  assert.equal((await openSecretBox(await nodeDir(t, 'b'), postgresBackendOf(info, key))).open(sealed), 'registry-password');
  // A node on its own files (the desktop default) cannot open it: the key is the database's, not a random local one.
  const desktop = await createSecretBox(await nodeDir(t, 'desktop'));
  assert.throws(() => desktop.open(sealed), /unable to authenticate data/);
});

test('nodes starting at once agree on one key: one row per name, whoever inserted first', { skip }, async (t) => {
  const info = await migratedDatabase(postgres.server());
  const key = masterKey();
  const dirs = await Promise.all(Array.from({ length: 6 }, (_, i) => nodeDir(t, `node-${i}`)));
  const keys = await Promise.all(dirs.map((dir) => openSharedKey(dir, postgresBackendOf(info, key), 'jwt')));
  assert.ok(keys.every((k) => k.equals(keys[0]!)), 'six nodes, one key');
  assert.equal((await rows(info)).length, 1);
});

test('the table holds only ciphertext: the key bytes are not in it in any encoding', { skip }, async (t) => {
  const info = await migratedDatabase(postgres.server());
  const key = masterKey();
  const dir = await nodeDir(t, 'a');
  const secrets = [await openSharedKey(dir, postgresBackendOf(info, key), 'jwt'), await openSharedKey(dir, postgresBackendOf(info, key), 'secretBox')];
  const stored = await rows(info);
  const dump = await postgres.server().psql('COPY berth_secrets TO STDOUT;', info.name);
  for (const secret of [...secrets, key.bytes()]) {
    for (const encoding of ['base64', 'base64url', 'hex', 'latin1'] as const) {
      const text = secret.toString(encoding).replace(/=+$/, '');
      assert.ok(!dump.includes(text), `the ${encoding} form of a key is in the table`);
      for (const row of stored) assert.ok(!row.sealed.includes(text));
    }
  }
  // Each row is sealed as the secret box seals (v1.<iv>.<tag>.<ciphertext>), with a nonce of its own.
  for (const row of stored) assert.match(row.sealed, /^v1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]+$/);
  assert.notEqual(stored[0]!.sealed.split('.')[1], stored[1]!.sealed.split('.')[1]);
});

test('another master key is refused with a message saying so, and the stored key stays as it was', { skip }, async (t) => {
  const info = await migratedDatabase(postgres.server());
  const dir = await nodeDir(t, 'a');
  const right = masterKey();
  const jwt = await openSharedKey(dir, postgresBackendOf(info, right), 'jwt');
  const before = await rows(info);
  await assert.rejects(
    openSharedKey(dir, postgresBackendOf(info, new MasterKey(randomBytes(32), 'BERTH_MASTER_KEY_FILE /etc/berth/other.key')), 'jwt'),
    (error: Error) =>
      error.message ===
      `metadata database ${info.url}: the master key from BERTH_MASTER_KEY_FILE /etc/berth/other.key does not open the shared key "jwt-signing-key": ` +
        'every node needs the master key the cluster was set up with (a different one is refused, never used to make new keys)',
  );
  assert.deepEqual(await rows(info), before, 'nothing was replaced');
  assert.ok((await openSharedKey(dir, postgresBackendOf(info, right), 'jwt')).equals(jwt), 'the right master key still opens it');
});

test('a sealed key moved to another name does not open there (the name is bound to it)', { skip }, async (t) => {
  const info = await migratedDatabase(postgres.server());
  const key = masterKey();
  const dir = await nodeDir(t, 'a');
  await openSharedKey(dir, postgresBackendOf(info, key), 'jwt');
  // Someone with write access to the table swaps the JWT key in as the secret box's key.
  await postgres.server().psql("INSERT INTO berth_secrets (name, sealed) SELECT 'secret-box-key', sealed FROM berth_secrets WHERE name = 'jwt-signing-key';", info.name);
  await assert.rejects(openSharedKey(dir, postgresBackendOf(info, key), 'secretBox'), /does not open the shared key "secret-box-key"/);
});

test('a database migrated by an older Berth (no berth_secrets yet) is refused with the command to run', { skip }, async (t) => {
  const info = await postgres.server().createDatabase();
  const setup = openPostgresDatabase({ url: info.url, password: info.connection.password });
  try {
    // An older Berth knew the migrations before 'shared secrets' (ids must stay 1, 2, 3, ... in order).
    await migrate(setup.pool, migrations.slice(0, migrations.findIndex((migration) => migration.name === 'shared secrets')));
  } finally {
    await setup.close();
  }
  await assert.rejects(openSharedKey(await nodeDir(t, 'a'), postgresBackendOf(info, masterKey()), 'jwt'), /has no berth_secrets table .*run "berth migrate" with the same --metadata first/);
});

test('a node that kept the key files of an older Berth offers them as the first keys, so sealed passwords keep opening', { skip }, async (t) => {
  const info = await migratedDatabase(postgres.server());
  const key = masterKey();
  // What the older README had operators do: the same auth/*.key files on every node.
  const legacy = await nodeDir(t, 'legacy');
  const oldJwt = await loadOrCreateJwtKey(legacy);
  const oldSealed = (await createSecretBox(legacy)).seal('sealed-before-the-upgrade');
  // It starts first after the upgrade, opening both keys as `berth serve` does.
  assert.ok((await openSharedKey(legacy, postgresBackendOf(info, key), 'jwt')).equals(oldJwt));
  await openSecretBox(legacy, postgresBackendOf(info, key));
  // A fresh node that never had the files opens what the old ones sealed.
  const fresh = await nodeDir(t, 'fresh');
  assert.equal((await openSecretBox(fresh, postgresBackendOf(info, key))).open(oldSealed), 'sealed-before-the-upgrade');
  assert.ok((await openSharedKey(fresh, postgresBackendOf(info, key), 'jwt')).equals(oldJwt));
  // Once a key is stored, a node's differing file is ignored: the database's key wins.
  const stray = await nodeDir(t, 'stray');
  await mkdir(join(stray, 'auth'), { mode: 0o700 });
  await writeFile(join(stray, 'auth', 'jwt.key'), `${randomBytes(32).toString('base64url')}\n`, { mode: 0o600 });
  assert.ok((await openSharedKey(stray, postgresBackendOf(info, key), 'jwt')).equals(oldJwt));
});

test('rotating the master key re-seals the same keys: the new master key opens them, the old one is refused', { skip }, async (t) => {
  const info = await migratedDatabase(postgres.server());
  const dir = await nodeDir(t, 'a');
  const old = masterKey();
  const jwt = await openSharedKey(dir, postgresBackendOf(info, old), 'jwt');
  const sealed = (await openSecretBox(dir, postgresBackendOf(info, old))).seal('upstream-password');
  const next = new MasterKey(randomBytes(32), '--new-key-file /etc/berth/master.key.new');
  assert.deepEqual(await rotateMasterKey(postgresBackendOf(info, old), next), { resealed: ['jwt-signing-key', 'secret-box-key'], already: [], created: [] });
  assert.ok((await openSharedKey(dir, postgresBackendOf(info, next), 'jwt')).equals(jwt), 'the same signing key');
  assert.equal((await openSecretBox(dir, postgresBackendOf(info, next))).open(sealed), 'upstream-password');
  await assert.rejects(openSharedKey(dir, postgresBackendOf(info, old), 'jwt'), /does not open the shared key "jwt-signing-key"/);
  // Run again (a retry after it succeeded): nothing left to do, nothing changed.
  const after = await rows(info);
  assert.deepEqual(await rotateMasterKey(postgresBackendOf(info, old), next), { resealed: [], already: ['jwt-signing-key', 'secret-box-key'], created: [] });
  assert.deepEqual(await rows(info), after);
});

test('a rotation makes the keys no node needed yet under the new master key; the same key, or a wrong current one, is refused', { skip }, async (t) => {
  const info = await migratedDatabase(postgres.server());
  const dir = await nodeDir(t, 'a');
  const old = masterKey();
  const jwt = await openSharedKey(dir, postgresBackendOf(info, old), 'jwt');
  await assert.rejects(rotateMasterKey(postgresBackendOf(info, old), old), /the new master key \(BERTH_MASTER_KEY\) is the one in use/);
  const stranger = new MasterKey(randomBytes(32), 'BERTH_MASTER_KEY_FILE /tmp/stranger.key');
  const before = await rows(info);
  await assert.rejects(rotateMasterKey(postgresBackendOf(info, stranger), masterKey()), /the shared key "jwt-signing-key" opens with neither the master key in use \(BERTH_MASTER_KEY_FILE \/tmp\/stranger\.key\) nor the new one .*nothing was changed/);
  assert.deepEqual(await rows(info), before);
  const next = masterKey();
  assert.deepEqual(await rotateMasterKey(postgresBackendOf(info, old), next), { resealed: ['jwt-signing-key'], already: [], created: ['secret-box-key'] });
  assert.ok((await openSharedKey(dir, postgresBackendOf(info, next), 'jwt')).equals(jwt));
  assert.equal((await openSharedKey(dir, postgresBackendOf(info, next), 'secretBox')).length, 32);
});
