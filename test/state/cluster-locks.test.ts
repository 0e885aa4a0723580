import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { describe, test } from 'node:test';
import { createLocalLocks, isClusterLockBusy, runExclusive, type ClusterLocks } from '../../registry/cluster/cluster-locks.js';
import { createLeadership, type Leadership } from '../../registry/cluster/leadership.js';
import { createPostgresLocks } from '../../registry/cluster/postgres-locks.js';
import { silentLogger } from '../../registry/log.js';
import { openPostgresDatabase } from '../../registry/state/postgres/database.js';
import { postgresForFile, type PostgresDatabaseInfo } from '../support/services/postgres.js';

/**
 * The locks the nodes of a cluster share (registry/cluster/): one holder at a time, named in `holders`, released at
 * once when the holder's database connection ends (what happens when a node dies), and a leader that is replaced
 * within a retry when that happens. The in-process locks of a desktop Berth keep the same contract between callers
 * of one process.
 */

const postgres = postgresForFile();
const { skip } = postgres;

let database: PostgresDatabaseInfo | undefined;
async function sharedDatabase(): Promise<PostgresDatabaseInfo> {
  database ??= await postgres.server().createDatabase();
  return database;
}

/** The locks of one more "node" of the shared database. */
async function pgNode(name: string): Promise<ClusterLocks> {
  const info = await sharedDatabase();
  return createPostgresLocks({ url: info.url, password: info.connection.password }, { node: () => name });
}

/** Ends the database sessions of a node from outside, as the server does when a node's connection drops. */
async function dropConnectionsOf(node: string): Promise<number> {
  const info = await sharedDatabase();
  const admin = openPostgresDatabase({ url: info.url, password: info.connection.password }, { maxConnections: 1 });
  try {
    const { rows } = await admin.pool.query<{ ended: boolean }>('SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity WHERE application_name = $1', [`berth ${node}`]);
    return rows.filter((row) => row.ended).length;
  } finally {
    await admin.close();
  }
}

async function eventually(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await delay(50);
  }
}

/** Two processes' views of the locks: two database sessions, or two callers in one process. */
const backends: Array<{ name: string; skip: string | undefined; pair(t: { after(fn: () => Promise<void>): void }, lock: string): Promise<[ClusterLocks, ClusterLocks, string, string]> }> = [
  {
    name: 'PostgreSQL advisory locks (two nodes)',
    skip,
    async pair(t, lock) {
      const [a, b] = [await pgNode(`node-a ${lock}`), await pgNode(`node-b ${lock}`)];
      t.after(async () => {
        await a.close();
        await b.close();
      });
      return [a, b, `node-a ${lock}`, `node-b ${lock}`];
    },
  },
  {
    name: 'in-process locks (two callers of one desktop Berth)',
    skip: undefined,
    async pair() {
      const locks = createLocalLocks('this Berth');
      return [locks, locks, 'this Berth', 'this Berth'];
    },
  },
];

for (const backend of backends) {
  describe(backend.name, { skip: backend.skip }, () => {
    test('one holder at a time, named by holders(); released, the lock goes to the next', async (t) => {
      const [a, b, nameA] = await backend.pair(t, 'one-holder');
      const held = await a.tryAcquire('gc');
      assert.ok(held, 'a free lock is taken');
      assert.equal(await b.tryAcquire('gc'), undefined, 'a held lock is refused to the other');
      assert.equal(await a.tryAcquire('gc'), undefined, 'and to a second caller of the holder (locks do not stack)');
      assert.ok(a.heldHere('gc'));
      assert.deepEqual((await b.holders(['gc', 'sync-scheduler'])).map(({ lock, node }) => ({ lock, node })), [{ lock: 'gc', node: nameA }]);
      await held.release();
      await held.release(); // idempotent
      assert.deepEqual(await b.holders(['gc']), []);
      const next = await b.tryAcquire('gc');
      assert.ok(next, 'free again after the release');
      await next.release();
    });

    test('acquire waits for the holder; an aborted wait rejects and takes nothing', async (t) => {
      const [a, b] = await backend.pair(t, 'acquire');
      const held = await a.tryAcquire('upload:1');
      assert.ok(held);
      let got = false;
      const waiting = b.acquire('upload:1').then((lock) => {
        got = true;
        return lock;
      });
      await delay(300);
      assert.equal(got, false, 'still waiting while the lock is held');
      await held.release();
      const lock = await waiting;
      assert.equal(lock.name, 'upload:1');

      const stop = new AbortController();
      const aborted = a.acquire('upload:1', { signal: stop.signal });
      setTimeout(() => stop.abort(new Error('the request ended')), 100);
      await assert.rejects(aborted, /the request ended/);
      await lock.release();
      const after = await a.tryAcquire('upload:1');
      assert.ok(after, 'the aborted wait left no lock behind');
      await after.release();
    });

    test('runExclusive refuses a second run with a message naming the holder', async (t) => {
      const [a, b, nameA] = await backend.pair(t, 'exclusive');
      let inside!: () => void;
      const entered = new Promise<void>((resolve) => (inside = resolve));
      let finish!: () => void;
      const first = runExclusive(a, 'gc', 'a garbage collection', async () => {
        inside();
        await new Promise<void>((resolve) => (finish = resolve));
        return 'first';
      });
      await entered;
      await assert.rejects(
        runExclusive(b, 'gc', 'a garbage collection', async () => 'second'),
        (error: unknown) => isClusterLockBusy(error) && error.holder === nameA && error.message === `a garbage collection is already running on ${nameA}: try again when it has finished`,
      );
      finish();
      assert.equal(await first, 'first');
      assert.equal(await runExclusive(b, 'gc', 'a garbage collection', async () => 'second'), 'second', 'free once the first run ended');
    });
  });
}

describe('a node whose database connection ends loses its locks at once', { skip }, () => {
  test('the lock is lost (its signal aborts) and another node takes it', async (t) => {
    const [a, b] = [await pgNode('dying-node'), await pgNode('survivor')];
    t.after(async () => {
      await a.close();
      await b.close();
    });
    const held = await a.tryAcquire('sync-rule:nightly');
    assert.ok(held);
    assert.equal(await b.tryAcquire('sync-rule:nightly'), undefined);
    assert.equal(await dropConnectionsOf('dying-node'), 1);
    await eventually('the holder to notice', () => held.lost.aborted);
    assert.equal(a.heldHere('sync-rule:nightly'), false);
    const taken = await b.tryAcquire('sync-rule:nightly');
    assert.ok(taken, 'the survivor takes the lock');
    await held.release(); // harmless: it was lost, and must not release the survivor's
    assert.deepEqual((await a.holders(['sync-rule:nightly'])).map((holder) => holder.node), ['survivor'], 'the dropped node reconnects for its next question');
    await taken.release();
  });

  test('leadership: one leader among three, and another within a retry when the leader drops out', async (t) => {
    const log = silentLogger();
    const nodes = await Promise.all(['leader-1', 'leader-2', 'leader-3'].map((name) => pgNode(name)));
    const leaders: Leadership[] = [];
    for (const locks of nodes) leaders.push(await createLeadership({ locks, lock: 'gc-scheduler', log, retryMs: 100 }));
    t.after(async () => {
      for (const leader of leaders) await leader.close();
      for (const locks of nodes) await locks.close();
    });
    assert.deepEqual(leaders.map((leader) => leader.isLeader()), [true, false, false], 'the first to ask leads');
    const changes: boolean[] = [];
    leaders[0]?.onChange((leader) => changes.push(leader));
    assert.equal(await dropConnectionsOf('leader-1'), 1);
    // Any of the three may lead next (the dropped one reconnects and asks too): one does, within a retry or two.
    await eventually('the old leader to hear of it', () => changes[0] === false);
    await eventually('one leader again', () => leaders.filter((leader) => leader.isLeader()).length === 1);
    const holders = await nodes[0]?.holders(['gc-scheduler']);
    const leading = leaders.findIndex((leader) => leader.isLeader());
    assert.deepEqual(holders?.map((holder) => holder.node), [`leader-${leading + 1}`]);
    // Closing the leader hands over too.
    await leaders[leading]?.close();
    await eventually('a third leader', () => leaders.some((leader, index) => index !== leading && leader.isLeader()));
  });
});

test('in-process leadership: a desktop Berth leads at once', async () => {
  const locks = createLocalLocks();
  const leader = await createLeadership({ locks, lock: 'sync-scheduler', log: silentLogger() });
  assert.equal(leader.isLeader(), true);
  await leader.close();
  assert.equal(leader.isLeader(), false);
  assert.ok(await locks.tryAcquire('sync-scheduler'), 'closed, it gave the lock up');
});
