import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addPin } from '../../registry/lifecycle/pins.js';
import { dayMs, planRetention, type RepositoryFacts, type RetentionInput } from '../../registry/lifecycle/retention-plan.js';
import { tagPatternMatches as matchesTagPattern } from '../../registry/lifecycle/immutable-tags.js';
import { checkRetentionRules, RetentionRuleError, setRetentionRules } from '../../registry/lifecycle/retention-rules.js';
import { defaultState, type LifecyclePolicyRecord, type PinRecord } from '../../registry/state/index.js';

/**
 * The retention plan as a pure function: which rule removes what, in which order, and what pins, immutable
 * patterns and an offline upstream keep. The end-to-end tests (test/e2e/retention.test.ts) check that the runs
 * carry out exactly this plan over real content.
 */

const now = Date.parse('2030-06-30T12:00:00Z');
const daysAgo = (days: number) => now - days * dayMs;
const digest = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`;

function input(repositories: RepositoryFacts[], policies: Array<Omit<LifecyclePolicyRecord, 'updatedAt'>>, pins: Array<Pick<PinRecord, 'repository' | 'reference'>> = [], extra: Partial<RetentionInput> = {}): RetentionInput {
  return {
    now,
    state: {
      policies: policies.map((policy) => ({ ...policy, updatedAt: new Date(now).toISOString() })),
      pins: pins.map((pin) => ({ ...pin, createdAt: new Date(now).toISOString(), by: 'admin' })),
    },
    mirrors: new Set(['hub']),
    repositories,
    ...extra,
  };
}

/** `team/app` with tags 1.1.0 to 1.n.0, each pushed `spacing` days after the one before (the last now), each on its own manifest. */
function versions(n: number, repository = 'team/app', spacing = 1): RepositoryFacts {
  const tags = Array.from({ length: n }, (_, i) => ({ tag: `1.${i + 1}.0`, digest: digest(i + 1), pushedAt: daysAgo((n - i - 1) * spacing) }));
  return { repository, tags, manifests: tags.map((tag) => ({ digest: tag.digest, pushedAt: tag.pushedAt, children: [] })) };
}

const summary = (plan: ReturnType<typeof planRetention>) => plan.removals.map((removal) => `${removal.rule} ${removal.kind} ${removal.reference}`);

test('keep-newest by push time removes the older tags only; their manifests stay without an untagged rule', () => {
  const plan = planRetention(input([versions(5)], [{ scope: 'team', retention: { keepNewest: 2 } }]));
  assert.deepEqual(summary(plan), ['keep-newest tag 1.3.0', 'keep-newest tag 1.2.0', 'keep-newest tag 1.1.0']);
  assert.match(plan.removals[0]?.reason ?? '', /not among the newest 2 tags by push time \(pushed 2030-06-28T12:00:00Z\)/);
});

test('keep-newest by semver ranks version tags only: latest and other names stay', () => {
  const facts: RepositoryFacts = {
    repository: 'team/app',
    // Pushed in the opposite order of their versions: semver must not care.
    tags: [
      { tag: 'v2.0.0', digest: digest(1), pushedAt: daysAgo(9) },
      { tag: '1.10.0', digest: digest(2), pushedAt: daysAgo(5) },
      { tag: '1.9.0', digest: digest(3), pushedAt: daysAgo(1) },
      { tag: 'latest', digest: digest(1), pushedAt: daysAgo(20) },
      { tag: 'main', digest: digest(3), pushedAt: daysAgo(30) },
    ],
    manifests: [1, 2, 3].map((n) => ({ digest: digest(n), pushedAt: daysAgo(30), children: [] })),
  };
  const plan = planRetention(input([facts], [{ scope: 'team', retention: { keepNewest: 2, orderBy: 'semver' } }]));
  assert.deepEqual(summary(plan), ['keep-newest tag 1.9.0']);
});

test('a repository policy overrides its namespace rule by rule; repositories without rules are left alone', () => {
  const plan = planRetention(
    input([versions(4, 'team/app'), versions(4, 'team/web'), versions(4, 'other/app')], [
      { scope: 'team', retention: { keepNewest: 3 } },
      { scope: 'team/web', retention: { keepNewest: 1 } },
    ]),
  );
  assert.deepEqual(
    plan.removals.map((removal) => `${removal.repository}:${removal.reference}`),
    ['team/app:1.1.0', 'team/web:1.3.0', 'team/web:1.2.0', 'team/web:1.1.0'],
  );
});

test('untagged-days removes old untagged manifests with their platforms, never a platform of a stored index or a referrer of a stored manifest', () => {
  const facts: RepositoryFacts = {
    repository: 'team/app',
    tags: [{ tag: 'multi', digest: digest(10), pushedAt: daysAgo(40) }],
    manifests: [
      // A tagged index and its platforms: all stay.
      { digest: digest(10), pushedAt: daysAgo(40), children: [digest(11), digest(12)] },
      { digest: digest(11), pushedAt: daysAgo(40), children: [] },
      { digest: digest(12), pushedAt: daysAgo(40), children: [] },
      // An untagged old index with one platform of its own and one shared with the tagged index.
      { digest: digest(20), pushedAt: daysAgo(40), children: [digest(21), digest(11)] },
      { digest: digest(21), pushedAt: daysAgo(2), children: [] },
      // A signature of the tagged index: stays with it.
      { digest: digest(30), pushedAt: daysAgo(40), children: [], subject: digest(10) },
      // A signature of the old untagged index: goes with it.
      { digest: digest(31), pushedAt: daysAgo(40), children: [], subject: digest(20) },
      // Untagged but young; untagged with no known time.
      { digest: digest(40), pushedAt: daysAgo(3), children: [] },
      { digest: digest(41), children: [] },
    ],
  };
  const plan = planRetention(input([facts], [{ scope: 'team', retention: { untaggedDays: 7 } }]));
  assert.deepEqual(summary(plan), [`untagged manifest ${digest(20)}`, `untagged manifest ${digest(21)}`, `untagged manifest ${digest(31)}`]);
  assert.match(plan.removals[1]?.reason ?? '', /a platform of sha256:000000000000, removed with it/);
});

test('keep-newest then untagged-days in one run: the manifest a removed tag leaves behind goes too, unless another tag keeps it', () => {
  const facts = versions(4);
  const shared = { ...facts, tags: [...facts.tags, { tag: 'stable', digest: digest(1), pushedAt: daysAgo(30) }] };
  const plan = planRetention(input([shared], [{ scope: 'team', retention: { keepNewest: 2, untaggedDays: 1 } }]));
  // 1.2.0, 1.1.0 and stable (the oldest push) lose their tags, so digests 1 and 2 are untagged and old; 3 and 4 stay tagged.
  assert.deepEqual(summary(plan), ['keep-newest tag 1.2.0', 'keep-newest tag 1.1.0', 'keep-newest tag stable', `untagged manifest ${digest(1)}`, `untagged manifest ${digest(2)}`]);
});

test('pins and immutable tags are never removed, and say why they were kept', () => {
  const state = defaultState();
  addPin(state, 'team/app', '1.1.0', 'admin');
  addPin(state, 'team/app', digest(2), 'admin');
  const plan = planRetention(
    input([versions(5, 'team/app', 10)], [{ scope: 'team', retention: { keepNewest: 1, untaggedDays: 1 }, immutableTags: ['1.3.*'] }], state.pins),
  );
  assert.deepEqual(summary(plan), ['keep-newest tag 1.4.0', `untagged manifest ${digest(4)}`]);
  assert.deepEqual(
    plan.spared.map((spared) => `${spared.reference} ${spared.why}`),
    ['1.3.0 immutable', '1.2.0 pinned', '1.1.0 pinned'],
  );
});

test('unpulled-days evicts mirror images not pulled (or stored) within D days, with their platforms; pins, other namespaces and an offline upstream keep them', () => {
  const mirror: RepositoryFacts = {
    repository: 'hub/library/redis',
    tags: [
      { tag: '7', digest: digest(1), pushedAt: daysAgo(60), lastPulledAt: daysAgo(2) },
      { tag: '6', digest: digest(2), pushedAt: daysAgo(60), lastPulledAt: daysAgo(45) },
      { tag: '5', digest: digest(3), pushedAt: daysAgo(60) },
      { tag: 'kept', digest: digest(4), pushedAt: daysAgo(60) },
      // Stored recently (a first pull-through) although its tag was never counted.
      { tag: 'new', digest: digest(5), pushedAt: daysAgo(1) },
    ],
    manifests: [
      { digest: digest(1), pushedAt: daysAgo(60), children: [] },
      { digest: digest(2), pushedAt: daysAgo(60), children: [digest(6)] },
      { digest: digest(3), pushedAt: daysAgo(60), children: [] },
      { digest: digest(4), pushedAt: daysAgo(60), children: [] },
      { digest: digest(5), pushedAt: daysAgo(1), children: [] },
      { digest: digest(6), pushedAt: daysAgo(60), children: [] },
      // Pulled by digest only, long ago.
      { digest: digest(7), pushedAt: daysAgo(60), lastPulledAt: daysAgo(50), children: [] },
    ],
  };
  const policies = [{ scope: 'hub', retention: { unpulledDays: 30 } }];
  const pins = [{ repository: 'hub/library/redis', reference: 'kept' }];
  const plan = planRetention(input([mirror], policies, pins));
  assert.deepEqual(summary(plan), [`unpulled manifest ${digest(2)}`, `unpulled manifest ${digest(6)}`, `unpulled manifest ${digest(3)}`, `unpulled manifest ${digest(7)}`]);
  assert.deepEqual(plan.removals[0]?.tags, ['6']);
  assert.match(plan.removals[0]?.reason ?? '', /not pulled or stored since 2030-05-16T12:00:00Z \(unpulled after 30 days\)/);
  assert.deepEqual(plan.spared.map((spared) => `${spared.reference} ${spared.why}`), ['kept pinned']);

  const offline = planRetention(input([mirror], policies, pins, { offline: new Set(['hub']) }));
  assert.deepEqual(offline.removals, []);
  assert.equal(offline.spared.filter((spared) => spared.why === 'upstream offline').length, 3);

  // The same rule outside a mirror namespace does nothing (and cannot be saved: see below).
  const local = planRetention(input([{ ...mirror, repository: 'team/redis' }], [{ scope: 'team', retention: { unpulledDays: 30 } }]));
  assert.deepEqual(local.removals, []);
});

test('rules are checked where they are saved: ranges, unknown fields, unpulled-days outside a mirror namespace', () => {
  const mirrors = new Set(['hub']);
  assert.deepEqual(checkRetentionRules({ keepNewest: 3, orderBy: 'semver', untaggedDays: 7 }, 'team', mirrors), { keepNewest: 3, orderBy: 'semver', untaggedDays: 7 });
  assert.deepEqual(checkRetentionRules({ unpulledDays: 30 }, 'hub/library/redis', mirrors), { unpulledDays: 30 });
  for (const [rules, message] of [
    [{ keepNewest: 0 }, /keep-newest must be a whole number from 1/],
    [{ keepNewest: 1.5 }, /keep-newest/],
    [{ untaggedDays: 0 }, /untagged-days must be a whole number from 1 to 3650/],
    [{ orderBy: 'date' }, /order must be pushed or semver/],
    [{ keepnewest: 3 }, /unknown retention rule "keepnewest"/],
    [{ unpulledDays: 30 }, /"team" is not a mirror namespace \(mirror namespaces: hub\)/],
  ] as const) {
    assert.throws(() => checkRetentionRules(rules, 'team', mirrors), (error: unknown) => error instanceof RetentionRuleError && message.test(error.message));
  }
  const state = defaultState();
  setRetentionRules(state, 'team', { keepNewest: 3 });
  assert.deepEqual(state.policies[0]?.retention, { keepNewest: 3 });
  setRetentionRules(state, 'team', {});
  assert.deepEqual(state.policies, [], 'no rules left: the record goes');
  assert.throws(() => setRetentionRules(state, '../etc', { keepNewest: 1 }), /invalid scope/);
});

test("immutable patterns (the push path's matcher): * matches any run, the rest is literal", () => {
  assert.ok(matchesTagPattern('v*', 'v1.2'));
  assert.ok(matchesTagPattern('*', 'anything'));
  assert.ok(matchesTagPattern('1.*.0', '1.22.0'));
  assert.ok(!matchesTagPattern('1.0', '1x0'), 'a dot is a dot');
  assert.ok(!matchesTagPattern('v*', 'release-v1'));
});
