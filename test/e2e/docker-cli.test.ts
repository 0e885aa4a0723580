import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { createImageLayout, createIndexLayout } from '../support/oci-layout.js';
import { makeTempDir } from '../support/temp-dir.js';
import { requireTools, runOk, toolSkipReason, type ToolRequirement } from '../support/tools.js';
import { startTestServer } from './berth-fixture.js';
import { dockerRef, skopeoCopy } from './skopeo.js';

/**
 * The docker CLI talks to registries by itself for `docker manifest inspect` (no daemon needed), which makes
 * it a cheap check that Berth speaks the dialect Docker's own client expects.
 */
const docker: ToolRequirement = { name: 'docker', debianPackage: 'docker.io' };

const options = { skip: toolSkipReason(docker, 'skopeo'), timeout: 60_000 };

test('docker manifest inspect --insecure reads manifests and indexes from Berth', options, async (t) => {
  requireTools(docker, 'skopeo');
  const server = await startTestServer(t);
  const work = await makeTempDir(t);
  const image = await createImageLayout(join(work, 'layout'), { tag: 'v1', layers: [{ bytes: 64 * 1024 }, { bytes: 32 * 1024 }] });
  const index = await createIndexLayout(join(work, 'layout'), { tag: 'multi' });
  await skopeoCopy(image.ref, dockerRef(server.host, 'team/docker-cli', 'v1'));
  await skopeoCopy(index.ref, dockerRef(server.host, 'team/docker-cli', 'multi'), ['--all']);
  // A config dir of our own: docker must not read the machine's credentials or write next to them.
  const env = { DOCKER_CONFIG: join(work, 'docker-config') };

  const single = await runOk('docker', ['manifest', 'inspect', '--insecure', `${server.host}/team/docker-cli:v1`], { env, timeoutMs: 30_000 });
  const manifest = JSON.parse(single.stdout) as { config: { digest: string }; layers: { digest: string }[] };
  assert.equal(manifest.config.digest, image.config.digest);
  assert.deepEqual(manifest.layers.map((layer) => layer.digest), image.layers.map((layer) => layer.digest));

  const multi = await runOk('docker', ['manifest', 'inspect', '--insecure', `${server.host}/team/docker-cli:multi`], { env, timeoutMs: 30_000 });
  const list = JSON.parse(multi.stdout) as { manifests: { digest: string; platform: { architecture: string } }[] };
  assert.deepEqual(
    list.manifests.map((entry) => [entry.digest, entry.platform.architecture]),
    index.images.map((child) => [child.manifestDigest, child.platform.architecture]),
  );
});
