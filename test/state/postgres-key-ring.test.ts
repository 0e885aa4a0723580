import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { KeyRingConflictError, MasterKeys, newMasterKey, type MasterKeyEntry } from '../../registry/storage/encryption/key-ring.js';
import { MasterKey } from '../../registry/state/master-key.js';
import { openKeyRing, openSharedKey, rotateMasterKey, type OpenKeyRing } from '../../registry/state/metadata-backend.js';
import { openPostgresDatabase } from '../../registry/state/postgres/database.js';
import { keyRingSecretName, sharedKeyRingStore } from '../../registry/state/postgres/shared-key-ring.js';
import { migratedDatabase, postgresBackendOf } from './postgres-databases.js';
import { postgresForFile, type PostgresDatabaseInfo } from '../support/services/postgres.js';
import { makeTempDir } from '../support/temp-dir.js';

/**
 * The encryption master key ring every node of a cluster shares, in a real PostgreSQL: made once however many nodes
 * ask at once, changed only by a compare-and-swap (a stale save writes nothing; two rotations at once keep every
 * key), a rotation on one node followed by another within about a second at one query a second, and a node with
 * another operator master key refused, never given a ring of its own.
 */

const postgres = postgresForFile();
const { skip } = postgres;

const masterKey = (label = 'BERTH_MASTER_KEY') => new MasterKey(randomBytes(32), label);

/** A node's view of the ring, as openStorage opens it; closed after the test. */
async function ringOf(t: TestContext, info: PostgresDatabaseInfo, key: MasterKey, options: Parameters<typeof openKeyRing>[1] = {}): Promise<OpenKeyRing> {
  const ring = await openKeyRing(postgresBackendOf(info, key), options);
  t.after(() => ring.close());
  return ring;
}

async function ringRow(info: PostgresDatabaseInfo): Promise<{ sealed: string; revision: string } | undefined> {
  const database = openPostgresDatabase({ url: info.url, password: info.connection.password });
  try {
    const { rows } = await database.pool.query<{ sealed: string; revision: string }>('SELECT sealed, revision FROM berth_secrets WHERE name = $1', [keyRingSecretName]);
    return rows[0] ? { ...rows[0] } : undefined;
  } finally {
    await database.close();
  }
}

const ids = (entries: readonly MasterKeyEntry[] | undefined) => (entries ?? []).map((entry) => `${entry.id}${entry.retired ? ' retired' : ''}`);

test('eight nodes enabling at once agree on one ring: one row, one of them made it, all wrap with the same key', { skip }, async (t) => {
  const info = await migratedDatabase(postgres.server());
  const key = masterKey();
  const rings = await Promise.all(Array.from({ length: 8 }, () => ringOf(t, info, key)));
  const results = await Promise.all(rings.map((ring) => new MasterKeys(ring.store).ensure()));
  assert.equal(results.filter((result) => result.created).length, 1, 'exactly one node made the ring');
  assert.equal(new Set(results.map((result) => result.active.id)).size, 1, 'one active key for all');
  assert.ok(results.every((result) => result.active.key.equals(results[0]!.active.key)));
  const row = await ringRow(info);
  assert.equal(row?.revision, '1', 'stored once, never overwritten');
  // The table holds ciphertext only: the key is in it in no encoding.
  for (const encoding of ['base64', 'base64url', 'hex'] as const) assert.ok(!row?.sealed.includes(results[0]!.active.key.toString(encoding).replace(/=+$/, '')));
});

test('a save from a stale revision writes nothing and says so; the ring that won stays', { skip }, async (t) => {
  const info = await migratedDatabase(postgres.server());
  const key = masterKey();
  const [a, b] = [await ringOf(t, info, key), await ringOf(t, info, key)];
  await new MasterKeys(a.store).ensure();
  const stale = await b.store.load();
  assert.ok(stale);
  const rotated = await new MasterKeys(a.store).rotate(async () => true);
  const before = await ringRow(info);
  await assert.rejects(b.store.save([newMasterKey()], stale.revision), KeyRingConflictError);
  // "No ring yet" is stale too once there is one: a second ring is never created over the first.
  await assert.rejects(b.store.save([newMasterKey()], undefined), KeyRingConflictError);
  assert.deepEqual(await ringRow(info), before, 'nothing written');
  assert.equal((await new MasterKeys(b.store).active()).id, rotated.active.id);
  // From the current revision the same save goes through, and the revision grows by one.
  const current = await b.store.load();
  await b.store.save(current?.entries ?? [], current?.revision);
  assert.equal((await ringRow(info))?.revision, String(Number(before?.revision) + 1));
});

test('two nodes rotating at once: both succeed, and every key either of them wrapped with is still in the ring', { skip }, async (t) => {
  const info = await migratedDatabase(postgres.server());
  const key = masterKey();
  const [a, b] = [new MasterKeys((await ringOf(t, info, key)).store), new MasterKeys((await ringOf(t, info, key)).store)];
  const first = (await a.ensure()).active;
  assert.equal((await b.active()).id, first.id);
  // Both rotate from the same ring; "drop every retired key" must not drop a key the other one just made active.
  const [ra, rb] = await Promise.all([a.rotate(async () => true), b.rotate(async () => true)]);
  assert.notEqual(ra.active.id, rb.active.id);
  const final = await new MasterKeys((await ringOf(t, info, key)).store).entries();
  const held = new Set((final ?? []).map((entry) => entry.id));
  for (const id of [first.id, ra.active.id, rb.active.id]) assert.ok(held.has(id), `${id} is still in the ring: ${ids(final).join(', ')}`);
  assert.equal((final ?? []).filter((entry) => !entry.retired).length, 1);
  // The loser re-planned on the winner's ring: it retired the winner's new key instead of overwriting it.
  const loser = ra.retired === first.id ? rb : ra;
  const winner = loser === ra ? rb : ra;
  assert.equal(loser.retired, winner.active.id);
  assert.equal((final ?? []).find((entry) => !entry.retired)?.id, loser.active.id);
});

test('a rotation on one node is followed by another within about a second, at most one version query a second', { skip }, async (t) => {
  const info = await migratedDatabase(postgres.server());
  const key = masterKey();
  const a = new MasterKeys((await ringOf(t, info, key)).store);
  await a.ensure();
  // Node B on a pool of its own, whose checkouts are counted (every query takes one).
  const database = openPostgresDatabase({ url: info.url, password: info.connection.password });
  t.after(() => database.close());
  let queries = 0;
  database.pool.on('acquire', () => (queries += 1));
  const b = new MasterKeys(sharedKeyRingStore(database.pool, { label: database.label, masterKey: () => key }));
  const before = (await b.active()).id;

  // A node wrapping data keys as fast as it can (every upload asks for the active key) for 3 s.
  queries = 0;
  const started = Date.now();
  let asked = 0;
  while (Date.now() - started < 3000) {
    assert.equal((await b.active()).id, before);
    asked += 1;
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  t.diagnostic(`${asked} active() calls in 3 s: ${queries} queries`);
  assert.ok(asked > 300, `asked ${asked} times`);
  assert.ok(queries <= 4, `the version is read at most once a second (${queries} queries for ${asked} calls)`);

  const rotated = await a.rotate(async () => true);
  const rotatedAt = Date.now();
  let seenAfterMs: number | undefined;
  while (Date.now() - rotatedAt < 5000) {
    if ((await b.active()).id === rotated.active.id) {
      seenAfterMs = Date.now() - rotatedAt;
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  t.diagnostic(`node B wrapped with the new key ${seenAfterMs ?? '-'} ms after the rotation`);
  assert.ok(seenAfterMs !== undefined && seenAfterMs <= 1300, `seen after ${seenAfterMs ?? 'more than 5000'} ms`);
  // What B wrapped with the old key still opens: the old key is retired, not gone.
  assert.equal((await b.byId(before)).retired, true);
});

test('a node with another operator master key is refused with a message saying so, and never makes a ring', { skip }, async (t) => {
  const info = await migratedDatabase(postgres.server());
  const right = masterKey();
  const wrong = masterKey('BERTH_MASTER_KEY_FILE /etc/berth/other.key');
  const dir = join(await makeTempDir(t), 'node');
  await mkdir(dir, { mode: 0o700 });
  // The cluster's first node made its shared keys (as `berth serve` does at start), no ring yet.
  await openSharedKey(dir, postgresBackendOf(info, right), 'jwt');
  const refusal = /the master key from BERTH_MASTER_KEY_FILE \/etc\/berth\/other\.key does not open the shared key "(jwt-signing-key|encryption-key-ring)": every node needs the master key the cluster was set up with/;
  await assert.rejects(new MasterKeys((await ringOf(t, info, wrong)).store).ensure(), refusal);
  assert.equal(await ringRow(info), undefined, 'no ring was made under the wrong master key');

  const made = await new MasterKeys((await ringOf(t, info, right)).store).ensure();
  const row = await ringRow(info);
  const stranger = new MasterKeys((await ringOf(t, info, wrong)).store);
  await assert.rejects(stranger.active(), refusal);
  await assert.rejects(stranger.ensure(), refusal);
  await assert.rejects(stranger.rotate(async () => true), refusal);
  assert.deepEqual(await ringRow(info), row, 'the ring stays as it was');
  assert.equal((await new MasterKeys((await ringOf(t, info, right)).store).active()).id, made.active.id);
});

test('rotate-master re-seals the ring too: a running node keeps its keys, but cannot overwrite the ring with the old master key', { skip }, async (t) => {
  const info = await migratedDatabase(postgres.server());
  const old = masterKey();
  const running = new MasterKeys((await ringOf(t, info, old)).store);
  const { active } = await running.ensure();
  const revision = (await ringRow(info))?.revision;
  const next = masterKey('--new-key-file /etc/berth/master.key.new');
  const result = await rotateMasterKey(postgresBackendOf(info, old), next);
  assert.deepEqual(result.resealed, [keyRingSecretName]);
  assert.equal((await ringRow(info))?.revision, revision, 'the ring did not change: nodes polling its revision re-read nothing');
  // The new master key opens the same ring; the running node keeps wrapping with it for now.
  assert.equal((await new MasterKeys((await ringOf(t, info, next)).store).active()).id, active.id);
  await new Promise((resolve) => setTimeout(resolve, 1100));
  assert.equal((await running.active()).id, active.id, 'a running node is not disturbed');
  // Its rotation would seal the ring with a master key the others no longer use: refused, nothing written.
  const row = await ringRow(info);
  await assert.rejects(running.rotate(async () => true), /does not open the shared key "encryption-key-ring"/);
  assert.deepEqual(await ringRow(info), row);
});

test('a ring file of a cluster from before (the storage encrypted already) is stored once as the shared ring', { skip }, async (t) => {
  const info = await migratedDatabase(postgres.server());
  const key = masterKey();
  const earlier = [{ ...newMasterKey(), retired: true }, newMasterKey()];
  const first = new MasterKeys((await ringOf(t, info, key, { earlierRing: async () => earlier })).store);
  assert.deepEqual(ids(await first.entries()), ids(earlier));
  assert.ok((await first.byId(earlier[0]!.id)).key.equals(earlier[0]!.key), 'the very keys of the file');
  // Another node's (different) file is not read once the database has a ring.
  let asked = false;
  const other = new MasterKeys((await ringOf(t, info, key, { earlierRing: async () => ((asked = true), [newMasterKey()]) })).store);
  assert.deepEqual(ids(await other.entries()), ids(earlier));
  assert.equal(asked, false);
  // Without a file (or an unencrypted storage) nothing is made until "enable".
  const empty = await migratedDatabase(postgres.server());
  assert.equal(await new MasterKeys((await ringOf(t, empty, key, { earlierRing: async () => undefined })).store).entries(), undefined);
  assert.equal(await ringRow(empty), undefined);
});
