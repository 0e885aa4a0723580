import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test, type TestContext } from 'node:test';
import { StateStoreClosedError, type State, type StateStore } from '../../registry/state/index.js';

/**
 * What every StateStore backend promises, run against each (test/unit/state-store.test.ts on the file store,
 * test/state/postgres-state-store.test.ts on PostgreSQL). Two stores opened on one backing are two processes
 * or two nodes: whatever one writes, the other must see, and their concurrent updates must all survive.
 */
export interface StateBackend {
  /** For test names: `file`, `postgres`. */
  readonly name: string;
  /** node:test's skip option (a missing tool outside CI). */
  readonly skip?: string;
  /** A new, empty backing (a temp directory, a fresh database), cleaned up after `t`; `open` opens a store on it. */
  fresh(t: TestContext): Promise<{ open(): Promise<StateStore> }>;
}

function counterOf(state: State): number {
  return typeof state.settings.counter === 'number' ? state.settings.counter : 0;
}

/** Opens a store closed after the test. */
async function opened(t: TestContext, backing: { open(): Promise<StateStore> }): Promise<StateStore> {
  const store = await backing.open();
  t.after(() => store.close());
  return store;
}

async function visibleWithin(ms: number, what: string, check: () => boolean): Promise<number> {
  const started = Date.now();
  while (!check()) {
    assert.ok(Date.now() - started < ms, `${what}: not visible within ${ms} ms`);
    await sleep(10);
  }
  return Date.now() - started;
}

export function stateStoreContract(backend: StateBackend): void {
  const named = (title: string): string => `${backend.name} state store: ${title}`;
  const options = { skip: backend.skip, timeout: 60_000 };

  test(named('a new backing reads as the default state'), options, async (t) => {
    const store = await opened(t, await backend.fresh(t));
    const state = store.read();
    assert.equal(state.schemaVersion, 1);
    assert.deepEqual({ ...state.settings }, {});
    for (const key of ['namespaces', 'tokens', 'upstreams', 'syncRules', 'jobs'] as const) assert.deepEqual([...state[key]], [], key);
  });

  test(named('update returns the new snapshot, read() serves it, and a store opened later finds it'), options, async (t) => {
    const backing = await backend.fresh(t);
    const store = await opened(t, backing);
    const next = await store.update((draft) => {
      draft.namespaces.push({ name: 'team', anonymousPull: false, createdAt: '2026-01-01T00:00:00.000Z' });
      draft.settings.listen = '127.0.0.1:5000';
    });
    assert.equal(next.namespaces[0]?.name, 'team');
    assert.equal(store.read(), next, 'read() serves the snapshot update returned');
    const later = await opened(t, backing);
    assert.deepEqual(later.read().namespaces.map((n) => ({ ...n })), [{ name: 'team', anonymousPull: false, createdAt: '2026-01-01T00:00:00.000Z' }]);
    assert.equal(later.read().settings.listen, '127.0.0.1:5000');
  });

  test(named('snapshots are frozen: a caller cannot change the state without update()'), options, async (t) => {
    const store = await opened(t, await backend.fresh(t));
    await store.update((draft) => {
      draft.tokens.push({ id: 't1', name: 'ci', hash: 'ab', scopes: [{ pattern: '*', actions: ['pull'] }], createdAt: '' });
    });
    const snapshot = store.read();
    assert.throws(() => snapshot.namespaces.push({ name: 'x', anonymousPull: true, createdAt: '' }), TypeError);
    assert.throws(() => {
      snapshot.settings.listen = 'nope';
    }, TypeError);
    assert.throws(() => {
      (snapshot.tokens[0]!.scopes[0]!.actions as string[]).push('delete');
    }, TypeError);
  });

  test(named('a failing update changes nothing, here or for another store, and the next update still works'), options, async (t) => {
    const backing = await backend.fresh(t);
    const store = await opened(t, backing);
    await assert.rejects(
      store.update((draft) => {
        draft.settings.listen = 'half-done';
        draft.namespaces.push({ name: 'half', anonymousPull: true, createdAt: '' });
        throw new Error('boom');
      }),
      /boom/,
    );
    assert.equal(store.read().settings.listen, undefined);
    const other = await opened(t, backing);
    assert.equal(other.read().settings.listen, undefined);
    assert.deepEqual([...other.read().namespaces], []);
    await store.update((draft) => {
      draft.settings.listen = 'ok';
    });
    assert.equal(store.read().settings.listen, 'ok');
  });

  test(named('a change made through another store (another process or node) is visible within one second, without a reload call'), options, async (t) => {
    const backing = await backend.fresh(t);
    const server = await opened(t, backing);
    const cli = await opened(t, backing);
    assert.equal(server.read().namespaces.length, 0);
    await cli.update((draft) => {
      draft.namespaces.push({ name: 'team', anonymousPull: true, createdAt: '' });
    });
    const ms = await visibleWithin(1000, 'a namespace added by the other store', () => server.read().namespaces.length === 1);
    // And back the other way, for a deletion.
    await server.update((draft) => {
      draft.namespaces = [];
    });
    await visibleWithin(1000, 'a namespace removed by the other store', () => cli.read().namespaces.length === 0);
    console.log(`# ${backend.name}: a change was visible to the other store after ${ms} ms`);
  });

  test(named('read() serves one snapshot object while nothing changes'), options, async (t) => {
    const store = await opened(t, await backend.fresh(t));
    const first = store.read();
    await sleep(30);
    assert.equal(store.read(), first);
  });

  test(named('concurrent updates from two stores never lose a write'), options, async (t) => {
    const backing = await backend.fresh(t);
    const a = await opened(t, backing);
    const b = await opened(t, backing);
    const bump = (store: StateStore) =>
      store.update(async (draft) => {
        const value = counterOf(draft);
        await sleep(0); // widen the read-modify-write window
        draft.settings.counter = value + 1;
      });
    await Promise.all(Array.from({ length: 40 }, (_, i) => bump(i % 2 === 0 ? a : b)));
    const fresh = await opened(t, backing);
    assert.equal(counterOf(fresh.read()), 40);
    await visibleWithin(1000, 'the last increment', () => counterOf(a.read()) === 40 && counterOf(b.read()) === 40);
  });

  test(named('updates of different sections from two stores both survive'), options, async (t) => {
    const backing = await backend.fresh(t);
    const a = await opened(t, backing);
    const b = await opened(t, backing);
    await Promise.all([
      a.update((draft) => {
        draft.namespaces.push({ name: 'from-a', anonymousPull: false, createdAt: '' });
      }),
      b.update((draft) => {
        draft.upstreams.push({ name: 'hub', url: 'https://registry-1.docker.io', aliases: [], isDefault: true, insecure: false, tagTtlSeconds: 300, createdAt: '' });
      }),
    ]);
    const fresh = await opened(t, backing);
    assert.deepEqual(fresh.read().namespaces.map((n) => n.name), ['from-a']);
    assert.deepEqual(fresh.read().upstreams.map((u) => u.name), ['hub']);
  });

  test(named('an optional section can be removed, and a section this version does not know is kept'), options, async (t) => {
    const backing = await backend.fresh(t);
    const store = await opened(t, backing);
    await store.update((draft) => {
      draft.adminSignIn = { codes: [{ hash: 'h', expiresAt: '2030-01-01T00:00:00.000Z' }], sessions: [] };
      (draft as unknown as Record<string, unknown>).future = { keep: true };
    });
    await store.update((draft) => {
      delete draft.adminSignIn;
      draft.settings.listen = ':5000';
    });
    const fresh = await opened(t, backing);
    assert.equal(fresh.read().adminSignIn, undefined);
    assert.deepEqual((fresh.read() as unknown as Record<string, unknown>).future, { keep: true });
  });

  test(named('settled() waits for queued updates; close() refuses further updates'), options, async (t) => {
    const backing = await backend.fresh(t);
    const store = await backing.open();
    let ran = 0;
    for (let i = 0; i < 5; i++) {
      void store.update(async (draft) => {
        await sleep(2);
        ran++;
        draft.settings.counter = counterOf(draft) + 1;
      });
    }
    await store.settled();
    assert.equal(ran, 5);
    assert.equal(counterOf(store.read()), 5);
    const late = store.update(() => undefined);
    await store.close();
    await late; // queued before close(): it runs
    await assert.rejects(store.update(() => undefined), StateStoreClosedError);
    await store.close(); // twice is fine
    const fresh = await opened(t, backing);
    assert.equal(counterOf(fresh.read()), 5);
  });
}
