import assert from 'node:assert/strict';
import { test } from 'node:test';
import { clientKey, createRateLimiter } from '../../registry/auth/index.js';

function clock(start = 1_000_000) {
  let time = start;
  return { now: () => time, advance: (ms: number) => (time += ms) };
}

test('10 failures within 60 s block the address; others are unaffected; Retry-After counts down', () => {
  const c = clock();
  const limiter = createRateLimiter({ now: c.now });
  for (let i = 0; i < 9; i++) {
    assert.ok(limiter.recordFailure('10.0.0.1').allowed);
    c.advance(1000);
  }
  const tenth = limiter.recordFailure('10.0.0.1');
  assert.deepEqual(tenth, { allowed: false, retryAfterSeconds: 30 });
  assert.deepEqual(limiter.check('10.0.0.1'), { allowed: false, retryAfterSeconds: 30 });
  assert.ok(limiter.check('10.0.0.2').allowed);
  c.advance(10_500);
  assert.deepEqual(limiter.check('10.0.0.1'), { allowed: false, retryAfterSeconds: 20 });
  c.advance(20_000);
  assert.ok(limiter.check('10.0.0.1').allowed);
});

test('failures spread beyond the window never block', () => {
  const c = clock();
  const limiter = createRateLimiter({ now: c.now });
  for (let i = 0; i < 50; i++) {
    assert.ok(limiter.recordFailure('10.0.0.1').allowed, `failure ${i}`);
    c.advance(7000); // ~8.6 failures per minute
  }
});

test('repeated offences double the block, capped at 5 minutes; a quiet address starts over', () => {
  const c = clock();
  const limiter = createRateLimiter({ now: c.now });
  const offend = () => {
    let last = limiter.recordFailure('10.0.0.9');
    for (let i = 1; i < 10; i++) last = limiter.recordFailure('10.0.0.9');
    assert.ok(!last.allowed);
    return last.retryAfterSeconds;
  };
  const blocks: number[] = [];
  for (let i = 0; i < 6; i++) {
    blocks.push(offend());
    c.advance(blocks.at(-1)! * 1000);
  }
  assert.deepEqual(blocks, [30, 60, 120, 240, 300, 300]);
  c.advance(16 * 60_000);
  assert.equal(offend(), 30, 'offences forgotten after 15 quiet minutes');
});

test('failures while blocked do not extend the count; success clears pending failures', () => {
  const c = clock();
  const limiter = createRateLimiter({ now: c.now });
  for (let i = 0; i < 9; i++) limiter.recordFailure('a');
  limiter.recordSuccess('a');
  assert.ok(limiter.recordFailure('a').allowed, 'count restarted after a success');
});

test('IPv4-mapped addresses and one IPv6 /64 count as one client', () => {
  assert.equal(clientKey('::ffff:127.0.0.1'), '127.0.0.1');
  assert.equal(clientKey('127.0.0.1'), '127.0.0.1');
  assert.equal(clientKey('2001:db8:0:1::1'), clientKey('2001:db8:0:1:ffff:1:2:3'));
  assert.notEqual(clientKey('2001:db8:0:1::1'), clientKey('2001:db8:0:2::1'));
  assert.equal(clientKey('::1'), '0:0:0:0::/64');
  const c = clock();
  const limiter = createRateLimiter({ now: c.now });
  for (let i = 0; i < 10; i++) limiter.recordFailure(`2001:db8:0:1::${i + 1}`);
  assert.ok(!limiter.check('2001:db8:0:1::abcd').allowed);
});

test('memory stays bounded: past maxEntries the least recently seen go, and idle entries are swept', () => {
  const c = clock();
  const limiter = createRateLimiter({ now: c.now, maxEntries: 100 });
  for (let i = 0; i < 10; i++) limiter.recordFailure('blocked');
  for (let i = 0; i < 1000; i++) limiter.recordFailure(`10.1.${Math.floor(i / 256)}.${i % 256}`);
  assert.ok(limiter.size() <= 100);
  const c2 = clock();
  const sweeping = createRateLimiter({ now: c2.now });
  for (let i = 0; i < 200; i++) sweeping.recordFailure(`10.2.0.${i}`);
  c2.advance(20 * 60_000);
  for (let i = 0; i < 256; i++) sweeping.recordFailure('10.3.0.1');
  assert.ok(sweeping.size() <= 2, `stale entries swept (size ${sweeping.size()})`);
});
