import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { test } from 'node:test';
import { daemonSkipReason, requireDaemonTools } from '../support/daemons/requirements.js';
import { createIsolatedPodman, type IsolatedPodman } from '../support/podman.js';
import type { RunResult } from '../support/tools.js';
import { assertFetchedOnce, dockerHubLogin, berthLines, startHubMirror, seconds, upstreamName, type HubMirror, type SeededImage, type SeededIndex } from './daemon-fixture.js';

/**
 * podman as root with Berth as the docker.io mirror through the registries.conf that `berth mirror-config`
 * prints (CONTAINERS_REGISTRIES_CONF), Berth on its default settings (token auth). podman pulls
 * `docker.io/library/NAME` from the mirror location `BERTH/hub`, that is `hub/library/NAME` in Berth. Cold
 * pulls, an index, four podman stores racing for one fresh image (each blob must leave the upstream once),
 * and the same pulls again with the upstream stopped.
 */

const tools = ['podman', 'docker-registry', 'skopeo'];

interface PodmanImage {
  readonly Id: string;
  readonly Digest: string;
  readonly RepoDigests: readonly string[];
  readonly Architecture: string;
}

function pull(podman: IsolatedPodman, reference: string): Promise<RunResult> {
  return podman.run(['pull', '--quiet', reference], { timeoutMs: 120_000 });
}

async function inspect(podman: IsolatedPodman, reference: string): Promise<PodmanImage | undefined> {
  const result = await podman.run(['image', 'inspect', reference], { timeoutMs: 30_000 });
  return result.code === 0 ? (JSON.parse(result.stdout) as PodmanImage[])[0] : undefined;
}

function explain(what: string, result: RunResult, mirror: HubMirror, seeded: SeededImage | SeededIndex): string {
  return [
    `${what}: exit ${result.code}${result.timedOut ? ' (timed out)' : ''}`,
    `${result.stderr}${result.stdout}`.trim().split('\n').slice(-20).join('\n'),
    '--- berth ---',
    ...berthLines(mirror, seeded.repository.slice('library/'.length)).slice(-30),
  ].join('\n');
}

/** Pulls and checks that podman holds the very image seeded upstream: image ID = config digest, repo digest = manifest (or index) digest. */
async function pullsTheImage(podman: IsolatedPodman, mirror: HubMirror, seeded: SeededImage | SeededIndex): Promise<void> {
  const result = await pull(podman, seeded.reference);
  assert.equal(result.code, 0, explain(`podman pull ${seeded.reference}`, result, mirror, seeded));
  const image = await inspect(podman, seeded.reference);
  assert.ok(image, `podman image inspect ${seeded.reference} found nothing after the pull`);
  const platformImage = 'hostImage' in seeded ? seeded.hostImage : seeded.layout;
  assert.equal(`sha256:${image.Id}`, platformImage.config.digest, 'the image ID is the config digest of the image seeded upstream');
  assert.equal(image.Architecture, platformImage.platform.architecture);
  assert.ok(
    image.RepoDigests.some((repoDigest) => repoDigest.endsWith(`@${seeded.layout.manifestDigest}`)),
    `repo digests ${JSON.stringify(image.RepoDigests)} name ${seeded.layout.manifestDigest}`,
  );
}

/** Removes the image if podman has it (an earlier failed case may have left nothing), so the next pull must fetch it. */
async function removeImage(podman: IsolatedPodman, reference: string): Promise<void> {
  if ((await inspect(podman, reference)) !== undefined) await podman.runOk(['rmi', reference], { timeoutMs: 60_000 });
  assert.equal(await inspect(podman, reference), undefined, `${reference} is gone from podman's store`);
}

test('podman pulls through Berth (default settings) configured by the printed registries.conf', { skip: daemonSkipReason(...tools), timeout: 600_000 }, async (t) => {
  requireDaemonTools(...tools);
  const mirror = await startHubMirror(t);
  assert.ok(mirror.config.registriesConf.includes(`location = "${mirror.berth.host}/${upstreamName}"`), `registries.conf names the running Berth:\n${mirror.config.registriesConf}`);
  const [cold, multi, race, never] = await Promise.all([mirror.seedImage('cold'), mirror.seedIndex('multi'), mirror.seedImage('race'), mirror.seedImage('never')]);
  const stores = await Promise.all(Array.from({ length: 4 }, () => createIsolatedPodman(t, { registriesConf: mirror.config.registriesConf })));
  const first = stores[0] as IsolatedPodman;

  await t.test('cold pull of a library/ image', async (tt) => {
    await pullsTheImage(first, mirror, cold);
    assertFetchedOnce(tt, mirror, cold);
  });

  await t.test('cold pull of a multi-arch index takes the host platform only', async (tt) => {
    await pullsTheImage(first, mirror, multi);
    assertFetchedOnce(tt, mirror, multi);
  });

  await t.test('Docker Hub credentials in the auth file do not get in the way of the mirror', async (tt) => {
    const seeded = await mirror.seedImage('hublogin');
    const authFile = first.env.REGISTRY_AUTH_FILE as string;
    await writeFile(authFile, JSON.stringify({ auths: { 'docker.io': { auth: dockerHubLogin } } }), { mode: 0o600 });
    try {
      await pullsTheImage(first, mirror, seeded);
      assertFetchedOnce(tt, mirror, seeded);
    } finally {
      await writeFile(authFile, '{}\n', { mode: 0o600 });
    }
  });

  await t.test('4 podman stores pulling one fresh image at once: each manifest and blob leaves the upstream once', async (tt) => {
    const started = performance.now();
    await Promise.all(stores.map((store) => pullsTheImage(store, mirror, race)));
    tt.diagnostic(`4 concurrent cold pulls took ${seconds(performance.now() - started)} s`);
    assertFetchedOnce(tt, mirror, race);
  });

  await t.test('with the upstream stopped, cached images pull again and an uncached one fails with a clear error', async (tt) => {
    for (const store of stores) await removeImage(store, race.reference);
    await removeImage(first, cold.reference);
    await removeImage(first, multi.reference);
    await mirror.upstream.stop();

    await pullsTheImage(first, mirror, cold);
    await pullsTheImage(first, mirror, multi);
    await Promise.all(stores.map((store) => pullsTheImage(store, mirror, race)));

    const started = performance.now();
    const failed = await pull(first, never.reference);
    tt.diagnostic(`the uncached pull failed after ${seconds(performance.now() - started)} s: ${failed.stderr.trim()}`);
    assert.equal(failed.timedOut, false, 'the pull of an uncached image ends instead of hanging');
    assert.notEqual(failed.code, 0, explain('the pull of an uncached image with the upstream stopped', failed, mirror, never));
    // podman lists the mirrors' answers apart from the primary's (Docker Hub, unreachable or refusing here):
    // the mirror's must say "unavailable" (503), never "not found": the image exists, the upstream is down.
    const mirrors = /Mirrors also failed: \[(.*?)\]\)/.exec(failed.stderr)?.[1] ?? '';
    assert.ok(mirrors?.includes(`${mirror.berth.host}/${upstreamName}/${never.repository}`), `podman did not try the mirror:\n${failed.stderr}`);
    assert.match(mirrors, /503 Service Unavailable/, mirrors);
    assert.doesNotMatch(mirrors, /manifest unknown|not found/i);
  });
});
