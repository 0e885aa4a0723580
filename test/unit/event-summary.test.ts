import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createEventSummarizer, type EventSummary } from '../../registry/event-summary.js';

test('the first event of a quiet spell is reported at once; the rest, per window, as one summary each', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  const reports: EventSummary[] = [];
  const summary = createEventSummarizer({ windowMs: 60_000, report: (report) => reports.push(report) });

  summary.add('127.0.0.1');
  assert.equal(reports.length, 1);
  assert.deepEqual({ count: reports[0]!.count, leading: reports[0]!.leading, byKey: reports[0]!.byKey }, { count: 1, leading: true, byKey: [{ key: '127.0.0.1', count: 1 }] });

  for (let i = 0; i < 500; i += 1) summary.add(i % 5 === 0 ? '10.0.0.9' : '127.0.0.1');
  assert.equal(reports.length, 1, 'nothing more until the window ends');
  t.mock.timers.tick(60_000);
  assert.equal(reports.length, 2);
  assert.deepEqual(reports[1]!.byKey, [{ key: '127.0.0.1', count: 400 }, { key: '10.0.0.9', count: 100 }]);
  assert.equal(reports[1]!.count, 500);
  assert.equal(reports[1]!.leading, false);

  // The flood goes on: the next window follows at once; then a quiet window ends the spell without a report.
  summary.add('127.0.0.1');
  t.mock.timers.tick(60_000);
  assert.equal(reports.length, 3);
  assert.equal(reports[2]!.count, 1);
  t.mock.timers.tick(60_000);
  assert.equal(reports.length, 3, 'a quiet window reports nothing');
  summary.add('127.0.0.1');
  assert.equal(reports.length, 4);
  assert.equal(reports[3]!.leading, true, 'after a quiet window, the next event is reported at once again');

  summary.add('127.0.0.2');
  summary.close();
  assert.equal(reports.length, 5, 'close() reports what is pending');
  assert.equal(reports[4]!.count, 1);
});

test('distinct keys past maxKeys are counted, not kept', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const reports: EventSummary[] = [];
  const summary = createEventSummarizer({ windowMs: 1000, maxKeys: 3, report: (report) => reports.push(report) });
  summary.add('first');
  for (let i = 0; i < 10; i += 1) summary.add(`key-${i}`);
  summary.close();
  assert.equal(reports[1]!.byKey.length, 3);
  assert.equal(reports[1]!.otherKeys, 7);
  assert.equal(reports[1]!.count, 10);
});
