import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { startBerth, type BerthProcess } from '../support/berth-process.js';
import { containerdTools, startContainerd } from '../support/daemons/containerd.js';
import { dockerdTools, startDockerd } from '../support/daemons/dockerd.js';
import { startDistribution } from '../support/distribution.js';
import { createImageLayout } from '../support/oci-layout.js';
import { createIsolatedPodman } from '../support/podman.js';
import { createTempDir, makeTempDir, removeDir } from '../support/temp-dir.js';
import { requireTools, toolSkipReason } from '../support/tools.js';
import { pushImage } from '../mirror/fixtures.js';
import { berthCliOk, blobFileExists, eventually, httpGet } from './mirror-fixture.js';

/**
 * Docker token auth between the real daemons and Berth as their docker.io mirror, with Berth's defaults (token
 * auth on) and the client settings pasted from `berth mirror-config`. What each daemon sends is what the HTTP
 * replay in test/http/mirror-token-flow.test.ts checks request by request; here the daemons themselves must
 * end up with Berth's image, with and without the Docker Hub credentials they forward. The machine has no route
 * to Docker Hub, and the image's digest is Berth's, so a pull that silently bypassed the mirror would fail.
 */

const tools = [...dockerdTools, ...containerdTools, 'podman', 'docker-registry', 'skopeo'] as const;
const skip = toolSkipReason(...tools) ?? (process.getuid?.() === 0 ? undefined : 'the daemons need root');

/** The block of `berth mirror-config` output that follows the line naming `file`, up to the next blank-line-and-comment. */
function snippetAfter(output: string, file: string): string {
  const lines = output.split('\n');
  const start = lines.findIndex((line) => line.startsWith('#') && line.includes(file));
  assert.ok(start !== -1, `mirror-config prints no ${file}:\n${output}`);
  const rest = lines.slice(start + 1);
  const end = rest.findIndex((line) => line.startsWith('##') || (line.startsWith('# /') && !line.includes(file)));
  return rest.slice(0, end === -1 ? undefined : end).join('\n').trim();
}

test('dockerd, containerd and podman pull through Berth under default auth, with and without Docker Hub credentials', { skip, timeout: 600_000 }, async (t) => {
  requireTools(...tools);
  const dist = await startDistribution({ logLevel: 'warn' });
  t.after(() => dist.stop());
  const image = await createImageLayout(await makeTempDir(t, 'berth-token-image-'), { tag: 'latest', layers: [{ bytes: 200_000, files: 3 }] });
  await pushImage(image.ref, dist.host, 'library/busybox:latest');

  const dataDir = await createTempDir('berth-token-flow-');
  let berth: BerthProcess | undefined;
  t.after(async () => {
    await berth?.stop();
    await removeDir(dataDir);
  });
  await berthCliOk(['upstream', 'add', 'hub', dist.url, '--alias', 'docker.io', '--default', '--data', dataDir]);
  berth = await startBerth({ dataDir, auth: null });
  const config = await berthCliOk(['mirror-config', '--host', berth.host, '--data', dataDir]);
  const hubLogin = Buffer.from('hubuser:dckr_pat_2b3e4f5a6b7c8d9e').toString('base64');

  await t.test('dockerd (registry-mirrors): no credentials, then its Docker Hub login', async () => {
    // The snippet's own comment lines go, the JSON object stays.
    const daemonJsonText = snippetAfter(config, '/etc/docker/daemon.json').split('\n').filter((line) => !line.startsWith('#')).join('\n');
    const daemonJson = JSON.parse(daemonJsonText) as Record<string, unknown>;
    const dockerd = await startDockerd(t, daemonJson);
    const anonymousConfig = await makeTempDir(t, 'berth-docker-config-');
    const pulled = await dockerd.docker(['pull', 'busybox'], { configDir: anonymousConfig });
    assert.equal(pulled.code, 0, `${pulled.stdout}${pulled.stderr}\n${dockerd.logs().slice(-3000)}`);
    for (const layer of image.layers) assert.ok(await blobFileExists(dataDir, layer.digest), 'the layer came through Berth');
    const digests = await dockerd.docker(['image', 'inspect', '--format', '{{json .RepoDigests}}', 'busybox']);
    assert.match(digests.stdout, new RegExp(image.manifestDigest), 'the image is the one Berth serves');

    // The login `docker login` leaves for Docker Hub, which dockerd forwards to its mirrors.
    const hubConfig = await makeTempDir(t, 'berth-docker-config-');
    await writeFile(join(hubConfig, 'config.json'), JSON.stringify({ auths: { 'https://index.docker.io/v1/': { auth: hubLogin } } }));
    assert.equal((await dockerd.docker(['rmi', 'busybox'])).code, 0);
    const again = await dockerd.docker(['pull', 'busybox'], { configDir: hubConfig });
    assert.equal(again.code, 0, `${again.stdout}${again.stderr}\n${dockerd.logs().slice(-3000)}`);
  });

  await t.test('podman with the printed registries.conf', async () => {
    const dir = await makeTempDir(t, 'berth-podman-conf-');
    await writeFile(join(dir, 'registries.conf'), `${snippetAfter(config, '/etc/containers/registries.conf')}\n`);
    await writeFile(join(dir, 'auth.json'), JSON.stringify({ auths: { 'docker.io': { auth: hubLogin } } }));
    const podman = await createIsolatedPodman(t);
    const env = { CONTAINERS_REGISTRIES_CONF: join(dir, 'registries.conf'), REGISTRY_AUTH_FILE: join(dir, 'auth.json') };
    const pulled = await podman.run(['pull', 'docker.io/library/busybox:latest'], { env });
    assert.equal(pulled.code, 0, `${pulled.stdout}${pulled.stderr}`);
    const digest = await podman.runOk(['image', 'inspect', '--format', '{{.Digest}}', 'docker.io/library/busybox:latest'], { env });
    assert.equal(digest.stdout.trim(), image.manifestDigest);
  });

  await t.test('containerd (hosts.toml): anonymous from a public mirror; a Berth token once the namespace is private', async () => {
    const containerd = await startContainerd(t);
    const hostsDir = await makeTempDir(t, 'berth-hosts-');
    await mkdir(join(hostsDir, 'docker.io'));
    await writeFile(join(hostsDir, 'docker.io', 'hosts.toml'), `${snippetAfter(config, '/etc/containerd/certs.d/docker.io/hosts.toml')}\n`);
    const pull = (extra: readonly string[] = []) =>
      containerd.ctr(['images', 'pull', '--hosts-dir', hostsDir, '--snapshotter', 'native', ...extra, 'docker.io/library/busybox:latest']);
    const anonymous = await pull();
    assert.equal(anonymous.code, 0, `${anonymous.stdout}${anonymous.stderr}`);
    const listed = await containerd.ctr(['images', 'ls']);
    assert.match(listed.stdout, new RegExp(image.manifestDigest));
    assert.equal((await containerd.ctr(['images', 'rm', 'docker.io/library/busybox:latest'])).code, 0);

    // Private: containerd is challenged, then sends its credentials in the OAuth2 form with the challenge's scope.
    await berthCliOk(['namespace', 'set', 'hub', '--anonymous-pull=false', '--data', dataDir]);
    const secret = (await berthCliOk(['token', 'create', '--name', 'node', '--scope', 'hub/*:pull', '--data', dataDir])).trimEnd().split('\n').at(-1) ?? '';
    const server = berth?.url ?? assert.fail('no server');
    await eventually('the server sees the namespace closed', async () => (await httpGet(`${server}/v2/hub/library/busybox/manifests/latest`, {}, 'HEAD')).status === 401);
    const refused = await pull(['--user', 'hubuser:dckr_pat_2b3e4f5a6b7c8d9e']);
    assert.notEqual(refused.code, 0, 'Docker Hub credentials do not open a private namespace');
    const withToken = await pull(['--user', `node:${secret}`]);
    assert.equal(withToken.code, 0, `${withToken.stdout}${withToken.stderr}`);
  });
});
