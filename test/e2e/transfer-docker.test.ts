import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { startBerth } from '../support/berth-process.js';
import { startDockerd } from '../support/daemons/dockerd.js';
import { containerd, ctr, daemonSkipReason, dockerCli, dockerd, requireDaemonTools, runc } from '../support/daemons/requirements.js';
import { createIndexLayout } from '../support/oci-layout.js';
import { makeTempDir } from '../support/temp-dir.js';
import { sha256File } from './data-dir-check.js';
import { berthCliOk } from './mirror-fixture.js';
import { dockerRef, skopeoCopy } from './skopeo.js';

/**
 * Berth and a real dockerd exchanging archives: `berth export --format docker` of a multi-platform image is what
 * `docker load` takes (the host's platform, image ID = its config digest), and what `docker save` writes imports into
 * Berth, where a pull gives back docker's config byte for byte and layers whose digests are the config's diff IDs.
 */

const tools = [dockerd, dockerCli, containerd, ctr, runc, 'skopeo'];
const lastLine = (text: string) => text.trimEnd().split('\n').at(-1) ?? '';

interface DockerImage {
  readonly Id: string;
  readonly Architecture: string;
  readonly RepoTags: readonly string[];
}

test('docker load takes a --format docker export, and docker save output imports into Berth', { skip: daemonSkipReason(...tools), timeout: 600_000 }, async (t) => {
  requireDaemonTools(...tools);
  const work = await makeTempDir(t, 'berth-docker-transfer-');
  const dataDir = join(work, 'berth');
  const berth = await startBerth({ dataDir, auth: 'token' });
  t.after(() => berth.stop());
  const pusher = lastLine(await berthCliOk(['token', 'create', '--name', 'ci', '--scope', 'team/*:pull,push', '--data', dataDir]));
  const index = await createIndexLayout(join(work, 'multi'), { tag: '2' });
  await skopeoCopy(index.ref, dockerRef(berth.host, 'team/multi', '2'), ['--all', '--preserve-digests', '--dest-creds', `ci:${pusher}`]);
  const host = index.images.find((image) => image.platform.architecture === 'amd64');
  assert.ok(host, 'the index has an amd64 image');

  const exported = join(work, 'for-docker.tar');
  // The default platform is the host's (linux/amd64 on the machines this runs on); named here so the test says which.
  await berthCliOk(['export', 'team/multi:2', '--format', 'docker', '--platform', 'linux/amd64', '-o', exported, '--data', dataDir]);
  const daemon = await startDockerd(t);
  const loaded = await daemon.docker(['load', '-i', exported], { timeoutMs: 180_000 });
  assert.equal(loaded.code, 0, `docker load: ${loaded.stderr}${loaded.stdout}\n${daemon.logTail()}`);
  assert.match(loaded.stdout, /Loaded image: team\/multi:2/);
  const inspected = JSON.parse((await daemon.dockerOk(['image', 'inspect', 'team/multi:2'])).stdout) as DockerImage[];
  assert.equal(inspected[0]?.Id, host.config.digest, 'docker holds the very image: its ID is the config digest');
  assert.equal(inspected[0]?.Architecture, 'amd64');

  // Back the other way: what docker save writes (docker 25+: an OCI layout plus manifest.json).
  const saved = join(work, 'from-docker.tar');
  await daemon.dockerOk(['tag', 'team/multi:2', 'team/resaved:1']);
  await daemon.dockerOk(['save', '-o', saved, 'team/resaved:1'], { timeoutMs: 180_000 });
  const imported = await berthCliOk(['import', saved, '--data', dataDir]);
  assert.match(imported, /^Imported team\/resaved:1 from from-docker\.tar/);
  const reader = lastLine(await berthCliOk(['token', 'create', '--name', 'reader', '--scope', 'team/*:pull', '--data', dataDir]));
  const pulled = join(work, 'pulled');
  await skopeoCopy(dockerRef(berth.host, 'team/resaved', '1'), `dir:${pulled}`, ['--src-creds', `reader:${reader}`]);
  const manifest = JSON.parse(await readFile(join(pulled, 'manifest.json'), 'utf8')) as { config: { digest: string }; layers: Array<{ digest: string }> };
  assert.equal(manifest.config.digest, host.config.digest, "docker's config comes through byte for byte");
  const config = JSON.parse(await readFile(join(pulled, host.config.digest.slice(7)), 'utf8')) as { rootfs: { diff_ids: string[] } };
  assert.deepEqual(config.rootfs.diff_ids, host.layers.map((layer) => layer.diffId));
  for (const [i, layer] of manifest.layers.entries()) {
    // docker save writes layers uncompressed: each one's digest is the config's diff ID.
    assert.equal(await sha256File(join(pulled, layer.digest.slice(7))), config.rootfs.diff_ids[i]);
  }
});
