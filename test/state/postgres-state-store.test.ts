import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { openPostgresDatabase } from '../../registry/state/postgres/database.js';
import { createPostgresStateStore } from '../../registry/state/postgres/postgres-state-store.js';
import type { StateStore } from '../../registry/state/index.js';
import { stateStoreContract } from '../contract/state-store-contract.js';
import { createSettingsFollower } from '../../registry/config/settings-follower.js';
import { migratedDatabase } from './postgres-databases.js';
import { postgresForFile, type PostgresDatabaseInfo } from '../support/services/postgres.js';

const postgres = postgresForFile();
const { skip } = postgres;

/** A store on its own pool, as a node has: closing the store closes the pool. */
async function openNode(info: PostgresDatabaseInfo, options: { refreshMs?: number } = {}): Promise<StateStore> {
  const database = openPostgresDatabase({ url: info.url, password: info.connection.password });
  try {
    return await createPostgresStateStore(database, { ...options, onClose: () => database.close() });
  } catch (error) {
    await database.close();
    throw error;
  }
}

stateStoreContract({
  name: 'postgres',
  skip,
  fresh: async () => {
    const info = await migratedDatabase(postgres.server());
    return { open: () => openNode(info) };
  },
});

test('postgres state store: 4 nodes doing 25 increments each end at exactly 100, and every node sees 100', { skip, timeout: 60_000 }, async (t) => {
  const info = await migratedDatabase(postgres.server());
  const nodes = await Promise.all(Array.from({ length: 4 }, () => openNode(info)));
  t.after(() => Promise.all(nodes.map((node) => node.close())));
  await Promise.all(
    nodes.map(async (node) => {
      for (let i = 0; i < 25; i++) {
        await node.update((draft) => {
          draft.settings.counter = (typeof draft.settings.counter === 'number' ? draft.settings.counter : 0) + 1;
        });
      }
    }),
  );
  const started = Date.now();
  while (!nodes.every((node) => node.read().settings.counter === 100)) {
    assert.ok(Date.now() - started < 1000, `counters: ${nodes.map((node) => String(node.read().settings.counter)).join(', ')}`);
    await sleep(10);
  }
});

test('postgres state store: a node whose listener connection is cut still sees changes (polling, then a new listener)', { skip, timeout: 60_000 }, async (t) => {
  const info = await migratedDatabase(postgres.server());
  const reader = await openNode(info, { refreshMs: 200 });
  const writer = await openNode(info);
  t.after(async () => {
    await reader.close();
    await writer.close();
  });
  // The server ends every connection of the reader's listener (application_name berth, LISTEN as last query).
  const cut = await postgres.server().psql(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${info.name}' AND query LIKE 'LISTEN%';`);
  assert.deepEqual(cut.trim().split('\n'), ['t', 't'], "both nodes' listeners were cut");
  await writer.update((draft) => {
    draft.settings.listen = 'after-cut';
  });
  const started = Date.now();
  while (reader.read().settings.listen !== 'after-cut') {
    assert.ok(Date.now() - started < 3000, 'the change was not seen within 3 s of the cut');
    await sleep(20);
  }
  // Once the listener is back (it retries after 1 s), a change arrives by notification again.
  await sleep(1500);
  await writer.update((draft) => {
    draft.settings.listen = 'second';
  });
  const again = Date.now();
  while (reader.read().settings.listen !== 'second') {
    assert.ok(Date.now() - again < 1000, 'not seen within 1 s with the listener back');
    await sleep(10);
  }
});

test('postgres state store: an unmigrated database is refused with what to run', { skip, timeout: 30_000 }, async () => {
  const info = await postgres.server().createDatabase();
  await assert.rejects(openNode(info), /the database has no Berth tables \(berth_state_head\): run "berth migrate --metadata postgres:\/\/berth@127.0.0.1:\d+\/berth_\w+" first/);
});

test('postgres state store: an update on a database that went away fails, and the snapshot stays the last good one', { skip, timeout: 60_000 }, async (t) => {
  const info = await migratedDatabase(postgres.server());
  const store = await openNode(info);
  t.after(() => store.close());
  await store.update((draft) => {
    draft.settings.listen = 'kept';
  });
  await postgres.server().psql(`ALTER DATABASE ${info.name} WITH ALLOW_CONNECTIONS false; SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${info.name}';`);
  await assert.rejects(store.update((draft) => {
    draft.settings.listen = 'lost';
  }));
  assert.equal(store.read().settings.listen, 'kept');
  await postgres.server().psql(`ALTER DATABASE ${info.name} WITH ALLOW_CONNECTIONS true;`);
  await store.update((draft) => {
    draft.settings.listen = 'back';
  });
  assert.equal(store.read().settings.listen, 'back');
});

test('postgres state store: a settings follower on one node applies what another node changed, once per change', { skip, timeout: 30_000 }, async (t) => {
  const info = await migratedDatabase(postgres.server());
  const nodeA = await openNode(info);
  const nodeB = await openNode(info);
  t.after(async () => {
    await nodeA.close();
    await nodeB.close();
  });
  const calls: Array<{ next: unknown; previous: unknown }> = [];
  const errors: string[] = [];
  const follower = createSettingsFollower({
    state: nodeB,
    intervalMs: 50,
    applySettings: (next, previous) => {
      calls.push({ next: next.tlsNames, previous: previous.tlsNames });
      if (next.tlsNames?.includes('bad.example')) throw new Error('cannot apply');
    },
    onError: (error) => errors.push(error.message),
  });
  t.after(() => follower.close());
  // A change elsewhere in the state is not a settings change.
  await nodeA.update((draft) => {
    draft.namespaces.push({ name: 'team', anonymousPull: false, createdAt: '' });
  });
  await nodeA.update((draft) => {
    draft.settings.tlsNames = ['berth.example'];
  });
  const started = Date.now();
  while (calls.length === 0) {
    assert.ok(Date.now() - started < 2000, 'the follower did not apply the change within 2 s');
    await sleep(20);
  }
  await nodeA.update((draft) => {
    draft.settings.tlsNames = ['bad.example'];
  });
  while (errors.length === 0) {
    assert.ok(Date.now() - started < 4000, 'the failing change was not reported');
    await sleep(20);
  }
  await sleep(300);
  assert.deepEqual(calls, [
    { next: ['berth.example'], previous: undefined },
    { next: ['bad.example'], previous: ['berth.example'] },
  ]);
  assert.deepEqual(errors, ['cannot apply'], 'reported once, not retried every interval');
});

test('postgres state store: a NOTIFY by hand with any payload makes a node look, and never crashes it', { skip, timeout: 30_000 }, async (t) => {
  const info = await migratedDatabase(postgres.server());
  const store = await openNode(info);
  t.after(() => store.close());
  // A change written behind the store's back (no NOTIFY), then notifications with odd payloads.
  await postgres.server().psql(
    `UPDATE berth_state_head SET version = version + 1;
     INSERT INTO berth_state_sections (section, doc, version) SELECT 'settings', '{"listen":"by-hand"}', version FROM berth_state_head
       ON CONFLICT (section) DO UPDATE SET doc = EXCLUDED.doc, version = EXCLUDED.version;
     SELECT pg_notify('berth_state', 'not a number');
     SELECT pg_notify('berth_state', '');`,
    info.name,
  );
  const started = Date.now();
  while (store.read().settings.listen !== 'by-hand') {
    assert.ok(Date.now() - started < 1000, 'not seen within 1 s of the notification');
    await sleep(10);
  }
});
