import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { describeCertificate } from '../../registry/tls/certificate-material.js';
import { createCertificateAuthority } from '../../registry/tls/certificate-authority.js';
import { formatSubtree, isPermitted, namesOutside, permittedSubtreesFor, readPermittedSubtrees } from '../../registry/tls/name-constraints.js';
import { formatSubjectName, parseSubjectName, serverSubjectNames } from '../../registry/tls/subject-names.js';
import { createTempDir, removeDir } from '../support/temp-dir.js';
import { requireTool, toolSkipReason } from '../support/tools.js';

const names = (...values: string[]) => values.map(parseSubjectName);

test('the subtrees cover the loopback names, the host name and the configured names, each once', () => {
  const subtrees = permittedSubtreesFor(serverSubjectNames('devbox', ['berth.example.lan', '*.apps.example.lan', '127.0.0.2', '10.0.0.7', 'fd00::1', 'Sub.Berth.Example.LAN']));
  assert.deepEqual(subtrees.map(formatSubtree), [
    'DNS:localhost',
    'IP:127.0.0.0/8',
    'IP:::1/128',
    'DNS:devbox',
    'DNS:berth.example.lan',
    'DNS:apps.example.lan',
    'IP:10.0.0.7/32',
    'IP:fd00::1/128',
  ]);
});

test('matching follows the verifiers: a DNS subtree holds the name and what lies below it, an IP subtree its range', () => {
  const subtrees = permittedSubtreesFor(names('berth.example.lan', '10.0.0.7'));
  for (const inside of ['localhost', 'app.localhost', 'berth.example.lan', 'a.b.berth.example.lan', '*.berth.example.lan', '127.0.0.1', '127.255.0.9', '::1', '10.0.0.7']) {
    assert.equal(isPermitted(subtrees, parseSubjectName(inside)), true, inside);
  }
  for (const outside of ['example.lan', 'evilberth.example.lan', 'berth.example.lan.evil.com', 'localhost.evil.com', '10.0.0.8', '128.0.0.1', '::2', 'fe80::1']) {
    assert.equal(isPermitted(subtrees, parseSubjectName(outside)), false, outside);
  }
});

test('a CA carries its subtrees, read back as written; a CA without the extension reads as unconstrained', async () => {
  const ca = await createCertificateAuthority({ hostname: 'devbox', names: serverSubjectNames('devbox', ['10.1.2.3', 'fd00::5']), now: new Date() });
  assert.deepEqual(readPermittedSubtrees(ca.certPem)?.map(formatSubtree), ['DNS:localhost', 'IP:127.0.0.0/8', 'IP:::1/128', 'DNS:devbox', 'IP:10.1.2.3/32', 'IP:fd00::5/128']);
  assert.deepEqual(namesOutside(readPermittedSubtrees(ca.certPem), names('devbox', 'berth.example.lan', '10.1.2.3')), ['DNS:berth.example.lan']);
  assert.deepEqual(namesOutside(undefined, names('anything.example')), []);
});

test('certificates made by OpenSSL read back the same: name constraints, subject names, validity; no extension is no constraint', { skip: toolSkipReason('openssl') }, async (t) => {
  // Berth reads these extensions from the DER itself (certificate-der.ts): check it against another implementation.
  const openssl = requireTool('openssl');
  const dir = await createTempDir('berth-der-');
  t.after(() => removeDir(dir));
  const make = (name: string, extensions: string[]): string => {
    const args = ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, `${name}.key`), '-out', join(dir, `${name}.crt`), '-days', '30', '-subj', `/CN=${name}`];
    for (const extension of extensions) args.push('-addext', extension);
    execFileSync(openssl, args, { stdio: 'ignore' });
    return readFileSync(join(dir, `${name}.crt`), 'utf8');
  };
  const constrained = make('constrained', [
    'basicConstraints=critical,CA:TRUE',
    'nameConstraints=critical,permitted;DNS:Example.LAN,permitted;IP:10.0.0.0/255.0.0.0,permitted;IP:fd00::/ffff:ffff::,permitted;email:ops@example.lan,excluded;DNS:bad.example.lan',
    'subjectAltName=DNS:a.example.lan,IP:10.1.2.3,IP:fd00::5,email:ops@example.lan,DNS:*.example.lan',
  ]);
  assert.deepEqual(readPermittedSubtrees(constrained)?.map(formatSubtree), ['DNS:example.lan', 'IP:10.0.0.0/8', 'IP:fd00::/32'], 'permitted only; kinds Berth never writes left out');
  const info = describeCertificate(constrained, 'constrained.crt');
  assert.deepEqual(info.subjectNames.map(formatSubjectName), ['DNS:a.example.lan', 'IP:10.1.2.3', 'IP:fd00::5', 'DNS:*.example.lan']);
  const text = execFileSync(openssl, ['x509', '-noout', '-startdate', '-enddate', '-in', join(dir, 'constrained.crt')], { encoding: 'utf8' });
  const [, start = '', end = ''] = /notBefore=(.*)\nnotAfter=(.*)/.exec(text) ?? [];
  assert.deepEqual([info.notBefore.getTime(), info.notAfter.getTime()], [Date.parse(start), Date.parse(end)]);

  const plain = make('plain', ['basicConstraints=critical,CA:TRUE']);
  assert.equal(readPermittedSubtrees(plain), undefined, 'a CA without the extension reads as unconstrained');
  assert.deepEqual(describeCertificate(plain).subjectNames, []);
});
