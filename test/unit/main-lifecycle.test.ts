import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createShutdown, quitWhenAllWindowsClosed, secondInstanceSteps } from '../../main/logic/lifecycle.js';

function quitEvent(): { preventDefault(): void; prevented: boolean } {
  return {
    prevented: false,
    preventDefault() {
      this.prevented = true;
    },
  };
}

describe('secondInstanceSteps', () => {
  it('brings an existing window forward, restoring and showing it as needed', () => {
    assert.deepEqual(secondInstanceSteps({ exists: true, minimized: false, visible: true }), ['focus']);
    assert.deepEqual(secondInstanceSteps({ exists: true, minimized: true, visible: true }), ['restore', 'focus']);
    assert.deepEqual(secondInstanceSteps({ exists: true, minimized: false, visible: false }), ['show', 'focus']);
  });

  it('re-creates the window when it was closed to the tray', () => {
    assert.deepEqual(secondInstanceSteps({ exists: false, minimized: false, visible: false }), ['create', 'focus']);
  });
});

describe('quitWhenAllWindowsClosed', () => {
  it('keeps the registry running while there is a tray, or on macOS', () => {
    assert.equal(quitWhenAllWindowsClosed('linux', true), false);
    assert.equal(quitWhenAllWindowsClosed('win32', true), false);
    assert.equal(quitWhenAllWindowsClosed('darwin', false), false);
    assert.equal(quitWhenAllWindowsClosed('linux', false), true);
  });
});

describe('createShutdown', () => {
  it('holds the quit until the server has stopped, stops it once, then exits 0', async () => {
    let stops = 0;
    let release!: () => void;
    const exits: number[] = [];
    const shutdown = createShutdown({
      stop: () => {
        stops += 1;
        return new Promise<void>((resolve) => (release = resolve));
      },
      exit: (code) => exits.push(code),
    });
    const first = quitEvent();
    shutdown.beforeQuit(first);
    assert.equal(first.prevented, true);
    assert.equal(shutdown.phase, 'stopping');
    const second = quitEvent();
    shutdown.beforeQuit(second);
    assert.equal(second.prevented, true, 'a second Quit while stopping waits too');
    assert.equal(stops, 1);
    assert.deepEqual(exits, [], 'no exit before the server has stopped');
    release();
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(exits, [0]);
    assert.equal(shutdown.phase, 'stopped');
    const late = quitEvent();
    shutdown.beforeQuit(late);
    assert.equal(late.prevented, false, 'once stopped, quitting proceeds');
  });

  it('exits 1 and reports when stopping fails', async () => {
    const errors: unknown[] = [];
    const exits: number[] = [];
    const shutdown = createShutdown({
      stop: () => Promise.reject(new Error('disk gone')),
      exit: (code) => exits.push(code),
      onError: (e) => errors.push(e),
    });
    shutdown.beforeQuit(quitEvent());
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(exits, [1]);
    assert.equal((errors[0] as Error).message, 'disk gone');
  });

  it('exits anyway when the server does not stop in time', async () => {
    const exits: number[] = [];
    const errors: unknown[] = [];
    const shutdown = createShutdown({
      stop: () => new Promise<void>(() => {}),
      exit: (code) => exits.push(code),
      onError: (e) => errors.push(e),
      forceAfterMs: 30,
    });
    shutdown.beforeQuit(quitEvent());
    await new Promise((resolve) => setTimeout(resolve, 80));
    assert.deepEqual(exits, [1]);
    assert.match(String(errors[0]), /did not stop within 30 ms/);
  });
});
