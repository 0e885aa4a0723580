import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { createCertificateManager, trustInstructions, trustSections, type TrustSection } from '../../registry/tls/index.js';
import { makeTempDir } from '../support/temp-dir.js';
import { runOk, toolTest } from '../support/tools.js';

const caPath = '/var/lib/berth/tls/ca.crt';
const hostPort = 'localhost:5000';

function section(target: TrustSection['target'], options = { caPath, hostPort }): TrustSection {
  const found = trustSections(options).find((candidate) => candidate.target === target);
  assert.ok(found, `no ${target} section`);
  return found;
}

test('the text names every client and trust store with its exact commands', () => {
  const text = trustInstructions({ caPath, hostPort });
  const expected = [
    'sudo cp /var/lib/berth/tls/ca.crt /etc/docker/certs.d/localhost:5000/ca.crt',
    'sudo cp /var/lib/berth/tls/ca.crt /etc/containerd/certs.d/localhost:5000/ca.crt',
    'sudo cp /var/lib/berth/tls/ca.crt /etc/containers/certs.d/localhost:5000/ca.crt',
    'sudo cp /var/lib/berth/tls/ca.crt /usr/local/share/ca-certificates/berth.crt',
    'sudo update-ca-certificates',
    'sudo cp /var/lib/berth/tls/ca.crt /etc/pki/ca-trust/source/anchors/berth.crt',
    'sudo update-ca-trust',
    'sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain /var/lib/berth/tls/ca.crt',
    'certutil -addstore -f Root "/var/lib/berth/tls/ca.crt"',
    'Import-Certificate -FilePath "/var/lib/berth/tls/ca.crt" -CertStoreLocation Cert:\\LocalMachine\\Root',
    'curl --cacert /var/lib/berth/tls/ca.crt https://localhost:5000/v2/',
  ];
  for (const line of expected) assert.ok(text.includes(line), `missing: ${line}`);
  assert.match(text, /never changes trust settings itself/);
});

test('containerd gets a hosts.toml naming the server and the CA', () => {
  const commands = section('containerd').commands.join('\n');
  assert.ok(
    commands.includes(
      [
        'server = "https://localhost:5000"',
        '',
        '[host."https://localhost:5000"]',
        '  capabilities = ["pull", "resolve", "push"]',
        '  ca = "/etc/containerd/certs.d/localhost:5000/ca.crt"',
      ].join('\n'),
    ),
    commands,
  );
  assert.match(section('containerd').notes.join('\n'), /config_path = "\/etc\/containerd\/certs\.d"/);
});

test('a CA path with spaces and quotes is quoted for the shell; a host:port with shell syntax is refused', () => {
  const awkward = "/home/o'neil/Berth data/tls/ca.crt";
  const debian = section('debian', { caPath: awkward, hostPort });
  assert.equal(debian.commands[0], "sudo cp '/home/o'\\''neil/Berth data/tls/ca.crt' /usr/local/share/ca-certificates/berth.crt");
  for (const bad of ['localhost:5000; rm -rf /', 'https://localhost:5000', '$(id):5000', 'localhost:5000/x', '']) {
    assert.throws(() => trustInstructions({ caPath, hostPort: bad }), { code: 'BERTH_TLS_NAME_INVALID' }, bad);
  }
  for (const good of ['localhost:5000', '127.0.0.1:5000', '[::1]:5000', 'registry.example.test', 'berth-host:443']) {
    assert.doesNotThrow(() => trustInstructions({ caPath, hostPort: good }), good);
  }
});

test('the Linux directory commands run as printed and leave the files clients look for', async (t) => {
  const root = await makeTempDir(t);
  const sourceDir = join(root, "Berth's data");
  await mkdir(sourceDir);
  const manager = createCertificateManager({ dataDir: sourceDir });
  const set = await manager.ensure();
  const options = { caPath: set.paths.caCert, hostPort: '127.0.0.1:5000' };
  // Run each command in a sandbox: no sudo, and /etc rebased into the temp directory.
  for (const target of ['docker', 'containerd', 'containers'] as const) {
    for (const command of section(target, options).commands) {
      const sandboxed = command.replace(/^sudo /, '').replaceAll(' /etc/', ` ${root}/etc/`);
      await runOk('sh', ['-c', sandboxed]);
    }
  }
  for (const dir of ['docker', 'containerd', 'containers']) {
    assert.equal(await readFile(join(root, 'etc', dir, 'certs.d', '127.0.0.1:5000', 'ca.crt'), 'utf8'), set.ca.pem);
  }
  const hostsToml = await readFile(join(root, 'etc', 'containerd', 'certs.d', '127.0.0.1:5000', 'hosts.toml'), 'utf8');
  assert.equal(
    hostsToml,
    'server = "https://127.0.0.1:5000"\n\n[host."https://127.0.0.1:5000"]\n  capabilities = ["pull", "resolve", "push"]\n' +
      '  ca = "/etc/containerd/certs.d/127.0.0.1:5000/ca.crt"\n',
  );
});

await toolTest('the printed curl command reaches a Berth TLS server', ['curl'], async (t) => {
  // A data directory whose path needs quoting: the printed command must still work when pasted.
  const dataDir = join(await makeTempDir(t), "o'neil's Berth");
  const manager = createCertificateManager({ dataDir });
  const set = await manager.ensure();
  const server = createServer(manager.secureContextOptions(), (_req, res) => res.end('{"berth":true}'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const port = (server.address() as AddressInfo).port;

  const command = section('other', { caPath: set.paths.caCert, hostPort: `127.0.0.1:${port}` }).commands[0] ?? '';
  const result = await runOk('sh', ['-c', `${command} --silent --show-error --fail`]);
  assert.equal(result.stdout, '{"berth":true}');
});
