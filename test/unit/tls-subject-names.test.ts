import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { createLogger } from '../../registry/log.js';
import { createCertificateManager, formatSubjectName, parseSubjectName } from '../../registry/tls/index.js';
import { makeTempDir } from '../support/temp-dir.js';

test('names are classified as DNS or IP and written in one canonical form', () => {
  const cases: Array<[string, string]> = [
    ['localhost', 'DNS:localhost'],
    ['Registry.Example.TEST.', 'DNS:registry.example.test'],
    ['*.berth.example.test', 'DNS:*.berth.example.test'],
    ['10.0.0.7', 'IP:10.0.0.7'],
    ['::1', 'IP:::1'],
    ['[::1]', 'IP:::1'],
    ['0:0:0:0:0:0:0:1', 'IP:::1'],
    ['FE80:0:0::1', 'IP:fe80::1'],
    [' 192.168.1.20 ', 'IP:192.168.1.20'],
  ];
  for (const [input, expected] of cases) assert.equal(formatSubjectName(parseSubjectName(input)), expected, input);
});

test('a name that cannot go in a certificate is refused with a clear error', () => {
  const longLabel = `${'x'.repeat(64)}.test`;
  const refused = ['', 'two words', 'http://registry', 'a..b', '-dash.example', longLabel, '*', 'a.*.b', 'under_score'];
  for (const bad of refused) {
    assert.throws(() => parseSubjectName(bad), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'BERTH_TLS_NAME_INVALID');
      assert.match(error.message, /neither a DNS name nor an IP address/);
      return true;
    }, JSON.stringify(bad));
  }
  const badConfig = { dataDir: '/nonexistent', names: ['not a name'] };
  assert.throws(() => createCertificateManager(badConfig), { code: 'BERTH_TLS_NAME_INVALID' });
});

test('setNames with an invalid name rejects and keeps the certificate', async (t) => {
  const dataDir = await makeTempDir(t);
  const manager = createCertificateManager({ dataDir });
  const first = await manager.ensure();
  await assert.rejects(manager.setNames(['bad name']), { code: 'BERTH_TLS_NAME_INVALID' });
  assert.equal((await manager.ensure()).server.fingerprint256, first.server.fingerprint256);
});

test('duplicates collapse, and a host name that is not a DNS name is left out with a warning', async (t) => {
  const dataDir = await makeTempDir(t);
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(chunk.toString('utf8'));
      callback();
    },
  });
  const logger = createLogger({ level: 'info', destination });
  const manager = createCertificateManager({ dataDir, hostname: 'My_PC', names: ['LOCALHOST', '127.0.0.1', '[0::1]'], logger });
  const set = await manager.ensure();
  const sans = new X509Certificate(set.server.pem).subjectAltName;
  assert.equal(sans, 'DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1');
  const messages = lines.map((line) => JSON.parse(line) as { msg: string; hostname?: string });
  assert.ok(messages.some((entry) => entry.hostname === 'My_PC' && /not a valid DNS name/.test(entry.msg)));
  assert.ok(messages.some((entry) => entry.msg === 'created the local CA'));
  assert.ok(messages.some((entry) => entry.msg === 'issued the server certificate'));
});
