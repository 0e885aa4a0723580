import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createCertificateAuthority } from '../../registry/tls/certificate-authority.js';
import { formatSubtree, isPermitted, namesOutside, permittedSubtreesFor, readPermittedSubtrees } from '../../registry/tls/name-constraints.js';
import { parseSubjectName, serverSubjectNames } from '../../registry/tls/subject-names.js';

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
