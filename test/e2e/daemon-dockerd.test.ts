import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { startDockerd, type DockerdInstance } from '../support/daemons/dockerd.js';
import { containerd, ctr, daemonSkipReason, dockerCli, dockerd, requireDaemonTools, runc } from '../support/daemons/requirements.js';
import type { RunResult } from '../support/tools.js';
import { assertFetchedOnce, berthLines, dockerHubLogin, startHubMirror, seconds, type HubMirror, type SeededImage, type SeededIndex } from './daemon-fixture.js';

/**
 * dockerd 20.10 with Berth as its Docker Hub mirror, exactly as `berth mirror-config` prints it
 * (`registry-mirrors` in daemon.json), Berth on its default settings (token auth). dockerd pings /v2/, is
 * challenged, asks Berth's token service for `repository:library/NAME:pull` and pulls `library/NAME` from the
 * mirror's root. Cold pulls, an index, four daemons racing for one fresh image (each blob must leave the
 * upstream once), and the same pulls again with the upstream stopped. Four daemons, not one pulling four
 * times: one dockerd shares layer downloads between its own pulls, so only separate daemons race in Berth.
 */

const tools = [dockerd, dockerCli, containerd, ctr, runc, 'docker-registry', 'skopeo'];

interface DockerImage {
  readonly Id: string;
  readonly RepoDigests: readonly string[];
  readonly Architecture: string;
}

function pull(daemon: DockerdInstance, reference: string): Promise<RunResult> {
  return daemon.docker(['pull', reference], { timeoutMs: 120_000 });
}

async function inspect(daemon: DockerdInstance, reference: string): Promise<DockerImage | undefined> {
  const result = await daemon.docker(['image', 'inspect', '--format', '{{json .}}', reference], { timeoutMs: 30_000 });
  return result.code === 0 ? (JSON.parse(result.stdout) as DockerImage) : undefined;
}

/** The failed command, dockerd's log lines about this pull, and Berth's about the repository. */
function explain(what: string, result: RunResult, daemon: DockerdInstance, mirror: HubMirror, seeded: SeededImage | SeededIndex): string {
  const name = seeded.repository.slice('library/'.length);
  const dockerdLines = daemon.dockerd.logs().split('\n').filter((line) => line.includes(name) || /level=(error|warning)/.test(line));
  return [
    `${what}: exit ${result.code}${result.timedOut ? ' (timed out)' : ''}`,
    `${result.stderr}${result.stdout}`.trim(),
    '--- dockerd ---',
    ...dockerdLines.slice(-30),
    '--- berth ---',
    ...berthLines(mirror, name).slice(-30),
  ].join('\n');
}

/** Pulls and checks that dockerd holds the very image seeded upstream: image ID = config digest, repo digest = manifest (or index) digest. */
async function pullsTheImage(daemon: DockerdInstance, mirror: HubMirror, seeded: SeededImage | SeededIndex): Promise<void> {
  const result = await pull(daemon, seeded.reference);
  assert.equal(result.code, 0, explain(`docker pull ${seeded.reference}`, result, daemon, mirror, seeded));
  const image = await inspect(daemon, seeded.reference);
  assert.ok(image, `docker image inspect ${seeded.reference} found nothing after the pull`);
  const platformImage = 'hostImage' in seeded ? seeded.hostImage : seeded.layout;
  assert.equal(image.Id, platformImage.config.digest, 'the image ID is the config digest of the image seeded upstream');
  assert.equal(image.Architecture, platformImage.platform.architecture);
  assert.ok(
    image.RepoDigests.some((repoDigest) => repoDigest.endsWith(`@${seeded.layout.manifestDigest}`)),
    `repo digests ${JSON.stringify(image.RepoDigests)} name ${seeded.layout.manifestDigest}`,
  );
}

/** Removes the image if dockerd has it (an earlier failed case may have left nothing), so the next pull must fetch it. */
async function removeImage(daemon: DockerdInstance, reference: string): Promise<void> {
  if ((await inspect(daemon, reference)) !== undefined) await daemon.dockerOk(['image', 'rm', reference], { timeoutMs: 60_000 });
  assert.equal(await inspect(daemon, reference), undefined, `${reference} is gone from dockerd`);
}

test('dockerd pulls through Berth (default settings) configured as its registry mirror', { skip: daemonSkipReason(...tools), timeout: 600_000 }, async (t) => {
  requireDaemonTools(...tools);
  const mirror = await startHubMirror(t);
  assert.deepEqual(mirror.config.dockerDaemonJson['registry-mirrors'], [mirror.berth.url], `daemon.json names the running Berth:\n${mirror.printed}`);
  const [cold, multi, race, never] = await Promise.all([mirror.seedImage('cold'), mirror.seedIndex('multi'), mirror.seedImage('race'), mirror.seedImage('never')]);
  const daemons = await Promise.all(Array.from({ length: 4 }, () => startDockerd(t, { daemonJson: mirror.config.dockerDaemonJson })));
  const first = daemons[0] as DockerdInstance;

  await t.test('cold pull of a library/ image', async (tt) => {
    await pullsTheImage(first, mirror, cold);
    assertFetchedOnce(tt, mirror, cold);
  });

  await t.test('cold pull of a multi-arch index takes the host platform only', async (tt) => {
    await pullsTheImage(first, mirror, multi);
    assertFetchedOnce(tt, mirror, multi);
  });

  await t.test('a Docker Hub login, which dockerd forwards to its mirror, counts as no credential: the pull still goes through Berth', async (tt) => {
    const seeded = await mirror.seedImage('hublogin');
    const configFile = join(first.sandbox.path('docker-config'), 'config.json');
    await writeFile(configFile, JSON.stringify({ auths: { 'https://index.docker.io/v1/': { auth: dockerHubLogin } } }), { mode: 0o600 });
    try {
      await pullsTheImage(first, mirror, seeded);
      assertFetchedOnce(tt, mirror, seeded);
    } finally {
      await rm(configFile, { force: true });
    }
  });

  await t.test('4 daemons pulling one fresh image at once: each manifest and blob leaves the upstream once', async (tt) => {
    const started = performance.now();
    await Promise.all(daemons.map((daemon) => pullsTheImage(daemon, mirror, race)));
    tt.diagnostic(`4 concurrent cold pulls took ${seconds(performance.now() - started)} s`);
    assertFetchedOnce(tt, mirror, race);
  });

  await t.test('with the upstream stopped, cached images pull again and an uncached one fails with a clear error', async (tt) => {
    for (const daemon of daemons) await removeImage(daemon, race.reference);
    await removeImage(first, cold.reference);
    await removeImage(first, multi.reference);
    await mirror.upstream.stop();

    await pullsTheImage(first, mirror, cold);
    await pullsTheImage(first, mirror, multi);
    await Promise.all(daemons.map((daemon) => pullsTheImage(daemon, mirror, race)));

    const started = performance.now();
    const failed = await pull(first, never.reference);
    tt.diagnostic(`the uncached pull failed after ${seconds(performance.now() - started)} s: ${failed.stderr.trim()}`);
    assert.equal(failed.timedOut, false, 'the pull of an uncached image ends instead of hanging');
    assert.notEqual(failed.code, 0, explain('the pull of an uncached image with the upstream stopped', failed, first, mirror, never));
    // dockerd tells the client only its last endpoint's error (Docker Hub's own); its log has what the mirror
    // answered, which must say "unavailable" (503), never "not found": the image exists, the upstream is down.
    const name = never.repository.slice('library/'.length);
    const lines = first.dockerd.logs().split('\n');
    const tried = lines.findIndex((line) => line.includes(`Trying to pull ${name} from ${mirror.berth.url}/`));
    assert.notEqual(tried, -1, `dockerd did not try the mirror for ${never.reference}\n${first.logTail(40)}`);
    const mirrorError = lines.slice(tried).find((line) => line.includes('Attempting next endpoint for pull after error'));
    assert.ok(mirrorError, `no mirror error logged for ${never.reference}`);
    assert.match(mirrorError, /503 Service Unavailable|unavailable/i, `the mirror's answer: ${mirrorError}`);
    const answers = berthLines(mirror, `/v2/library/${name}/manifests/`);
    assert.ok(answers.length > 0 && answers.every((line) => line.includes('"status":503')), `Berth's answers:\n${answers.join('\n')}`);
  });
});
