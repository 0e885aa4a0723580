import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { createSecretBox } from '../../registry/auth/secret-box.js';
import {
  addUpstream,
  checkUpstreamInput,
  removeUpstream,
  repositoryCounter,
  updateUpstream,
  UpstreamChangeError,
  type UpstreamChangeCode,
} from '../../registry/mirror/upstream-changes.js';
import { createStateStore, type StateStore } from '../../registry/state/index.js';
import { createFilesystemDriver } from '../../registry/storage/filesystem-driver.js';
import { walkRepositories } from '../../registry/storage/repository-walk.js';
import { makeTempDir, type AfterHook } from '../support/temp-dir.js';

/** The one implementation of adding, changing and removing upstreams, on a real state file and a real data directory. */

const noSeal = (): string => assert.fail('nothing to seal');

async function openStore(t: AfterHook): Promise<{ dataDir: string; state: StateStore }> {
  const dataDir = await makeTempDir(t);
  const state = await createStateStore(dataDir);
  t.after(() => state.close());
  return { dataDir, state };
}

function storageCounter(dataDir: string) {
  return repositoryCounter(() => walkRepositories(createFilesystemDriver(dataDir)));
}

async function refuses(promise: Promise<unknown>, code: UpstreamChangeCode, message: RegExp): Promise<UpstreamChangeError> {
  let caught: unknown;
  await promise.catch((error: unknown) => (caught = error));
  assert.ok(caught instanceof UpstreamChangeError, `expected ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code);
  assert.match(caught.message, message);
  return caught;
}

test('add stores a normalised record and seals the password; an upstream with credentials gets a private namespace', async (t) => {
  const { dataDir, state } = await openStore(t);
  const secrets = await createSecretBox(dataDir);
  const result = await addUpstream(
    state,
    { name: 'hub', url: ' https://registry-1.docker.io// ', aliases: ['Docker.IO', 'docker.io', ' '], isDefault: true, username: 'me', password: 'hunter2' },
    { loopbackOnly: true, sealSecret: (plain) => secrets.seal(plain), repositoriesHeld: storageCounter(dataDir) },
  );
  assert.equal(result.namespaceCreated, true);
  assert.equal(result.previousDefault, undefined);
  assert.equal(result.record.url, 'https://registry-1.docker.io');
  assert.deepEqual(result.record.aliases, ['docker.io']);
  assert.equal(result.record.tagTtlSeconds, 300, 'the default TTL');
  assert.deepEqual([result.anonymousPull, result.anonymousPullSource], [false, 'default']);

  const stored = state.read().upstreams.find((u) => u.name === 'hub');
  assert.ok(stored?.passwordSealed);
  assert.equal(secrets.open(stored.passwordSealed), 'hunter2', 'sealed with the data directory key');
  assert.ok(!(await readFile(state.path, 'utf8')).includes('hunter2'), 'never in clear in state.json');
  assert.deepEqual(
    state.read().namespaces.map((ns) => [ns.name, ns.anonymousPull]),
    [['hub', false]],
    "the admin's credentials are not everyone's",
  );
});

test('anonymous pull: on by default only without credentials on a loopback-only Berth; an existing namespace keeps its own', async (t) => {
  const { state } = await openStore(t);
  const anonymousOf = (name: string) => state.read().namespaces.find((ns) => ns.name === name)?.anonymousPull;
  const seal = (plain: string) => `sealed:${plain.length}`;

  const open = await addUpstream(state, { name: 'hub', url: 'https://registry-1.docker.io' }, { loopbackOnly: true, sealSecret: seal });
  assert.deepEqual([open.anonymousPull, open.anonymousPullSource, anonymousOf('hub')], [true, 'default', true], "what dockerd's registry-mirrors needs");
  const networked = await addUpstream(state, { name: 'quay', url: 'https://quay.io' }, { loopbackOnly: false, sealSecret: seal });
  assert.deepEqual([networked.anonymousPull, anonymousOf('quay')], [false, false], 'a Berth the network reaches stays private');
  const chosen = await addUpstream(state, { name: 'work', url: 'https://r.example', username: 'u', password: 'p', anonymousPull: true }, { loopbackOnly: false, sealSecret: seal });
  assert.deepEqual([chosen.anonymousPull, chosen.anonymousPullSource, anonymousOf('work')], [true, 'chosen', true], 'an explicit choice wins');

  // An existing private namespace is not made public by an upstream named like it, nor a public one closed.
  await state.update((draft) => {
    draft.namespaces.push({ name: 'ghcr', anonymousPull: false, createdAt: new Date().toISOString() });
    draft.namespaces.push({ name: 'pub', anonymousPull: true, createdAt: new Date().toISOString() });
  });
  const kept = await addUpstream(state, { name: 'ghcr', url: 'https://ghcr.io', isDefault: true }, { loopbackOnly: true, sealSecret: seal });
  assert.deepEqual([kept.namespaceCreated, kept.anonymousPull, kept.anonymousPullSource, anonymousOf('ghcr')], [false, false, 'kept', false]);
  const keptOpen = await addUpstream(state, { name: 'pub', url: 'https://pub.example', username: 'u', password: 'p' }, { loopbackOnly: false, sealSecret: seal });
  assert.deepEqual([keptOpen.anonymousPull, anonymousOf('pub')], [true, true]);
  const opened = await addUpstream(state, { name: 'gitlab', url: 'https://registry.gitlab.com', anonymousPull: false }, { loopbackOnly: true, sealSecret: seal });
  assert.deepEqual([opened.anonymousPull, anonymousOf('gitlab')], [false, false]);
  assert.equal(state.read().namespaces.filter((ns) => ns.name === 'ghcr').length, 1, 'not duplicated');

  // Changing an upstream never changes its namespace by the way; only anonymousPull does.
  const withCredentials = await updateUpstream(state, 'hub', { username: 'me', password: 'pw' }, { sealSecret: seal });
  assert.deepEqual([withCredentials.anonymousPull, anonymousOf('hub')], [true, true]);
  const closed = await updateUpstream(state, 'hub', { anonymousPull: false }, { sealSecret: seal });
  assert.deepEqual([closed.anonymousPull, anonymousOf('hub')], [false, false]);
});

test('add refuses a taken name, a host routed elsewhere and a namespace with content; adopting takes it', async (t) => {
  const { dataDir, state } = await openStore(t);
  await addUpstream(state, { name: 'hub', url: 'https://registry-1.docker.io', aliases: ['docker.io'] }, { loopbackOnly: true, sealSecret: noSeal });
  const before = await readFile(state.path, 'utf8');

  await refuses(addUpstream(state, { name: 'hub', url: 'https://mirror.gcr.io' }, { loopbackOnly: true, sealSecret: noSeal }), 'BERTH_UPSTREAM_EXISTS', /"hub" already exists/);
  const clash = await refuses(
    addUpstream(state, { name: 'other', url: 'https://mirror.gcr.io', aliases: ['DOCKER.io'] }, { loopbackOnly: true, sealSecret: noSeal }),
    'BERTH_UPSTREAM_HOST_TAKEN',
    /host "docker\.io" already routes to upstream "hub"/,
  );
  assert.deepEqual([clash.details.upstream, clash.details.host], ['hub', 'docker.io']);
  await refuses(
    addUpstream(state, { name: 'again', url: 'https://REGISTRY-1.docker.io/' }, { loopbackOnly: true, sealSecret: noSeal }),
    'BERTH_UPSTREAM_HOST_TAKEN',
    /host "registry-1\.docker\.io"/,
  );

  await mkdir(join(dataDir, 'repositories', 'team', 'app', '_manifests'), { recursive: true });
  await mkdir(join(dataDir, 'repositories', 'team', 'tools', 'lint', '_layers'), { recursive: true });
  const content = await refuses(
    addUpstream(state, { name: 'team', url: 'https://r.example' }, { loopbackOnly: true, sealSecret: noSeal, repositoriesHeld: storageCounter(dataDir) }),
    'BERTH_NAMESPACE_HAS_CONTENT',
    /namespace "team" already holds 2 local repositories/,
  );
  assert.equal(content.details.repositories, 2);
  assert.equal(await readFile(state.path, 'utf8'), before, 'nothing written by a refused add');

  const adopted = await addUpstream(state, { name: 'team', url: 'https://r.example' }, { loopbackOnly: true, sealSecret: noSeal, repositoriesHeld: storageCounter(dataDir), adopt: true });
  assert.equal(adopted.namespaceCreated, true);
  assert.deepEqual([adopted.anonymousPull, adopted.anonymousPullSource], [false, 'adopted'], 'adopted images stay private: nobody said they are public');
});

test('invalid values are refused before the state is touched, naming the field when there is one', async (t) => {
  const { state } = await openStore(t);
  const cases: Array<[Parameters<typeof checkUpstreamInput>[0], UpstreamChangeCode, RegExp, string | undefined]> = [
    [{ name: 'Bad/Name', url: 'https://r.example' }, 'BERTH_UPSTREAM_NAME_INVALID', /invalid upstream name/, 'name'],
    [{ name: 'x', url: 'ftp://r.example' }, 'BERTH_UPSTREAM_CONFIG_INVALID', /https:\/\/ or http:\/\//, undefined],
    [{ name: 'x', url: 'https://10.1.2.3', insecure: true }, 'BERTH_UPSTREAM_CONFIG_INVALID', /only for loopback/, undefined],
    [{ name: 'x', url: 'http://r.example', username: 'u', password: 'p' }, 'BERTH_UPSTREAM_CONFIG_INVALID', /plain HTTP/, undefined],
    [{ name: 'x', url: 'https://r.example', username: 'u' }, 'BERTH_UPSTREAM_CONFIG_INVALID', /both username and password/, undefined],
    [{ name: 'x', url: 'https://r.example', aliases: ['no spaces'] }, 'BERTH_UPSTREAM_CONFIG_INVALID', /invalid alias "no spaces"/, 'aliases'],
    [{ name: 'x', url: 'https://r.example', caPem: 'hello' }, 'BERTH_UPSTREAM_CONFIG_INVALID', /not a PEM certificate/, 'caPem'],
    [{ name: 'x', url: 'https://r.example', tagTtlSeconds: 8 * 24 * 3600 }, 'BERTH_UPSTREAM_CONFIG_INVALID', /0 to 604800/, 'tagTtlSeconds'],
    [{ name: 'x', url: 'https://r.example', tagTtlSeconds: 1.5 }, 'BERTH_UPSTREAM_CONFIG_INVALID', /whole number/, 'tagTtlSeconds'],
  ];
  for (const [input, code, message, field] of cases) {
    assert.throws(() => checkUpstreamInput(input), (error: unknown) => {
      assert.ok(error instanceof UpstreamChangeError, JSON.stringify(input));
      assert.equal(error.code, code, JSON.stringify(input));
      assert.match(error.message, message);
      assert.equal(error.details.field, field, JSON.stringify(input));
      return true;
    });
    await refuses(addUpstream(state, input, { loopbackOnly: true, sealSecret: () => 'sealed' }), code, message);
  }
  assert.deepEqual(state.read().upstreams, []);
  assert.deepEqual(state.read().namespaces, []);
  // Loopback upstreams may skip TLS verification and take credentials over plain HTTP (a local test registry).
  checkUpstreamInput({ name: 'local', url: 'http://127.0.0.1:5000', insecure: true, username: 'u', password: 'p', tagTtlSeconds: 0 });
});

test('update changes settings under the same rules: credentials, default, hosts; an invalid patch changes nothing', async (t) => {
  const { state } = await openStore(t);
  const seal = (plain: string) => `sealed:${plain.length}`;
  await addUpstream(state, { name: 'hub', url: 'https://registry-1.docker.io', aliases: ['docker.io'], isDefault: true }, { loopbackOnly: true, sealSecret: seal });
  await addUpstream(state, { name: 'ghcr', url: 'https://ghcr.io' }, { loopbackOnly: true, sealSecret: seal });

  const changed = await updateUpstream(state, 'ghcr', { username: 'bot', password: 'pw', isDefault: true, tagTtlSeconds: 0 }, { sealSecret: seal });
  assert.equal(changed.previousDefault, 'hub');
  assert.equal(changed.record.passwordSealed, 'sealed:2');
  assert.equal(changed.record.tagTtlSeconds, 0);
  assert.deepEqual(state.read().upstreams.map((u) => [u.name, u.isDefault]), [['hub', false], ['ghcr', true]]);

  const cleared = await updateUpstream(state, 'ghcr', { username: null, password: '' }, { sealSecret: seal });
  assert.equal(cleared.record.username, undefined);
  assert.equal(cleared.record.passwordSealed, undefined);
  assert.ok(!('passwordSealed' in (state.read().upstreams[1] ?? {})), 'removed from the state file too');

  const before = await readFile(state.path, 'utf8');
  await refuses(updateUpstream(state, 'ghcr', { aliases: ['docker.io'] }, { sealSecret: seal }), 'BERTH_UPSTREAM_HOST_TAKEN', /already routes to upstream "hub"/);
  await refuses(updateUpstream(state, 'ghcr', { url: 'http://ghcr.io', username: 'u', password: 'p' }, { sealSecret: seal }), 'BERTH_UPSTREAM_CONFIG_INVALID', /plain HTTP/);
  await refuses(updateUpstream(state, 'ghcr', { caPem: 'nope' }, { sealSecret: seal }), 'BERTH_UPSTREAM_CONFIG_INVALID', /PEM/);
  await refuses(updateUpstream(state, 'nope', { insecure: false }, { sealSecret: seal }), 'BERTH_UPSTREAM_NOT_FOUND', /no upstream "nope"/);
  assert.equal(await readFile(state.path, 'utf8'), before, 'refused patches leave the file as it was');

  // Its own hosts are not a clash with itself.
  const same = await updateUpstream(state, 'hub', { aliases: ['docker.io', 'index.docker.io'] }, { sealSecret: seal });
  assert.deepEqual(same.record.aliases, ['docker.io', 'index.docker.io']);
});

test('remove refuses while a sync rule uses the upstream, and keeps the namespace and its cache', async (t) => {
  const { dataDir, state } = await openStore(t);
  await addUpstream(state, { name: 'hub', url: 'https://registry-1.docker.io' }, { loopbackOnly: true, sealSecret: noSeal });
  await state.update((draft) => {
    draft.syncRules.push({
      name: 'redis', upstream: 'hub', repositories: ['library/redis'], tags: {}, platforms: [], into: 'hub',
      everySeconds: null, paused: false, createdAt: new Date().toISOString(), lastRunAt: null,
    });
  });
  const inUse = await refuses(removeUpstream(state, 'hub'), 'BERTH_UPSTREAM_IN_USE', /sync rules use upstream "hub": redis/);
  assert.deepEqual(inUse.details.syncRules, ['redis']);
  await state.update((draft) => {
    draft.syncRules = [];
  });

  await mkdir(join(dataDir, 'repositories', 'hub', 'library', 'redis', '_manifests'), { recursive: true });
  const removed = await removeUpstream(state, 'hub', { repositoriesHeld: storageCounter(dataDir) });
  assert.equal(removed.record.url, 'https://registry-1.docker.io');
  assert.equal(removed.cachedRepositories, 1);
  assert.deepEqual(state.read().upstreams, []);
  assert.deepEqual(state.read().namespaces.map((ns) => ns.name), ['hub'], 'the namespace stays, with its cache');
  await refuses(removeUpstream(state, 'hub'), 'BERTH_UPSTREAM_NOT_FOUND', /no upstream "hub"/);
});

test('two writers on one data directory cannot both route the same host (the checks run under the lock)', async (t) => {
  const { dataDir, state } = await openStore(t);
  const other = await createStateStore(dataDir);
  t.after(() => other.close());
  const outcomes = await Promise.allSettled([
    addUpstream(state, { name: 'a', url: 'https://one.example', aliases: ['shared.example'] }, { loopbackOnly: true, sealSecret: noSeal }),
    addUpstream(other, { name: 'b', url: 'https://two.example', aliases: ['shared.example'] }, { loopbackOnly: true, sealSecret: noSeal }),
  ]);
  assert.equal(outcomes.filter((o) => o.status === 'fulfilled').length, 1, 'exactly one add wins');
  const failure = outcomes.find((o) => o.status === 'rejected');
  assert.ok(failure?.status === 'rejected' && failure.reason instanceof UpstreamChangeError);
  assert.equal(failure.reason.code, 'BERTH_UPSTREAM_HOST_TAKEN');
  const fresh = await createStateStore(dataDir);
  t.after(() => fresh.close());
  assert.equal(fresh.read().upstreams.length, 1);
});
