import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  createUpstreamHealth,
  UpstreamUnavailableError,
  type UpstreamHealthChange,
} from '../../registry/mirror/index.js';

/** Health bookkeeping on its own, with a hand-moved clock. The socket-level cases are in test/mirror/. */

const refused = (): UpstreamUnavailableError => new UpstreamUnavailableError('hub', 'network', 'connect ECONNREFUSED');

test('consecutive failures take it offline; a success in between resets the count', () => {
  let now = 1_000_000;
  const health = createUpstreamHealth({ name: 'hub', maxFailures: 3, offlineForMs: 30_000, now: () => now });
  const changes: UpstreamHealthChange[] = [];
  health.on('change', (change) => changes.push(change));
  health.admit();
  health.failed(refused());
  health.admit();
  health.failed(refused());
  health.admit();
  health.succeeded();
  assert.equal(health.state().consecutiveFailures, 0);
  for (let i = 0; i < 3; i++) {
    health.admit();
    health.failed(refused());
  }
  assert.deepEqual(health.state(), { online: false, consecutiveFailures: 3, lastError: 'upstream hub: connect ECONNREFUSED', offlineUntil: now + 30_000 });
  assert.deepEqual(changes.map((change) => [change.name, change.online]), [['hub', false]]);
  assert.throws(() => health.admit(), (error: unknown) => error instanceof UpstreamUnavailableError && error.reason === 'offline');
  now += 30_000;
  health.admit(); // the probe
  assert.throws(() => health.admit(), /a probe request is in flight/);
  health.abandoned(); // the probe's caller gave up: the next request may probe
  health.admit();
  health.succeeded();
  assert.equal(health.state().online, true);
  assert.deepEqual(changes.map((change) => change.online), [false, true]);
});

test('answers that are not outages do not count', () => {
  const health = createUpstreamHealth({ maxFailures: 1 });
  for (const reason of ['unauthorized', 'denied', 'rejected'] as const) {
    health.admit();
    health.failed(new UpstreamUnavailableError('hub', reason, reason));
  }
  assert.deepEqual(health.state(), { online: true, consecutiveFailures: 0 });
});

test('429 with Retry-After goes offline at once for the time asked', () => {
  let now = 5000;
  const health = createUpstreamHealth({ maxFailures: 3, offlineForMs: 30_000, now: () => now });
  health.admit();
  health.failed(new UpstreamUnavailableError('hub', 'rate-limited', 'slow down', { status: 429, retryAfterMs: 120_000 }));
  assert.equal(health.state().online, false);
  assert.equal(health.state().offlineUntil, 125_000);
  now = 124_999;
  assert.throws(() => health.admit());
  now = 125_000;
  health.admit();
});

test('by default the last contact decides: one failure takes it offline, retries back off 1, 2, 4, 8, 10 s', () => {
  let now = 0;
  const health = createUpstreamHealth({ name: 'hub', now: () => now });
  const windows: number[] = [];
  health.admit();
  health.failed(refused());
  for (let i = 0; i < 6; i++) {
    assert.equal(health.state().online, false);
    const until = health.state().offlineUntil as number;
    windows.push(until - now);
    now = until;
    health.admit(); // the probe after the window
    health.failed(refused());
  }
  assert.deepEqual(windows, [1000, 2000, 4000, 8000, 10_000, 10_000]);
  // The upstream answers again, even with a refusal: it is reachable, so it is online.
  now = health.state().offlineUntil as number;
  health.admit();
  health.failed(new UpstreamUnavailableError('hub', 'unauthorized', 'authentication failed (401)'));
  assert.deepEqual(health.state(), { online: true, consecutiveFailures: 0, lastError: 'upstream hub: connect ECONNREFUSED' });
});
