import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compareNatural, tagComparator } from '../../registry/admin/tag-order.js';

describe('tag order', () => {
  it('compares digit runs by value, so t2 comes before t10 and 1.2.9 before 1.2.10', () => {
    assert.deepEqual(['t10', 't1', 't100', 't2', 't1000'].sort(compareNatural), ['t1', 't2', 't10', 't100', 't1000']);
    assert.deepEqual(['1.2.10', '1.10.0', '1.2.9', '1.9'].sort(compareNatural), ['1.2.9', '1.2.10', '1.9', '1.10.0']);
  });

  it('keeps very long digit runs exact and orders leading zeros after the plain number', () => {
    const big = '123456789012345678901234567890';
    assert.ok(compareNatural(`v${big}0`, `v${big}1`) < 0);
    assert.ok(compareNatural(`v${big}`, 'v99') > 0);
    assert.deepEqual(['v01', 'v1', 'v001'].sort(compareNatural), ['v1', 'v01', 'v001']);
  });

  it('puts latest first in every order; version is newest first, name ascending, pushed by time', () => {
    const tags = ['t1', 'latest', 't10', 't2'];
    assert.deepEqual([...tags].sort(tagComparator('version')), ['latest', 't10', 't2', 't1']);
    assert.deepEqual([...tags].sort(tagComparator('name')), ['latest', 't1', 't2', 't10']);
    const times: Record<string, number> = { t1: 3, t2: 1, t10: 1, latest: 0 };
    assert.deepEqual([...tags].sort(tagComparator('pushed', (tag) => times[tag] ?? 0)), ['latest', 't1', 't10', 't2']);
  });
});
