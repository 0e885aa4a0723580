import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { createSecretBox } from '../../registry/auth/secret-box.js';
import { silentLogger } from '../../registry/log.js';
import { createNameRouting } from '../../registry/mirror/name-routing.js';
import { addUpstream } from '../../registry/mirror/upstream-changes.js';
import { createUpstreamPool } from '../../registry/mirror/upstream-pool.js';
import { createStateStore } from '../../registry/state/index.js';
import { createFilesystemDriver } from '../../registry/storage/filesystem-driver.js';
import { makeTempDir } from '../support/temp-dir.js';

/**
 * Name routing on a real state file and a real data directory: which local repository a client's name means, for
 * each mirror style, decided from what the state and the disk say at the moment of the request.
 */

test('names route by prefix, by ?ns= and to the default upstream, unless the namespace is local by record, sync rule or content', async (t) => {
  const dataDir = await makeTempDir(t);
  const state = await createStateStore(dataDir);
  t.after(() => state.close());
  const seal = (plain: string) => plain;
  await addUpstream(state, { name: 'hub', url: 'https://registry-1.docker.io', aliases: ['docker.io'], isDefault: true }, { sealSecret: seal, loopbackOnly: true });
  await addUpstream(state, { name: 'ghcr', url: 'https://ghcr.io' }, { sealSecret: seal, loopbackOnly: true });
  const pool = createUpstreamPool({ state, secrets: await createSecretBox(dataDir), log: silentLogger() });
  t.after(() => pool.close());
  const routing = createNameRouting({ pool, state, driver: createFilesystemDriver(dataDir) });

  const none = new URLSearchParams();
  const pull = (name: string, query = none) => routing.localName(name, { method: 'GET', kind: 'manifest', query });
  assert.equal(await pull('hub/library/redis'), 'hub/library/redis', 'path prefix');
  assert.equal(await pull('redis'), 'hub/library/redis', "Docker Hub's official images under library/");
  assert.equal(await pull('library/redis'), 'hub/library/redis', 'registry-mirrors: the default upstream');
  assert.equal(await pull('owner/tool', new URLSearchParams('ns=ghcr.io')), 'ghcr/owner/tool', 'containerd: by host');
  assert.equal(await routing.pullTarget('library/redis'), 'hub/library/redis', 'what the token service asks about');

  // Writes stay local: a pusher's blob HEAD and uploads never reach the default upstream.
  assert.equal(await routing.localName('library/redis', { method: 'HEAD', kind: 'blob', query: none }), 'library/redis');
  assert.equal(await routing.localName('library/redis', { method: 'POST', kind: 'uploads', query: none }), 'library/redis');

  // Local namespaces, however they came to be: a record, a sync rule's target, something stored.
  await state.update((draft) => {
    draft.namespaces.push({ name: 'team', anonymousPull: false, createdAt: new Date().toISOString() });
    draft.syncRules.push({
      name: 's1', upstream: 'hub', repositories: ['team/app'], tags: {}, platforms: [], into: 'synced',
      everySeconds: null, paused: false, createdAt: new Date().toISOString(), lastRunAt: null,
    });
  });
  assert.equal(await pull('team/app'), 'team/app');
  assert.equal(await pull('synced/team/app'), 'synced/team/app', 'a sync target before its first image');
  assert.equal(await pull('cached/app'), 'hub/cached/app');
  await mkdir(join(dataDir, 'repositories', 'cached', 'app', '_manifests'), { recursive: true });
  assert.equal(await pull('cached/app'), 'cached/app', 'content written by any process, seen on the next request');
  assert.equal(await routing.isLocalNamespace('cached'), true);
  assert.equal(await routing.isLocalNamespace('library'), false);
});
