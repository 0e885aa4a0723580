import assert from 'node:assert/strict';
import { test } from 'node:test';
import { silentLogger } from '../../registry/log.js';
import {
  createUpstreamClient,
  isLoopbackHost,
  parseChallenges,
  upstreamRepository,
  UpstreamConfigError,
  validateUpstream,
} from '../../registry/mirror/index.js';

/** Upstream configuration checks, Docker Hub naming and challenge parsing. */

test('insecure is refused for hosts that are not loopback, with a clear error', () => {
  assert.throws(
    () => createUpstreamClient({ name: 'corp', url: 'https://registry.example.com', insecure: true }, { logger: silentLogger() }),
    (error: unknown) => {
      assert.ok(error instanceof UpstreamConfigError);
      assert.equal(error.code, 'BERTH_UPSTREAM_CONFIG_INVALID');
      assert.match(error.message, /upstream corp: insecure .* only for loopback hosts, not registry\.example\.com/);
      return true;
    },
  );
  assert.throws(() => validateUpstream({ name: 'lan', url: 'https://192.168.1.10:5000', insecure: true }), UpstreamConfigError);
  for (const url of ['https://127.0.0.1:5000', 'https://localhost:5000', 'https://[::1]:5000']) {
    validateUpstream({ name: 'local', url, insecure: true });
  }
});

test('other unsafe or broken configurations are refused', () => {
  const bad = [
    { name: 'x', url: 'http://registry.example.com', username: 'u', password: 'p' }, // credentials in clear text
    { name: 'x', url: 'ftp://registry.example.com' },
    { name: 'x', url: 'not a url' },
    { name: 'x', url: 'https://u:p@registry.example.com' },
    { name: 'x', url: 'https://registry.example.com', username: 'only-user' },
    { name: '', url: 'https://registry.example.com' },
  ];
  for (const upstream of bad) assert.throws(() => validateUpstream(upstream), UpstreamConfigError, JSON.stringify(upstream));
  validateUpstream({ name: 'local', url: 'http://127.0.0.1:5000', username: 'u', password: 'p' });
});

test('loopback hosts', () => {
  for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]', 'app.localhost']) assert.equal(isLoopbackHost(host), true, host);
  for (const host of ['10.0.0.1', 'example.com', '::2', 'localhost.example.com', '128.0.0.1']) assert.equal(isLoopbackHost(host), false, host);
});

test('Docker Hub names gain library/ only for single components', () => {
  const hub = { name: 'hub', url: 'https://registry-1.docker.io' };
  assert.equal(upstreamRepository(hub, 'redis'), 'library/redis');
  assert.equal(upstreamRepository(hub, 'bitnami/redis'), 'bitnami/redis');
  assert.equal(upstreamRepository({ name: 'mirror', url: 'https://mirror.example.com', aliases: ['docker.io'] }, 'redis'), 'library/redis');
  assert.equal(upstreamRepository({ name: 'ghcr', url: 'https://ghcr.io' }, 'redis'), 'redis');
});

test('WWW-Authenticate challenges are parsed, quoted commas included', () => {
  assert.deepEqual(
    parseChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/redis:pull,push"'),
    [{ scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/redis:pull,push' } }],
  );
  assert.deepEqual(parseChallenges('Basic realm="Registry Realm", Bearer realm="https://t/x"'), [
    { scheme: 'basic', params: { realm: 'Registry Realm' } },
    { scheme: 'bearer', params: { realm: 'https://t/x' } },
  ]);
  assert.deepEqual(parseChallenges(['Basic realm=plain']), [{ scheme: 'basic', params: { realm: 'plain' } }]);
  assert.deepEqual(parseChallenges(undefined), []);
});
