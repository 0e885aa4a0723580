import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parsePublicUrl, publicUrlEnv } from '../../registry/config/public-url.js';
import { startBerth } from '../support/berth-process.js';
import { rawRequest } from '../support/oci-client.js';
import { makeTempDir } from '../support/temp-dir.js';
import { berthCli } from './mirror-fixture.js';

/**
 * `berth serve --public-url https://registry.team.example` (or BERTH_PUBLIC_URL): behind a load balancer, token
 * challenges name the public address as their realm rather than the node's own, and the node answers requests for
 * that name. Without it (the default) the realm is the listener's own address, as before.
 */

test('parsePublicUrl: an http(s) origin from the flag, else the environment; anything more is refused in the flag\'s terms', () => {
  assert.equal(parsePublicUrl(undefined, {}), undefined);
  assert.equal(parsePublicUrl('https://registry.team.example', {}), 'https://registry.team.example');
  assert.equal(parsePublicUrl('https://Registry.Team.Example:8443/', {}), 'https://registry.team.example:8443');
  assert.equal(parsePublicUrl(undefined, { [publicUrlEnv]: ' https://lb.example ' }), 'https://lb.example');
  assert.equal(parsePublicUrl('https://flag.example', { [publicUrlEnv]: 'https://env.example' }), 'https://flag.example', 'the flag wins');
  assert.throws(() => parsePublicUrl('registry.team.example', {}), /--public-url "registry.team.example" is not a URL: use https:\/\/HOST\[:PORT\]/);
  assert.throws(() => parsePublicUrl('ftp://registry.team.example', {}), /--public-url: use an https:\/\/ \(or http:\/\/\) URL, not ftp:/);
  assert.throws(() => parsePublicUrl('https://user:pw@registry.team.example', {}), /must not hold credentials/);
  assert.throws(() => parsePublicUrl('https://registry.team.example/v2', {}), /only the scheme, host and port/);
  assert.throws(() => parsePublicUrl(undefined, { [publicUrlEnv]: 'https://x.example/?a=1' }), /^PublicUrlError: BERTH_PUBLIC_URL: only the scheme|BERTH_PUBLIC_URL: only the scheme/);
});

test('serve --public-url: every challenge names <public URL>/token, and the public name is answered (not 421)', async (t) => {
  const dataDir = await makeTempDir(t);
  const berth = await startBerth({ dataDir, auth: 'token', tlsListen: 'off', args: ['--public-url', 'https://registry.team.example'] });
  t.after(() => berth.stop());
  const direct = await rawRequest(berth.url, 'GET', '/v2/');
  assert.equal(direct.status, 401);
  assert.equal(direct.headers['www-authenticate'], 'Bearer realm="https://registry.team.example/token",service="berth"');
  const viaName = await rawRequest(berth.url, 'GET', '/v2/', { headers: { host: 'registry.team.example' } });
  assert.equal(viaName.status, 401, 'the public name is one of the names the node answers');
  assert.equal(viaName.headers['www-authenticate'], 'Bearer realm="https://registry.team.example/token",service="berth"');
  const other = await rawRequest(berth.url, 'GET', '/v2/', { headers: { host: 'evil.example' } });
  assert.equal(other.status, 421, 'any other name is still refused');
});

test('without --public-url (the default) the realm is the listener\'s own address', async (t) => {
  const dataDir = await makeTempDir(t);
  const berth = await startBerth({ dataDir, auth: 'token', tlsListen: 'off', env: { [publicUrlEnv]: undefined } });
  t.after(() => berth.stop());
  const challenge = await rawRequest(berth.url, 'GET', '/v2/');
  assert.equal(challenge.status, 401);
  assert.equal(challenge.headers['www-authenticate'], `Bearer realm="${berth.url}/token",service="berth"`);
});

test('serve with a bad --public-url is a usage error (exit 2) before anything starts', async (t) => {
  const dataDir = await makeTempDir(t);
  const result = await berthCli(['serve', '--public-url', 'https://registry.team.example/berth', '--data', dataDir]);
  assert.equal(result.code, 2, result.stderr);
  assert.match(result.stderr, /^berth: --public-url: only the scheme, host and port \(https:\/\/registry\.team\.example\): Berth's paths \(\/v2, \/token\) are fixed/);
});
