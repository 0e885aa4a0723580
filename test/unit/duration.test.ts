import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DurationError, formatDuration, parseDuration } from '../../registry/core/duration.js';

test('parses the units people type for expiry and --since', () => {
  assert.equal(parseDuration('90m'), 90 * 60_000);
  assert.equal(parseDuration('12h'), 12 * 3_600_000);
  assert.equal(parseDuration('30d'), 30 * 86_400_000);
  assert.equal(parseDuration('1y'), 365 * 86_400_000);
  assert.equal(parseDuration('2w'), 14 * 86_400_000);
  assert.equal(parseDuration('45s'), 45_000);
  assert.equal(parseDuration('1h30m'), 90 * 60_000);
  assert.equal(parseDuration(' 7D '), 7 * 86_400_000);
});

test('rejects anything else with a message that shows the accepted form', () => {
  for (const bad of ['', '30', 'd', '1.5h', '-1d', '0d', '10 days', '1x', 'h1', '30d!', '9999999d']) {
    assert.throws(() => parseDuration(bad), (error: unknown) => error instanceof DurationError && /e\.g\. 90m/.test(error.message), bad);
  }
});

test('formats durations back in the largest units', () => {
  assert.equal(formatDuration(90 * 60_000), '1h30m');
  assert.equal(formatDuration(parseDuration('30d')), '30d');
  assert.equal(formatDuration(0), '0s');
});
