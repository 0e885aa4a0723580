import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { createImageLayout } from '../support/oci-layout.js';
import { createIsolatedPodman } from '../support/podman.js';
import { makeTempDir } from '../support/temp-dir.js';
import { requireTools, toolSkipReason } from '../support/tools.js';
import { startTestServer } from './berth-fixture.js';
import { dockerRef, skopeoCopy, skopeoInspectRaw } from './skopeo.js';

/**
 * podman (its own store in a temp dir, vfs driver, no daemon) pulls what skopeo pushed and pushes it to
 * another repository; the image's identity, its config digest, must survive both trips.
 */
interface PodmanImage {
  readonly Id: string;
  readonly Digest: string;
  readonly Labels: Record<string, string>;
}

const options = { skip: toolSkipReason('skopeo', 'podman'), timeout: 120_000 };

test('podman pulls an image pushed by skopeo and pushes it to another repository', options, async (t) => {
  requireTools('skopeo', 'podman');
  const server = await startTestServer(t);
  const work = await makeTempDir(t);
  const image = await createImageLayout(join(work, 'layout'), {
    tag: 'v1',
    layers: [{ bytes: 256 * 1024, files: 6 }, { bytes: 128 * 1024 }],
    labels: { 'org.example.test': 'berth' },
  });
  await skopeoCopy(image.ref, dockerRef(server.host, 'team/podman', 'v1'));

  const podman = await createIsolatedPodman(t);
  const source = `${server.host}/team/podman:v1`;
  const target = `${server.host}/other/podman-pushed:v2`;
  await podman.runOk(['pull', '--tls-verify=false', source]);
  const inspected = JSON.parse((await podman.runOk(['image', 'inspect', source])).stdout) as PodmanImage[];
  const local = inspected[0];
  assert.ok(local, 'podman image inspect returned nothing');
  // podman's image ID is the config digest's hex.
  assert.equal(`sha256:${local.Id}`, image.config.digest);
  assert.equal(local.Digest, image.manifestDigest);
  assert.equal(local.Labels['org.example.test'], 'berth');

  await podman.runOk(['push', '--tls-verify=false', source, `docker://${target}`]);
  const pushed = JSON.parse((await skopeoInspectRaw(`docker://${target}`)).toString('utf8')) as { config: { digest: string }; layers: unknown[] };
  assert.equal(pushed.config.digest, image.config.digest, 'podman push changed the image config');
  assert.equal(pushed.layers.length, image.layers.length);

  // And podman can pull its own push back (from a fresh store, so nothing is served from the local cache).
  const second = await createIsolatedPodman(t);
  await second.runOk(['pull', '--tls-verify=false', target]);
  const again = JSON.parse((await second.runOk(['image', 'inspect', target])).stdout) as PodmanImage[];
  assert.equal(`sha256:${again[0]?.Id}`, image.config.digest);
});
