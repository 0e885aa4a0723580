import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { startBerth, type BerthProcess } from '../support/berth-process.js';
import { startDistribution } from '../support/distribution.js';
import { jsonBytes, mediaTypes, pushBlobChunked, pushManifest, sha256, type PushedBlob } from '../support/oci-client.js';
import { createTempDir, removeDir } from '../support/temp-dir.js';
import { requireTools, toolSkipReason } from '../support/tools.js';
import { berthCliOk, errorCodes, eventually, httpGet, type RawAnswer } from './mirror-fixture.js';

/**
 * "Local or upstream" is decided from the truth at request time: with a default upstream configured (Docker's
 * registry-mirrors), a sync rule's target namespace is local from the moment the rule exists, and a namespace that
 * holds content is local however the content got there, here a `berth sync run` in another process than the
 * running server. Berth runs with its defaults (token auth), the CLI beside it, the upstream is Debian's
 * docker-registry. Whether a request went upstream shows with the upstream stopped: upstream-bound requests answer
 * 503, local ones answer from disk.
 */

interface Pushed {
  readonly bytes: Buffer;
  readonly blobs: readonly PushedBlob[];
}

/** An OCI image of one random layer, pushed the way distribution takes it (a session, then PUT ?digest=). */
async function pushImage(url: string, repo: string, tag: string): Promise<Pushed> {
  const layer = await pushBlobChunked(url, repo, randomBytes(64 * 1024));
  const config = await pushBlobChunked(url, repo, jsonBytes({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [layer.digest] } }));
  const bytes = jsonBytes({
    schemaVersion: 2,
    mediaType: mediaTypes.ociManifest,
    config: { mediaType: mediaTypes.ociConfig, digest: config.digest, size: config.size },
    layers: [{ mediaType: mediaTypes.ociLayer, digest: layer.digest, size: layer.size }],
  });
  await pushManifest(url, repo, tag, bytes, mediaTypes.ociManifest);
  return { bytes, blobs: [config, layer] };
}

test('synced images pull online and offline beside a default upstream; the rule makes the namespace local at once', { skip: toolSkipReason('docker-registry'), timeout: 120_000 }, async (t) => {
  requireTools('docker-registry');
  const dist = await startDistribution({ logLevel: 'warn' });
  t.after(() => dist.stop());
  const app = await pushImage(dist.url, 'team/app', '1');
  const official = await pushImage(dist.url, 'library/app', '1');

  const dataDir = await createTempDir('berth-routing-');
  let berth: BerthProcess | undefined;
  t.after(async () => {
    await berth?.stop();
    await removeDir(dataDir);
  });
  const cli = (...args: string[]) => berthCliOk([...args, '--data', dataDir]);
  await cli('upstream', 'add', 'up', dist.url, '--default');
  const secret = (await cli('token', 'create', '--name', 'reader', '--scope', 'synced/*:pull')).trimEnd().split('\n').at(-1) ?? '';
  berth = await startBerth({ dataDir, auth: null });
  const base = berth.url;
  const reader = { Authorization: `Basic ${Buffer.from(`reader:${secret}`).toString('base64')}` };
  const manifestOf = (path: string, headers: Record<string, string> = reader): Promise<RawAnswer> => httpGet(`${base}/v2/${path}/manifests/1`, headers);

  // dockerd's registry-mirrors name: no local namespace `library`, so the default upstream serves it.
  const mirrored = await manifestOf('library/app', {});
  assert.equal(mirrored.status, 200, mirrored.body.toString());
  assert.ok(mirrored.body.equals(official.bytes));

  // With the upstream gone, a name routed upstream answers 503; a local one answers from disk.
  dist.kill();
  const routedUp = await manifestOf('synced/team/app');
  assert.equal(routedUp.status, 503, `before the rule, synced/ is the default upstream's: ${routedUp.body.toString()}`);
  await cli('sync', 'add', 's1', '--upstream', 'up', '--repo', 'team/app', '--into', 'synced');
  await eventually('the sync rule makes namespace "synced" local', async () => {
    const answer = await manifestOf('synced/team/app');
    return answer.status === 404 && errorCodes(answer).includes('MANIFEST_UNKNOWN');
  });

  await dist.restart();
  await cli('sync', 'run', 's1');
  const online = await manifestOf('synced/team/app');
  assert.equal(online.status, 200, online.body.toString());
  assert.ok(online.body.equals(app.bytes), 'the synced manifest, byte for byte');

  dist.kill();
  const offline = await manifestOf('synced/team/app');
  assert.equal(offline.status, 200, `offline: ${offline.body.toString()}`);
  for (const blob of app.blobs) {
    const got = await fetch(`${base}/v2/synced/team/app/blobs/${blob.digest}`, { headers: reader });
    assert.equal(got.status, 200, `blob ${blob.digest}`);
    assert.equal(sha256(Buffer.from(await got.arrayBuffer())), blob.digest);
  }

  // The rule gone, the content stays, and so does the namespace's place: local, because something is stored there.
  await cli('sync', 'remove', 's1');
  const ruleGone = await cli('sync', 'list');
  assert.ok(!/\bs1\b/.test(ruleGone), ruleGone);
  const kept = await manifestOf('synced/team/app');
  assert.equal(kept.status, 200, `content on disk is local: ${kept.body.toString()}`);
  // A name of the default upstream still goes there (and says it is unavailable, not unknown).
  const stillMirrored = await manifestOf('other/app', {});
  assert.equal(stillMirrored.status, 503);
});
