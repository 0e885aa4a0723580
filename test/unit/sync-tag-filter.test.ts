import assert from 'node:assert/strict';
import { test } from 'node:test';
import { selectTags, validateTagFilter } from '../../registry/mirror/sync/tag-filter.js';
import { SyncRuleError, validateSyncRule } from '../../registry/mirror/sync/sync-rules.js';
import type { SyncRuleRecord } from '../../registry/state/index.js';

/** Which tags a sync rule takes: the filters a user writes on `berth sync add`, and how bad ones are refused. */

const tags = ['1.0.0', '1.1.0', 'v1.2.0', '1.2.0-rc.1', '1.10.0', '1.9.3', '2.0.0', '2.1.0-beta', 'latest', 'dev-x', '1.5', '11.2.0'];

test('--tags and --exclude match the whole tag, not a part of it', () => {
  assert.deepEqual(selectTags(tags, { include: '1\\.1.*' }), ['1.1.0', '1.10.0'], 'not 11.2.0 (anchored at the start)');
  assert.deepEqual(selectTags(tags, { include: 'latest|dev-.*' }), ['dev-x', 'latest'], 'alternation stays inside the anchors');
  assert.deepEqual(selectTags(tags, { include: 'dev' }), [], 'no partial match: "dev" is not "dev-x"');
  assert.deepEqual(selectTags(tags, { exclude: '.*-.*' }), ['1.0.0', '1.1.0', '1.10.0', '1.5', '1.9.3', '11.2.0', '2.0.0', 'latest', 'v1.2.0']);
  assert.deepEqual(selectTags(tags, { exclude: 'rc' }), [...tags].sort(), 'exclude is anchored too: "rc" drops nothing');
  assert.deepEqual(selectTags(tags, { include: '1\\..*', exclude: '1\\.0\\..*|.*-.*' }), ['1.1.0', '1.10.0', '1.5', '1.9.3']);
});

test('--semver takes versions in the range, with or without a v prefix, and leaves pre-releases and non-versions out', () => {
  assert.deepEqual(selectTags(tags, { semver: '>=1.1 <2' }), ['1.1.0', '1.10.0', '1.9.3', 'v1.2.0']);
  assert.deepEqual(selectTags(tags, { semver: '^2' }), ['2.0.0'], '2.1.0-beta is a pre-release');
  assert.deepEqual(selectTags(tags, { semver: '>=1.0.0' }).includes('1.5'), false, '"1.5" is not a full version');
  assert.deepEqual(selectTags(['v3.0.0', 'V3.1.0', 'release-3'], { semver: '3.x' }), ['v3.0.0']);
  assert.deepEqual(selectTags(tags, { semver: '>=1.1 <2', exclude: 'v.*' }), ['1.1.0', '1.10.0', '1.9.3'], 'filters combine');
});

test('--newest N orders by version (numerically, v prefix allowed), then other tags; the result is sorted', () => {
  assert.deepEqual(selectTags(['1.9.0', '1.10.0', 'v1.2.0', '1.0.0'], { newest: 2 }), ['1.10.0', '1.9.0'], '1.10 is newer than 1.9');
  assert.deepEqual(selectTags(['1.0.0', 'v1.11.0', '1.2.0'], { newest: 1 }), ['v1.11.0']);
  assert.deepEqual(selectTags(['latest', 'dev-x', '1.0.0'], { newest: 2 }), ['1.0.0', 'latest'], 'versions first, then others in reverse lexical order');
  assert.deepEqual(selectTags(tags, { semver: '>=1.1 <2', newest: 2 }), ['1.10.0', '1.9.3'], 'newest applies after the range');
  assert.deepEqual(selectTags(['1.0.0'], { newest: 5 }), ['1.0.0'], 'fewer tags than N');
  const input = ['2.0.0', '1.0.0'];
  selectTags(input, { newest: 1 });
  assert.deepEqual(input, ['2.0.0', '1.0.0'], 'the input list is not reordered');
});

test('bad patterns and ranges are refused with a message that names the flag and the reason', () => {
  assert.throws(() => validateTagFilter({ include: '(' }), /^Error: invalid --tags pattern "\(": Unterminated group$/);
  assert.throws(() => validateTagFilter({ exclude: '[a-' }), /^Error: invalid --exclude pattern "\[a-": Unterminated character class$/);
  assert.throws(() => validateTagFilter({ semver: 'newest please' }), /invalid semver range "newest please" \(examples: ">=1\.2 <2"/);
  assert.throws(() => validateTagFilter({ newest: 0 }), /--newest must be a positive whole number, not 0/);
  assert.throws(() => validateTagFilter({ newest: 1.5 }), /--newest must be a positive whole number/);
  assert.throws(() => validateTagFilter({ newest: Number('abc') }), /--newest must be a positive whole number, not NaN/);
  validateTagFilter({ include: '1\\..*', exclude: '.*-rc.*', semver: '>=v1.1 <2', newest: 3 });
});

test('a rule with a bad filter is refused as a whole by the validation the CLI and the admin API share', () => {
  const rule: SyncRuleRecord = {
    name: 'app',
    upstream: 'hub',
    repositories: ['library/app'],
    tags: { semver: '>=1.1 <2' },
    platforms: ['linux/arm64'],
    into: 'mirror',
    everySeconds: 3600,
    paused: false,
    createdAt: new Date().toISOString(),
    lastRunAt: null,
  };
  const upstreams = [{ name: 'hub' }];
  validateSyncRule(rule, upstreams);
  const refused = (change: Partial<SyncRuleRecord>, pattern: RegExp) =>
    assert.throws(() => validateSyncRule({ ...rule, ...change }, upstreams), (error: unknown) => error instanceof SyncRuleError && pattern.test(error.message));
  refused({ tags: { include: '(' } }, /invalid --tags pattern/);
  refused({ tags: { semver: '>=one' } }, /invalid semver range/);
  refused({ everySeconds: 59 }, /at least one minute/);
  refused({ platforms: ['arm64'] }, /invalid platform "arm64"/);
  refused({ repositories: ['Library/App'] }, /invalid repository/);
  refused({ into: 'a/b' }, /invalid target namespace/);
  assert.throws(() => validateSyncRule({ ...rule, upstream: 'quay' }, upstreams), (error: unknown) => error instanceof SyncRuleError && error.code === 'BERTH_UPSTREAM_NOT_FOUND');
});
