import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatBytes, parseByteSize } from '../../registry/core/byte-size.js';
import { immutablePatternOf, immutablePatternsFor, isImmutableTag, isTagPattern, tagPatternMatches, tagPatternsProblem } from '../../registry/lifecycle/immutable-tags.js';
import { monthOf } from '../../registry/lifecycle/pull-traffic.js';
import { storageQuotaDenied } from '../../registry/lifecycle/storage-quota.js';

test('tag patterns: * matches any run (none included), everything else itself', () => {
  const cases: Array<[string, string, boolean]> = [
    ['v*', 'v1.2.3', true],
    ['v*', 'v', true],
    ['v*', 'release-v1', false],
    ['*', 'anything', true],
    ['release-*-final', 'release-1.0-final', true],
    ['release-*-final', 'release--final', true],
    ['release-*-final', 'release-final', false],
    ['*-rc*', '1.0-rc2', true],
    ['*-rc*', '1.0-beta', false],
    ['a*a', 'a', false],
    ['a*a', 'aa', true],
    ['latest', 'latest', true],
    ['latest', 'latest2', false],
    ['v1.*', 'v1x2', false], // a dot is a dot, not a regular expression's any-character
    ['**', 'x', true],
  ];
  for (const [pattern, tag, expected] of cases) assert.equal(tagPatternMatches(pattern, tag), expected, `${pattern} ~ ${tag}`);
  assert.equal(immutablePatternOf({ immutableTags: ['latest', 'v*'] }, 'v2'), 'v*');
  assert.equal(isImmutableTag({ immutableTags: ['v*'] }, 'dev'), false);
  assert.equal(isImmutableTag({}, 'v1'), false, 'no patterns: every tag is mutable');
});

test('tag patterns are validated: tag characters and *, not a path or a regular expression', () => {
  for (const good of ['v*', '*', 'release-*', '1.*', '_x*']) assert.equal(isTagPattern(good), true, good);
  for (const bad of ['', '.hidden', '-x', 'a/b', 'v[0-9]', 'x'.repeat(129), 'tag with space', '../x']) assert.equal(isTagPattern(bad), false, bad);
  assert.match(tagPatternsProblem(['v*', 'a/b']) ?? '', /invalid tag pattern "a\/b"/);
  assert.match(tagPatternsProblem(Array.from({ length: 101 }, (_, i) => `t${i}*`)) ?? '', /at most 100/);
  assert.equal(tagPatternsProblem(['v*', 'v*']), undefined);
});

test('sizes parse in binary and decimal units and refuse what is not a positive whole size', () => {
  assert.equal(parseByteSize('10GiB'), 10 * 1024 ** 3);
  assert.equal(parseByteSize('1.5 MiB'), 1.5 * 1024 ** 2);
  assert.equal(parseByteSize('500MB'), 500 * 1000 ** 2);
  assert.equal(parseByteSize('2g'), 2 * 1000 ** 3);
  assert.equal(parseByteSize('1048576'), 1048576);
  assert.equal(parseByteSize('100 b'), 100);
  for (const bad of ['', 'none', '-1', '0', '10XB', '1e9', 'GiB', '99999999999 TiB', '0.1']) assert.equal(parseByteSize(bad), undefined, bad);
});

test('the storage refusal names the namespace, the quota, the usage and the need', () => {
  const error = storageQuotaDenied('team', 9.8 * 1024 * 1024, 10 * 1024 * 1024, 2 * 1024 * 1024);
  assert.equal(error.code, 'DENIED');
  assert.equal(error.status, 403);
  assert.match(error.message, /^namespace "team" is over its storage quota: 9\.8 MiB used of 10 MiB, this upload needs 2\.0 MiB; /);
  assert.deepEqual(error.detail, { namespace: 'team', quota: 'storage', usedBytes: 9.8 * 1024 * 1024, limitBytes: 10 * 1024 * 1024, needsBytes: 2 * 1024 * 1024 });
  assert.doesNotMatch(storageQuotaDenied('team', 10, 10).message, /needs/);
  assert.equal(formatBytes(10 * 1024 * 1024), '10 MiB');
});

test('a month is the UTC calendar month', () => {
  assert.equal(monthOf(Date.UTC(2026, 11, 31, 23, 59, 59)), '2026-12');
  assert.equal(monthOf(Date.UTC(2027, 0, 1, 0, 0, 0)), '2027-01');
});

test("a repository's immutable patterns add to its namespace's, never replace them", () => {
  const state = {
    policies: [
      { scope: 'team', immutableTags: ['v*'], updatedAt: '' },
      { scope: 'team/app', immutableTags: ['release-*', 'v*'], updatedAt: '' },
      { scope: 'teams', immutableTags: ['x'], updatedAt: '' },
    ],
  };
  assert.deepEqual(immutablePatternsFor(state, 'team/app'), ['v*', 'release-*']);
  assert.deepEqual(immutablePatternsFor(state, 'team/other/deep'), ['v*']);
  assert.deepEqual(immutablePatternsFor(state, 'team'), ['v*']);
  assert.deepEqual(immutablePatternsFor(state, 'other/app'), []);
});
