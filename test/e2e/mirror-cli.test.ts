import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { createSecretBox } from '../../registry/auth/secret-box.js';
import { createStateStore } from '../../registry/state/index.js';
import { makeTempDir } from '../support/temp-dir.js';
import { berthCli, berthCliOk } from './mirror-fixture.js';

/** `berth upstream add/list/remove` and `berth mirror-config`, run as a user runs them (real process, real files). */

async function fails(args: readonly string[], code: 1 | 2, pattern: RegExp, input?: string): Promise<void> {
  const result = await berthCli(args, input);
  assert.equal(result.code, code, `berth ${args.join(' ')}: expected exit ${code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
  assert.match(result.stderr, pattern);
  assert.ok(!result.stderr.includes('    at '), `no stack trace for a user error:\n${result.stderr}`);
}

test('upstream add writes the record and its namespace, public only without credentials; the password is sealed and never shown', async (t) => {
  const data = await makeTempDir(t);
  const out = await berthCliOk(['upstream', 'add', 'hub', 'https://registry-1.docker.io', '--default', '--alias', 'docker.io', '--data', data]);
  assert.match(out, /Added upstream "hub" \(https:\/\/registry-1\.docker\.io, also known as docker\.io\)/);
  assert.match(out, /docker pull HOST:PORT\/hub\/library\/redis:7/);
  assert.match(out, /"hub" is the default upstream/);
  assert.match(out, /Namespace "hub" allows anonymous pulls \(the upstream has no credentials and Berth listens on loopback only\)/);

  const password = 'pa55-w0rd-not-in-the-file';
  const second = await berthCliOk(
    ['upstream', 'add', 'quay', 'https://quay.io', '--default', '--username', 'robot', '--password-stdin', '--tag-ttl', '10m', '--data', data],
    `${password}\n`,
  );
  assert.match(second, /"quay" is now the default upstream \(was "hub"\)/, 'a new default says which one it replaced');
  assert.ok(!second.includes(password));
  assert.match(second, /Namespace "quay" is private: pulls need an access token with "quay\/\*:pull" \(the upstream has credentials/);
  assert.match(second, /Change it with: berth namespace set quay --anonymous-pull=true/);

  const stateText = await readFile(join(data, 'state.json'), 'utf8');
  assert.ok(!stateText.includes(password), 'state.json holds no plaintext password');
  const store = await createStateStore(data);
  t.after(() => store.close());
  const { upstreams, namespaces } = store.read();
  const hub = upstreams.find((u) => u.name === 'hub');
  const quay = upstreams.find((u) => u.name === 'quay');
  assert.ok(hub && quay);
  assert.deepEqual([hub.isDefault, quay.isDefault], [false, true], 'only one default');
  assert.deepEqual(hub.aliases, ['docker.io']);
  assert.equal(hub.tagTtlSeconds, 300);
  assert.equal(quay.tagTtlSeconds, 600);
  assert.equal(quay.username, 'robot');
  assert.ok(quay.passwordSealed);
  // The trailing newline of `echo` is not part of the password.
  assert.equal((await createSecretBox(data)).open(quay.passwordSealed), password);
  assert.deepEqual(
    namespaces.map((ns) => [ns.name, ns.anonymousPull]).sort(),
    [['hub', true], ['quay', false]],
    "each upstream gets its namespace; the admin's credentials are not everyone's",
  );

  const table = await berthCliOk(['upstream', 'list', '--data', data]);
  assert.match(table, /^NAME\s+URL\s+ALIASES\s+DEFAULT\s+AUTH\s+INSECURE\s+TAG TTL\s+ANONYMOUS PULL/m);
  assert.match(table, /^hub\s+https:\/\/registry-1\.docker\.io\s+docker\.io\s+no\s+no\s+no\s+5m\s+yes/m);
  assert.match(table, /^quay\s+https:\/\/quay\.io\s+-\s+yes\s+yes \(robot\)\s+no\s+10m\s+no/m);
  const json = JSON.parse(await berthCliOk(['upstream', 'list', '--json', '--data', data])) as Array<Record<string, unknown>>;
  assert.deepEqual(json.map((view) => [view.name, view.default, view.auth, view.anonymousPull]), [['hub', false, false, true], ['quay', true, true, false]]);
  const listed = JSON.stringify(json);
  assert.ok(!listed.includes(password) && !listed.includes(quay.passwordSealed), 'list never shows the password, sealed or not');

  const audit = await berthCliOk(['audit', '--data', data, '--json']);
  const events = audit.trim().split('\n').map((line) => JSON.parse(line) as { action: string; actor: string });
  const actions = events.filter((e) => e.action.startsWith('upstream.'));
  assert.deepEqual(actions.map((e) => [e.action, e.actor]), [['upstream.add', 'admin'], ['upstream.add', 'admin']]);
  assert.ok(!audit.includes(password));
});

test('upstream add refuses duplicates, unsafe settings and namespaces that hold local content', async (t) => {
  const data = await makeTempDir(t);
  await berthCliOk(['upstream', 'add', 'hub', 'https://registry-1.docker.io', '--alias', 'docker.io', '--data', data]);
  await fails(['upstream', 'add', 'hub', 'https://mirror.gcr.io', '--data', data], 1, /an upstream named "hub" already exists/);
  await fails(['upstream', 'add', 'other', 'https://mirror.gcr.io', '--alias', 'docker.io', '--data', data], 1, /host "docker\.io" already routes to upstream "hub"/);
  await fails(['upstream', 'add', 'lan', 'https://10.1.2.3:5000', '--insecure', '--data', data], 2, /insecure .* only for loopback/);
  await fails(['upstream', 'add', 'lan', 'http://10.1.2.3:5000', '--username', 'u', '--password-stdin', '--data', data], 2, /plain HTTP/, 'secret\n');
  await fails(['upstream', 'add', 'lan', 'https://r.example', '--username', 'u', '--data', data], 2, /--password-stdin/);
  await fails(['upstream', 'add', 'Bad/Name', 'https://r.example', '--data', data], 2, /invalid upstream name/);
  await fails(['upstream', 'add', 'x', 'ftp://r.example', '--data', data], 2, /https:\/\/ or http:\/\//);
  await fails(['upstream', 'add', 'x', 'https://r.example', '--tag-ttl', 'soon', '--data', data], 2, /--tag-ttl: invalid duration/);
  await fails(['upstream', 'add', 'x', '--data', data], 2, /missing the upstream URL/);
  const notPem = join(data, 'not-a-cert.txt');
  await writeFile(notPem, 'hello');
  await fails(['upstream', 'add', 'x', 'https://r.example', '--ca-file', notPem, '--data', data], 2, /not a PEM certificate/);

  // A namespace with pushed images cannot silently become a read-only mirror.
  await storeManifestRevision(data, 'team/app');
  await fails(['upstream', 'add', 'team', 'https://r.example', '--data', data], 1, /namespace "team" already holds 1 local repository/);
  const adopted = await berthCliOk(['upstream', 'add', 'team', 'https://r.example', '--adopt', '--data', data]);
  assert.match(adopted, /Added upstream "team"/);
});

test('upstream remove keeps the cache and says so; unknown names fail with exit 1', async (t) => {
  const data = await makeTempDir(t);
  await berthCliOk(['upstream', 'add', 'hub', 'https://registry-1.docker.io', '--default', '--data', data]);
  await storeManifestRevision(data, 'hub/library/redis');
  const out = await berthCliOk(['upstream', 'remove', 'hub', '--data', data]);
  assert.match(out, /Removed upstream "hub" \(it was the default upstream/);
  assert.match(out, /Cached content is kept: 1 repository under namespace "hub"/);
  assert.match(await berthCliOk(['upstream', 'list', '--data', data]), /No upstreams yet/);
  await fails(['upstream', 'remove', 'hub', '--data', data], 1, /no upstream "hub"/);
  await fails(['upstream', 'frobnicate', '--data', data], 2, /unknown upstream command "frobnicate"/);
  const help = await berthCliOk(['--help']);
  assert.match(help, /upstream\s+add, list and remove upstream registries/);
  assert.match(help, /mirror-config\s+print Docker, containerd and podman settings/);
});

test('mirror-config prints the Docker, containerd and podman snippets for the real address and upstreams', async (t) => {
  const data = await makeTempDir(t);
  await berthCliOk(['upstream', 'add', 'hub', 'https://registry-1.docker.io', '--default', '--alias', 'docker.io', '--data', data]);
  await berthCliOk(['upstream', 'add', 'ghcr', 'https://ghcr.io', '--data', data]);

  const defaults = await berthCliOk(['mirror-config', '--data', data]);
  assert.match(defaults, /# \/etc\/docker\/daemon\.json/);
  const daemonJson = /^\{[\s\S]*?^\}/m.exec(defaults)?.[0];
  assert.deepEqual(JSON.parse(daemonJson ?? 'null'), { 'registry-mirrors': ['http://127.0.0.1:5000'] });
  assert.match(defaults, /Docker Hub images only/);
  assert.match(
    defaults,
    /# \/etc\/containerd\/certs\.d\/docker\.io\/hosts\.toml.*\nserver = "https:\/\/registry-1\.docker\.io"\n\n\[host\."http:\/\/127\.0\.0\.1:5000"\]\n {2}capabilities = \["pull", "resolve"\]/,
  );
  assert.match(defaults, /# \/etc\/containerd\/certs\.d\/ghcr\.io\/hosts\.toml.*\nserver = "https:\/\/ghcr\.io"/);
  assert.match(defaults, /\[\[registry\]\]\nprefix = "docker\.io"\nlocation = "docker\.io"\n\n\[\[registry\.mirror\]\]\nlocation = "127\.0\.0\.1:5000\/hub"\ninsecure = true/);
  assert.match(defaults, /\[\[registry\]\]\nprefix = "ghcr\.io"\nlocation = "ghcr\.io"\n\n\[\[registry\.mirror\]\]\nlocation = "127\.0\.0\.1:5000\/ghcr"/);

  // The listen address in the settings is what clients are told.
  const store = await createStateStore(data);
  await store.update((draft) => {
    draft.settings.listen = '127.0.0.1:6123';
  });
  await store.close();
  const configured = await berthCliOk(['mirror-config', '--data', data]);
  assert.match(configured, /"http:\/\/127\.0\.0\.1:6123"/);
  assert.match(configured, /location = "127\.0\.0\.1:6123\/hub"/);
  assert.ok(!configured.includes(':5000'));

  // Another host (a LAN name) is reached over HTTPS with Berth's CA.
  const lan = await berthCliOk(['mirror-config', '--host', 'registry.lan:5443', '--data', data]);
  assert.match(lan, /"https:\/\/registry\.lan:5443"/);
  assert.match(lan, /\[host\."https:\/\/registry\.lan:5443"\]\n {2}capabilities = \["pull", "resolve"\]\n {2}ca = /);
  assert.match(lan, /location = "registry\.lan:5443\/hub"\n(?!insecure)/);
  await fails(['mirror-config', '--host', 'nonsense', '--data', data], 2, /invalid --host/);
});

/** What a push leaves that makes a folder a repository with content: a manifest revision's link file. */
async function storeManifestRevision(data: string, repository: string): Promise<void> {
  const digest = `sha256:${'a'.repeat(64)}`;
  const folder = join(data, 'repositories', ...repository.split('/'), '_manifests', 'revisions', 'sha256', 'a'.repeat(64));
  await mkdir(folder, { recursive: true });
  await writeFile(join(folder, 'link'), digest);
}
