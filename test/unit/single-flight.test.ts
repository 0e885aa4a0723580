import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createPromiseFlight, createSingleFlight } from '../../registry/mirror/single-flight.js';

/** The mirror's one single-flight mechanism on its own: sharing, release, and passing over a stuck flight. */

function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

test('callers of one key share a flight until it settles; then the key is free again', async () => {
  const flights = createPromiseFlight<number>();
  let started = 0;
  const work = deferred<number>();
  const first = flights.run('k', () => (started++, work.promise));
  const second = flights.run('k', () => (started++, Promise.resolve(-1)));
  const other = flights.run('other', () => (started++, Promise.resolve(7)));
  assert.equal(first, second);
  work.resolve(42);
  assert.deepEqual(await Promise.all([first, second, other]), [42, 42, 7]);
  assert.equal(started, 2);
  assert.equal(await flights.run('k', () => Promise.resolve(43)), 43, 'a settled flight is not joined');
  // A failure is shared too, and frees the key.
  const failing = deferred<number>();
  const a = flights.run('f', () => failing.promise);
  const b = flights.run('f', () => Promise.resolve(0));
  failing.reject(new Error('upstream down'));
  await assert.rejects(a, /upstream down/);
  await assert.rejects(b, /upstream down/);
  assert.equal(await flights.run('f', () => Promise.resolve(1)), 1);
  assert.equal(flights.size, 0);
});

test('a flight that may not be joined any more is passed over; its end does not free its successor', async () => {
  interface Flight {
    readonly id: number;
    stuck: boolean;
    readonly done: ReturnType<typeof deferred<void>>;
  }
  const flights = createSingleFlight<Flight>({ settled: (flight) => flight.done.promise, joinable: (flight) => !flight.stuck });
  let next = 0;
  const start = (): Flight => ({ id: next++, stuck: false, done: deferred<void>() });
  const stuck = flights.run('blob', start);
  assert.equal(flights.run('blob', start), stuck);
  stuck.stuck = true;
  const fresh = flights.run('blob', start);
  assert.notEqual(fresh, stuck, 'a new caller starts a fresh flight');
  assert.equal(flights.size, 2);
  stuck.done.resolve();
  await stuck.done.promise;
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(flights.run('blob', start), fresh, 'the stuck flight ending left the fresh one in place');
  fresh.done.resolve();
});
