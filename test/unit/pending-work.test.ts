import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createPendingWork } from '../../registry/core/concurrent.js';

/** What a shutdown waits for (the mirror's stores after their responses ended): all of it, failures included. */

function deferred() {
  let resolve!: () => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<void>((ok, fail) => {
    resolve = ok;
    reject = fail;
  });
  return { promise, resolve, reject };
}

describe('pending work', () => {
  it('settles once every tracked piece has, a failed one included, and hands each back unchanged', async () => {
    const pending = createPendingWork();
    const first = deferred();
    const second = deferred();
    assert.equal(pending.track(first.promise), first.promise);
    const failing = pending.track(second.promise);
    let settled = false;
    const waiting = pending.settled().then(() => (settled = true));
    first.resolve();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(settled, false, 'the second is still running');
    second.reject(new Error('store failed'));
    await assert.rejects(failing, /store failed/);
    await waiting;
    assert.equal(settled, true);
  });

  it('waits for work tracked while it waits, and is done at once with nothing tracked', async () => {
    const pending = createPendingWork();
    await pending.settled();
    const first = deferred();
    const later = deferred();
    pending.track(first.promise);
    let settled = false;
    const waiting = pending.settled().then(() => (settled = true));
    pending.track(later.promise);
    first.resolve();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(settled, false, 'the later piece is still running');
    later.resolve();
    await waiting;
    assert.equal(settled, true);
  });
});
