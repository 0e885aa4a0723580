import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { RepositoryIndex, RepositorySnapshot } from '../../registry/storage/repository-index.js';

/**
 * The one RepositoryIndex contract suite: SQLite (one file per data directory) and PostgreSQL (one database for
 * several nodes) run it as it is. What the registry relies on: lexical pages, what the catalog lists, the change
 * counter that makes a rebuild safe against writers, intents kept for collection, and two instances over one store
 * (two processes, or two nodes) seeing each other's writes.
 */
export interface IndexBackend {
  /** A fresh, empty store, and a way to open more instances over it; everything opened is closed by `close`. */
  fresh(): Promise<IndexStore>;
  close(): Promise<void>;
}

export interface IndexStore {
  readonly index: RepositoryIndex;
  /** Another instance over the same store: another process or another node. */
  another(): Promise<RepositoryIndex>;
}

export interface IndexContractOptions {
  readonly skip?: string | undefined;
}

const digest = (c: string) => `sha256:${c.repeat(64)}`;
const a = digest('a');
const b = digest('b');
const c = digest('c');
const at = (iso: string) => new Date(iso);
const empty: RepositorySnapshot = { exists: true, layers: [], manifests: [], tags: [], referrers: [] };

export function describeRepositoryIndexContract(name: string, open: () => Promise<IndexBackend>, options: IndexContractOptions = {}): void {
  describe(`${name}: RepositoryIndex contract`, { skip: options.skip, timeout: 10 * 60_000 }, () => {
    let backend: IndexBackend;
    before(async () => {
      backend = await open();
    });
    after(() => backend?.close());
    const it = (title: string, fn: (store: IndexStore) => Promise<void>) =>
      test(title, { timeout: 60_000 }, async () => fn(await backend.fresh()));

    it('a fresh index is not ready until marked, knows no repository and counts no change', async ({ index }) => {
      assert.equal(await index.isReady(), false);
      assert.equal(await index.changeCount('team/app'), 0);
      assert.deepEqual(await index.listRepositories({}), []);
      assert.deepEqual(await index.knownRepositories(), []);
      assert.equal(await index.listTags('team/app', {}), undefined);
      assert.equal(await index.listTagNames('team/app', {}), undefined);
      assert.equal(await index.snapshotOf('team/app'), undefined);
      assert.equal(await index.countTags('team/app'), 0);
      await index.markReady();
      await index.markReady();
      assert.equal(await index.isReady(), true);
    });

    it('tags list in bytewise order with digest and push time; a tag moves in place; removal drops it', async ({ index }) => {
      // Bytewise: upper case before lower case, '1.10' before '1.9', '-' before '.' before digits.
      const names = ['v1.9', 'v1.10', 'latest', 'Latest', '1-rc', '1.0', '10', '_x', 'v1'];
      for (const [i, tag] of names.entries()) await index.putTag('team/app', tag, a, new Date(Date.UTC(2026, 0, 1, 0, 0, i, 7)));
      const sorted = [...names].sort();
      assert.deepEqual(sorted, ['1-rc', '1.0', '10', 'Latest', '_x', 'latest', 'v1', 'v1.10', 'v1.9']);
      assert.deepEqual(await index.listTagNames('team/app', {}), sorted);
      const latest = (await index.listTags('team/app', {}))?.find((entry) => entry.tag === 'latest');
      assert.deepEqual(latest, { tag: 'latest', digest: a, pushedAt: new Date(Date.UTC(2026, 0, 1, 0, 0, 2, 7)) }, 'milliseconds survive');
      assert.equal(await index.countTags('team/app'), names.length);

      await index.putTag('team/app', 'latest', b, at('2026-02-01T00:00:00.123Z'));
      const moved = (await index.listTags('team/app', { last: '_x', limit: 1 }))?.[0];
      assert.deepEqual(moved, { tag: 'latest', digest: b, pushedAt: at('2026-02-01T00:00:00.123Z') });
      assert.equal(await index.countTags('team/app'), names.length, 'a move adds no tag');

      await index.removeTag('team/app', 'latest');
      await index.removeTag('team/app', 'never-there');
      assert.deepEqual(await index.listTagNames('team/app', {}), sorted.filter((tag) => tag !== 'latest'));
      assert.deepEqual(await index.listTagNames('team/other', {}), undefined, 'another repository is still unknown');
    });

    it('pages: last is exclusive (need not exist), limit bounds, offset skips after last; an empty page of a known repository is []', async ({ index }) => {
      const tags = Array.from({ length: 25 }, (_, i) => `t${String(i).padStart(2, '0')}`);
      await Promise.all(tags.map((tag) => index.putTag('team/app', tag, a, at('2026-01-01T00:00:00Z'))));
      assert.deepEqual(await index.listTagNames('team/app', { limit: 3 }), ['t00', 't01', 't02']);
      assert.deepEqual(await index.listTagNames('team/app', { last: 't02', limit: 3 }), ['t03', 't04', 't05']);
      assert.deepEqual(await index.listTagNames('team/app', { last: 't02x', limit: 2 }), ['t03', 't04']);
      assert.deepEqual(await index.listTagNames('team/app', { last: 't02', limit: 2, offset: 10 }), ['t13', 't14']);
      assert.deepEqual(await index.listTagNames('team/app', { offset: 23 }), ['t23', 't24']);
      assert.deepEqual(await index.listTagNames('team/app', { last: 't24' }), []);
      assert.deepEqual(await index.listTags('team/app', { offset: 100 }), []);
      assert.deepEqual(await index.listTagNames('team/app', { limit: 0 }), []);
      // A client's `last` is any string, NUL included: ordered as bytes like the rest.
      assert.deepEqual(await index.listTagNames('team/app', { last: 't02\u0000zz', limit: 2 }), ['t03', 't04']);
      assert.deepEqual(await index.listTagNames('team/app', { last: '\u0000', limit: 1 }), ['t00']);

      const repositories = ['b/x', 'a/y', 'a/x', 'a-b/x', 'A/x', 'c'];
      for (const repository of repositories) await index.commitLink(repository, 'manifest', a);
      assert.deepEqual(await index.listRepositories({}), ['A/x', 'a-b/x', 'a/x', 'a/y', 'b/x', 'c']);
      assert.deepEqual(await index.listRepositories({ last: 'a/x', limit: 2 }), ['a/y', 'b/x']);
      assert.deepEqual(await index.listRepositories({ last: 'a', limit: 2, offset: 1 }), ['a/x', 'a/y']);
      assert.deepEqual(await index.listRepositories({ last: 'a/x\u0000', limit: 1 }), ['a/y']);
    });

    it('the catalog lists repositories with a committed manifest only; known repositories include layer-only ones', async ({ index }) => {
      await index.intendLink('only/intent', 'manifest', a);
      await index.commitLink('only/layer', 'layer', a);
      await index.commitLink('has/manifest', 'manifest', b);
      await index.intendLink('later/committed', 'manifest', c);
      assert.deepEqual(await index.listRepositories({}), ['has/manifest']);
      await index.commitLink('later/committed', 'manifest', c);
      assert.deepEqual(await index.listRepositories({}), ['has/manifest', 'later/committed']);
      assert.deepEqual(await index.knownRepositories(), ['has/manifest', 'later/committed', 'only/layer']);
      assert.deepEqual(await index.listTags('only/layer', {}), [], 'a layer-only repository is known, with no tags');

      await index.removeLink('has/manifest', 'manifest', b);
      assert.deepEqual(await index.listRepositories({}), ['later/committed'], 'its last manifest removed: not listed');
      assert.deepEqual(await index.listTags('has/manifest', {}), [], 'still known (its folder holds layers or manifests)');
    });

    it('every change bumps the repository counter; recording what a manifest references does not', async ({ index }) => {
      const steps: Array<() => Promise<void>> = [
        () => index.intendLink('team/app', 'manifest', a),
        () => index.commitLink('team/app', 'manifest', a),
        () => index.putTag('team/app', '1', a, new Date()),
        () => index.putReferrer('team/app', a, b),
        () => index.removeReferrer('team/app', a, b),
        () => index.removeTag('team/app', '1'),
        () => index.removeLink('team/app', 'manifest', a),
      ];
      for (const [i, step] of steps.entries()) {
        await step();
        assert.equal(await index.changeCount('team/app'), i + 1);
      }
      await index.putReferences(a, { blobs: [b], manifests: [] });
      assert.equal(await index.changeCount('team/app'), steps.length);
      assert.equal(await index.changeCount('team/other'), 0);
    });

    it('snapshotOf holds the links without intents, and counts the intents', async ({ index }) => {
      await index.intendLink('team/app', 'layer', a);
      await index.commitLink('team/app', 'layer', b);
      await index.commitLink('team/app', 'manifest', c);
      await index.intendLink('team/app', 'manifest', a);
      await index.putTag('team/app', '1', c, at('2026-03-01T00:00:00Z'));
      await index.putReferrer('team/app', c, a);
      const found = await index.snapshotOf('team/app');
      assert.deepEqual(found, {
        snapshot: { exists: true, layers: [b], manifests: [c], tags: [{ tag: '1', digest: c, pushedAt: at('2026-03-01T00:00:00Z') }], referrers: [{ subject: c, digest: a }] },
        intents: 2,
      });
      // Intending what is committed keeps it committed.
      await index.intendLink('team/app', 'layer', b);
      assert.deepEqual((await index.snapshotOf('team/app'))?.snapshot.layers, [b]);
    });

    it('referrers list per subject in order; references are written once and read back', async ({ index }) => {
      await index.putReferrer('team/app', a, c);
      await index.putReferrer('team/app', a, b);
      await index.putReferrer('team/app', a, b);
      await index.putReferrer('team/app', b, c);
      await index.putReferrer('team/other', a, a);
      assert.deepEqual(await index.listReferrers('team/app', a), [b, c]);
      await index.removeReferrer('team/app', a, c);
      assert.deepEqual(await index.listReferrers('team/app', a), [b]);
      assert.deepEqual(await index.listReferrers('team/app', c), []);

      assert.equal(await index.referencesOf(a), undefined);
      await index.putReferences(a, { blobs: [b, c], manifests: [] });
      await index.putReferences(a, { blobs: [], manifests: [c] });
      assert.deepEqual(await index.referencesOf(a), { blobs: [b, c], manifests: [] }, 'content by digest never changes: the first write stays');
      await index.putReferences(b, { blobs: [], manifests: [a, c] });
      assert.deepEqual(await index.referencesOf(b), { blobs: [], manifests: [a, c] });
    });

    it('collection sees intents, links and tag targets of every repository, ordered by repository', async ({ index }) => {
      await index.putTag('z/app', '1', c, new Date());
      await index.intendLink('a/app', 'manifest', a);
      await index.commitLink('m/app', 'layer', b);
      await index.commitLink('a/app', 'layer', c);
      const linked = await index.linkedDigests();
      assert.deepEqual(linked.map((entry) => entry.repository), ['a/app', 'a/app', 'm/app', 'z/app']);
      const key = (entry: { repository: string; kind: string; digest: string }) => `${entry.repository} ${entry.kind} ${entry.digest}`;
      assert.deepEqual(linked.map(key).sort(), [`a/app layer ${c}`, `a/app manifest ${a}`, `m/app layer ${b}`, `z/app tag ${c}`]);
      assert.equal(await index.isLinkedAnywhere(a), true, 'an intent counts');
      assert.equal(await index.isLinkedAnywhere(b), true);
      await index.removeLink('m/app', 'layer', b);
      assert.equal(await index.isLinkedAnywhere(b), false);
      await index.removeTag('z/app', '1');
      await index.removeLink('a/app', 'layer', c);
      assert.equal(await index.isLinkedAnywhere(c), false, 'a tag target is not a link');
    });

    it('replaceRepository writes the snapshot when the counter is unchanged, and nothing when a writer got in between', async ({ index }) => {
      await index.commitLink('team/app', 'manifest', a);
      await index.putTag('team/app', 'old', a, new Date());
      const seen = await index.changeCount('team/app');
      const snapshot: RepositorySnapshot = {
        exists: true,
        layers: [c, c],
        manifests: [b],
        tags: [{ tag: 'new', digest: b, pushedAt: at('2026-04-01T00:00:00Z') }],
        referrers: [{ subject: b, digest: a }],
      };
      await index.putTag('team/app', 'racing', a, new Date());
      assert.equal(await index.replaceRepository('team/app', seen, snapshot, new Date()), false);
      assert.deepEqual(await index.listTagNames('team/app', {}), ['old', 'racing'], 'nothing written');
      assert.equal(await index.changeCount('team/app'), seen + 1);

      assert.equal(await index.replaceRepository('team/app', seen + 1, snapshot, new Date()), true);
      assert.equal(await index.changeCount('team/app'), seen + 2, 'a replacement is a change');
      assert.deepEqual(await index.snapshotOf('team/app'), { snapshot: { ...snapshot, layers: [c] }, intents: 0 });
      assert.deepEqual(await index.listRepositories({}), ['team/app']);
      assert.deepEqual(await index.listReferrers('team/app', b), [a]);

      assert.equal(await index.replaceRepository('new/repo', 0, { ...empty, manifests: [a] }, new Date()), true, 'a repository never seen has counter 0');
      assert.deepEqual(await index.listRepositories({}), ['new/repo', 'team/app']);
    });

    it('replaceRepository keeps intents younger than keepIntentsAfter; a kept intent in the snapshot becomes a link', async ({ index }) => {
      await index.intendLink('team/app', 'layer', a);
      await index.intendLink('team/app', 'manifest', b);
      await new Promise((resolve) => setTimeout(resolve, 20));
      const cutoff = new Date();
      await new Promise((resolve) => setTimeout(resolve, 20));
      await index.intendLink('team/app', 'layer', c);
      await index.intendLink('team/app', 'manifest', c);
      const seen = await index.changeCount('team/app');
      assert.equal(await index.replaceRepository('team/app', seen, { ...empty, manifests: [c] }, cutoff), true);
      const found = await index.snapshotOf('team/app');
      assert.deepEqual(found?.snapshot.manifests, [c], 'the young manifest intent is in the files: now a link');
      assert.deepEqual(found?.snapshot.layers, []);
      assert.equal(found?.intents, 1, 'the young layer intent survives; the old ones are gone');
      assert.equal(await index.isLinkedAnywhere(a), false);
      assert.equal(await index.isLinkedAnywhere(b), false);
      assert.equal(await index.isLinkedAnywhere(c), true);
    });

    it('a snapshot of a folder that is gone forgets the repository; forgetRepository drops everything, intents too', async ({ index }) => {
      await index.commitLink('team/app', 'manifest', a);
      await index.putTag('team/app', '1', a, new Date());
      assert.equal(await index.replaceRepository('team/app', await index.changeCount('team/app'), { ...empty, exists: false }, new Date(0)), true);
      assert.equal(await index.listTags('team/app', {}), undefined);
      assert.deepEqual(await index.knownRepositories(), []);

      await index.commitLink('team/gone', 'manifest', a);
      await index.intendLink('team/gone', 'layer', b);
      const seen = await index.changeCount('team/gone');
      assert.equal(await index.forgetRepository('team/gone', seen - 1), false, 'stale counter: nothing dropped');
      assert.deepEqual(await index.listRepositories({}), ['team/gone']);
      assert.equal(await index.forgetRepository('team/gone', seen), true);
      assert.deepEqual(await index.listRepositories({}), []);
      assert.equal(await index.snapshotOf('team/gone'), undefined);
      assert.equal(await index.isLinkedAnywhere(b), false, 'its intents went with it');
      assert.equal(await index.changeCount('team/gone'), seen + 1);
    });

    it('two instances over one store: a tag put on one is listed on the other; the other sees the counter move', async ({ index, another }) => {
      const second = await another();
      await index.commitLink('team/app', 'manifest', a);
      await index.putTag('team/app', '1', a, at('2026-05-01T00:00:00Z'));
      assert.deepEqual(await second.listRepositories({}), ['team/app']);
      assert.deepEqual(await second.listTags('team/app', {}), [{ tag: '1', digest: a, pushedAt: at('2026-05-01T00:00:00Z') }]);
      await second.markReady();
      assert.equal(await index.isReady(), true);

      // A rebuild on the second that read the counter before the first's write must not overwrite that write.
      const seen = await second.changeCount('team/app');
      await index.putTag('team/app', '2', a, new Date());
      assert.equal(await second.replaceRepository('team/app', seen, { ...empty, manifests: [a] }, new Date()), false);
      assert.deepEqual(await second.listTagNames('team/app', {}), ['1', '2']);
    });

    it('a tag moved again and again on one instance is always listed, at one of its digests, on the other', async ({ index, another }) => {
      const second = await another();
      await index.putTag('team/app', 'latest', a, new Date());
      await index.putTag('team/app', 'stable', c, new Date());
      let moving = true;
      const moves = (async () => {
        for (let i = 0; i < 60; i += 1) await index.putTag('team/app', 'latest', i % 2 === 0 ? b : a, new Date());
        moving = false;
      })();
      let reads = 0;
      while (moving) {
        const tags = await second.listTags('team/app', {});
        assert.deepEqual(tags?.map((entry) => entry.tag), ['latest', 'stable'], 'never missing, never doubled');
        assert.ok([a, b].includes(tags[0]!.digest), `latest at ${tags[0]!.digest}`);
        reads += 1;
      }
      await moves;
      assert.ok(reads > 0);
      assert.equal((await second.listTags('team/app', {}))?.[0]?.digest, a, 'the last move wins');
    });

    it('namespace usage: unique bytes of layers and revisions (intents too) in the namespace, each digest once; unsized ones listed', async ({ index, another }) => {
      const d = digest('d');
      const e = digest('e');
      assert.deepEqual(await index.namespaceUsage('team'), { bytes: 0, blobs: 0, unsized: [] });
      await index.putBlobSize(a, 100);
      await index.putBlobSize(b, 20);
      await index.putBlobSize(a, 999); // content by digest never changes: the first size stays
      await index.commitLink('team/app', 'layer', a);
      await index.commitLink('team/app', 'manifest', b);
      await index.commitLink('team/other', 'layer', a); // shared by two repositories: counted once
      await index.intendLink('team/nested/deep', 'layer', c); // an intent (a push in flight) counts: its bytes are stored
      // Neighbours that a prefix match would wrongly include: `team-x`, `teams`, and `team_` (LIKE's wildcard).
      for (const repository of ['team-x/app', 'teams/app', 'tea/app', 'team_/app']) await index.commitLink(repository, 'layer', d);
      await index.commitLink('team', 'layer', e);
      await index.putBlobSize(e, 3);
      const usage = await index.namespaceUsage('team');
      assert.equal(usage.bytes, 123);
      assert.equal(usage.blobs, 4);
      assert.deepEqual(usage.unsized, [c], 'c has no recorded size yet');
      await index.putBlobSize(c, 1000);
      assert.deepEqual(await (await another()).namespaceUsage('team'), { bytes: 1123, blobs: 4, unsized: [] }, 'another instance sees the same');
      assert.equal((await index.namespaceUsage('team', 0)).unsized.length, 0);
      assert.deepEqual(await index.namespaceUsage('team-x'), { bytes: 0, blobs: 1, unsized: [d] });
      assert.equal(await index.namespaceLinks('team', a), true);
      assert.equal(await index.namespaceLinks('team', d), false, 'd is linked only in neighbouring namespaces');
      assert.equal(await index.namespaceLinks('teams', d), true);
      await index.removeLink('team/app', 'layer', a);
      assert.equal((await index.namespaceUsage('team')).bytes, 1123, 'still linked in team/other');
      await index.removeLink('team/other', 'layer', a);
      assert.equal((await index.namespaceUsage('team')).bytes, 1023);
    });

    it('repository usages: per repository the unique linked bytes (not its nested ones), unsized digests, tag count and newest tag push', async ({ index, another }) => {
      assert.deepEqual(await index.repositoryUsages(), []);
      await index.putBlobSize(a, 100);
      await index.putBlobSize(b, 20);
      await index.commitLink('team/app', 'layer', a);
      await index.commitLink('team/app', 'manifest', b);
      await index.intendLink('team/app', 'layer', c); // a push in flight: its bytes are stored, its size not yet known
      await index.commitLink('team/app/nested', 'layer', a); // a repository of its own, not part of team/app
      await index.putTag('team/app', 'v1', b, new Date('2026-01-01T00:00:00Z'));
      await index.putTag('team/app', 'v2', b, new Date('2026-03-01T00:00:00Z'));
      const byName = new Map((await (await another()).repositoryUsages()).map((usage) => [usage.repository, usage]));
      assert.deepEqual([...byName.keys()].sort(), ['team/app', 'team/app/nested']);
      assert.deepEqual(byName.get('team/app'), { repository: 'team/app', bytes: 120, blobs: 3, unsized: [c], tags: 2, lastTagPushedAt: new Date('2026-03-01T00:00:00Z') });
      assert.deepEqual(byName.get('team/app/nested'), { repository: 'team/app/nested', bytes: 100, blobs: 1, unsized: [], tags: 0 });
      await index.putBlobSize(c, 3);
      await index.removeTag('team/app', 'v2');
      const app = (await index.repositoryUsages()).find((usage) => usage.repository === 'team/app');
      assert.deepEqual(app, { repository: 'team/app', bytes: 123, blobs: 3, unsized: [], tags: 1, lastTagPushedAt: new Date('2026-01-01T00:00:00Z') });
    });

    it('concurrent rebuilds and pushes on two instances: a tag written after the counter was read is never lost', async ({ index, another }) => {
      const second = await another();
      await index.commitLink('team/app', 'manifest', a);
      const rounds = 40;
      let replaced = 0;
      for (let round = 0; round < rounds; round += 1) {
        const before = await index.changeCount('team/app');
        const expected = [...((await index.listTagNames('team/app', {})) ?? []), `t${round}`];
        // The rebuild's snapshot predates the push: it must either run entirely before it or fail.
        const snapshot: RepositorySnapshot = { ...empty, manifests: [a], tags: (await index.listTags('team/app', {})) ?? [] };
        const [ok] = await Promise.all([
          index.replaceRepository('team/app', before, snapshot, new Date()),
          second.putTag('team/app', `t${round}`, a, new Date()),
        ]);
        if (ok) replaced += 1;
        assert.deepEqual(await second.listTagNames('team/app', {}), expected.sort(), `round ${round}: the pushed tag is listed`);
        assert.equal(await index.changeCount('team/app'), before + 1 + (ok ? 1 : 0), `round ${round}: one bump per change`);
      }
      console.log(`# ${name}: ${replaced} of ${rounds} racing rebuilds went first, ${rounds - replaced} saw the push and backed off`);
    });
  });
}
