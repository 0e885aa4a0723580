import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { startContainerd, type ContainerdInstance } from '../support/daemons/containerd.js';
import { containerd, ctr, daemonSkipReason, requireDaemonTools, runc } from '../support/daemons/requirements.js';
import { makeTempDir } from '../support/temp-dir.js';
import type { RunResult } from '../support/tools.js';
import { berthCliOk } from './mirror-fixture.js';
import { assertFetchedOnce, berthLines, dockerHubLogin, startHubMirror, upstreamName, seconds, type HubMirror, type SeededImage, type SeededIndex } from './daemon-fixture.js';

/**
 * containerd 1.6 with Berth as the docker.io mirror through the hosts.toml that `berth mirror-config` prints,
 * pasted into HOSTS_DIR/docker.io/hosts.toml and used with `ctr images pull --hosts-dir HOSTS_DIR`; Berth on
 * its default settings (token auth). containerd asks Berth for `library/NAME` with `?ns=docker.io` and gets a
 * token for `repository:library/NAME:pull`. Cold pulls, an index, four containerds racing for one fresh image
 * (each blob must leave the upstream once), and the same pulls again with the upstream stopped.
 */

const tools = [containerd, ctr, runc, 'docker-registry', 'skopeo'];

interface Pulling {
  readonly instance: ContainerdInstance;
  readonly hostsDir: string;
}

function pull(client: Pulling, reference: string): Promise<RunResult> {
  return client.instance.ctr(['images', 'pull', '--hosts-dir', client.hostsDir, '--snapshotter', 'native', reference], { timeoutMs: 120_000 });
}

/** `ctr images ls` rows: reference → target digest. */
async function listImages(instance: ContainerdInstance): Promise<Map<string, string>> {
  const listed = await instance.ctrOk(['images', 'ls'], { timeoutMs: 30_000 });
  const images = new Map<string, string>();
  for (const row of listed.stdout.trim().split('\n').slice(1)) {
    const [reference, , digest] = row.split(/\s+/);
    if (reference && digest) images.set(reference, digest);
  }
  return images;
}

/** Digests of the blobs containerd holds (`ctr content ls`). */
async function contentDigests(instance: ContainerdInstance): Promise<Set<string>> {
  const listed = await instance.ctrOk(['content', 'ls', '--quiet'], { timeoutMs: 30_000 });
  return new Set(listed.stdout.split('\n').map((line) => line.trim()).filter(Boolean));
}

function explain(what: string, result: RunResult, client: Pulling, mirror: HubMirror, seeded: SeededImage | SeededIndex): string {
  const name = seeded.repository.slice('library/'.length);
  return [
    `${what}: exit ${result.code}${result.timedOut ? ' (timed out)' : ''}`,
    `${result.stderr}${result.stdout}`.trim().split('\n').slice(-20).join('\n'),
    '--- containerd ---',
    client.instance.process.logTail(15),
    '--- berth ---',
    ...berthLines(mirror, name).slice(-30),
  ].join('\n');
}

/**
 * Pulls and checks that containerd holds the very image seeded upstream: the image's target is the manifest
 * (or index) digest, and the host platform's config and layers are in its content store.
 */
async function pullsTheImage(client: Pulling, mirror: HubMirror, seeded: SeededImage | SeededIndex): Promise<void> {
  const result = await pull(client, seeded.reference);
  assert.equal(result.code, 0, explain(`ctr images pull ${seeded.reference}`, result, client, mirror, seeded));
  assert.equal((await listImages(client.instance)).get(seeded.reference), seeded.layout.manifestDigest, 'ctr images ls: the target is the seeded manifest');
  const platformImage = 'hostImage' in seeded ? seeded.hostImage : seeded.layout;
  const content = await contentDigests(client.instance);
  for (const digest of [platformImage.manifestDigest, platformImage.config.digest, ...platformImage.layers.map((layer) => layer.digest)]) {
    assert.ok(content.has(digest), `${digest} is in containerd's content store`);
  }
}

/** Removes the image and, synchronously, the content and snapshots only it used: the next pull must fetch again. */
async function removeImage(client: Pulling, seeded: SeededImage | SeededIndex): Promise<void> {
  if ((await listImages(client.instance)).has(seeded.reference)) await client.instance.ctrOk(['images', 'rm', '--sync', seeded.reference], { timeoutMs: 60_000 });
  const content = await contentDigests(client.instance);
  assert.ok(!content.has(seeded.layout.manifestDigest), `${seeded.reference} is gone from containerd's content store`);
}

test('containerd pulls through Berth (default settings) configured by the printed hosts.toml', { skip: daemonSkipReason(...tools), timeout: 600_000 }, async (t) => {
  requireDaemonTools(...tools);
  const mirror = await startHubMirror(t);
  const hostsToml = mirror.config.containerdHosts.get('docker.io');
  assert.ok(hostsToml, `mirror-config printed no hosts.toml for docker.io:\n${mirror.printed}`);
  assert.ok(hostsToml.includes(`[host."${mirror.berth.url}"]`), `the hosts.toml names the running Berth:\n${hostsToml}`);
  const hostsDir = await makeTempDir(t, 'berth-certs.d-');
  await mkdir(join(hostsDir, 'docker.io'));
  await writeFile(join(hostsDir, 'docker.io', 'hosts.toml'), hostsToml);

  const [cold, multi, race, never] = await Promise.all([mirror.seedImage('cold'), mirror.seedIndex('multi'), mirror.seedImage('race'), mirror.seedImage('never')]);
  const clients: Pulling[] = (await Promise.all(Array.from({ length: 4 }, () => startContainerd(t)))).map((instance) => ({ instance, hostsDir }));
  const first = clients[0] as Pulling;

  await t.test('cold pull of a library/ image', async (tt) => {
    await pullsTheImage(first, mirror, cold);
    assertFetchedOnce(tt, mirror, cold);
  });

  await t.test('cold pull of a multi-arch index takes the host platform only', async (tt) => {
    await pullsTheImage(first, mirror, multi);
    assertFetchedOnce(tt, mirror, multi);
  });

  await t.test('4 containerds pulling one fresh image at once: each manifest and blob leaves the upstream once', async (tt) => {
    const started = performance.now();
    await Promise.all(clients.map((client) => pullsTheImage(client, mirror, race)));
    tt.diagnostic(`4 concurrent cold pulls took ${seconds(performance.now() - started)} s`);
    assertFetchedOnce(tt, mirror, race);
  });

  await t.test('with the upstream stopped, cached images pull again and an uncached one fails with a clear error', async (tt) => {
    for (const client of clients) await removeImage(client, race);
    await removeImage(first, cold);
    await removeImage(first, multi);
    await mirror.upstream.stop();

    await pullsTheImage(first, mirror, cold);
    await pullsTheImage(first, mirror, multi);
    await Promise.all(clients.map((client) => pullsTheImage(client, mirror, race)));

    const started = performance.now();
    const failed = await pull(first, never.reference);
    tt.diagnostic(`the uncached pull failed after ${seconds(performance.now() - started)} s: ${failed.stderr.trim()}`);
    assert.equal(failed.timedOut, false, 'the pull of an uncached image ends instead of hanging');
    assert.notEqual(failed.code, 0, explain('the pull of an uncached image with the upstream stopped', failed, first, mirror, never));
    // ctr's last line reports the first host's error, which is Berth's (Docker Hub's, unreachable or refusing
    // here, is only logged): it must say "unavailable" (503), never "not found".
    const verdict = failed.stderr.trimEnd().split('\n').at(-1) ?? '';
    assert.ok(verdict.includes(`pulling from host ${mirror.berth.host} failed`), `ctr's error is not Berth's answer:\n${failed.stderr}`);
    assert.match(verdict, /503 Service Unavailable/, verdict);
    assert.doesNotMatch(verdict, /not found/i);
  });

  await t.test('once the mirror namespace is private, a Berth token pulls and Docker Hub credentials do not', async () => {
    await removeImage(first, cold);
    await berthCliOk(['namespace', 'set', upstreamName, '--anonymous-pull=false', '--data', mirror.dataDir]);
    const secret = (await berthCliOk(['token', 'create', '--name', 'node', '--scope', `${upstreamName}/*:pull`, '--data', mirror.dataDir])).trimEnd().split('\n').at(-1) ?? '';
    const pullAs = (user: string) =>
      first.instance.ctr(['images', 'pull', '--hosts-dir', hostsDir, '--snapshotter', 'native', '--user', user, cold.reference], { timeoutMs: 120_000 });
    const hubUser = Buffer.from(dockerHubLogin, 'base64').toString('utf8');
    const refused = await pullAs(hubUser);
    assert.notEqual(refused.code, 0, 'Docker Hub credentials do not open a private namespace');
    const withToken = await pullAs(`node:${secret}`);
    assert.equal(withToken.code, 0, explain('ctr images pull with a Berth token', withToken, first, mirror, cold));
    assert.equal((await listImages(first.instance)).get(cold.reference), cold.layout.manifestDigest);
  });
});
