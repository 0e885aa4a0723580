import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { berthBin, startBerth, type BerthProcess } from '../support/berth-process.js';
import { createImageLayout } from '../support/oci-layout.js';
import { createIsolatedPodman } from '../support/podman.js';
import { call, decodeJwt, errorCodesOf, fetchBearer, type CallResult, type Credentials } from '../support/registry-auth.js';
import { makeTempDir } from '../support/temp-dir.js';
import { requireTools, run, toolSkipReason } from '../support/tools.js';

/**
 * Access control and TLS as a user meets them: `berth serve` with token auth and its HTTPS listener, skopeo and
 * podman trusting only Berth's exported CA, tokens that expire and are revoked while the server runs, the
 * failed-login limiter, the audit trail, metrics, and no secret anywhere on disk or in output.
 */

const basic = (username: string, password: string): Credentials => ({ kind: 'basic', username, password });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const lastLine = (text: string) => text.trimEnd().split('\n').at(-1) ?? '';

/** Every CLI output, for the secret scan; `token create`'s last line (the one place a secret belongs) is cut off. */
const cliOutputs: string[] = [];

async function berth(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const result = await run(process.execPath, [berthBin, ...args], { timeoutMs: 30_000 });
  const stdout = args[0] === 'token' && args[1] === 'create' ? result.stdout.trimEnd().split('\n').slice(0, -1).join('\n') : result.stdout;
  cliOutputs.push(stdout, result.stderr);
  return result;
}

async function berthOk(args: readonly string[]): Promise<string> {
  const result = await berth(args);
  assert.equal(result.code, 0, `berth ${args.join(' ')} failed:\n${result.stderr}${result.stdout}`);
  return result.stdout;
}

async function createTokenCli(dataDir: string, name: string, scope: string, extra: string[] = []): Promise<string> {
  const secret = lastLine(await berthOk(['token', 'create', '--name', name, '--scope', scope, ...extra, '--data', dataDir]));
  assert.match(secret, /^berth_[A-Za-z0-9_-]{43}$/);
  return secret;
}

/** Polls `probe` until it returns true or `limitMs` passes; returns how long it took, or undefined. */
async function flipsWithin(limitMs: number, probe: () => Promise<boolean>): Promise<number | undefined> {
  const started = Date.now();
  for (;;) {
    if (await probe()) return Date.now() - started;
    if (Date.now() - started > limitMs) return undefined;
    await sleep(25);
  }
}

/** Every file under `dir` as bytes, with its path (binary-safe: blobs are searched too). */
async function filesUnder(dir: string): Promise<Array<{ path: string; bytes: Buffer }>> {
  const files: Array<{ path: string; bytes: Buffer }> = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) {
      const path = join(entry.parentPath, entry.name);
      files.push({ path, bytes: await readFile(path) });
    }
  }
  return files;
}

function metricValue(text: string, name: string, labels: Record<string, string>): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(labels).every(([key, value]) => line.includes(`${key}="${value}"`))) continue;
    total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

interface Env {
  dataDir: string;
  server: BerthProcess;
  /** `https://127.0.0.1:PORT` */
  tlsUrl: string;
  /** `127.0.0.1:PORT` of the HTTPS listener, for image references. */
  tlsHost: string;
  certDir: string;
  ca: string;
  /** Every secret and JWT the test saw; none may appear anywhere. */
  secrets: string[];
  ciToken: string;
  /** The full output of the first `token create`, secret included (kept out of cliOutputs). */
  createOutput: string;
}

async function setUp(t: TestContext): Promise<Env> {
  const dataDir = await makeTempDir(t, 'berth-auth-tls-');
  const createOutput = await berthOk(['token', 'create', '--name', 'ci', '--scope', 'team/*:pull,push', '--data', dataDir]);
  const ciToken = lastLine(createOutput);
  const server = await startBerth({ dataDir, auth: 'token', tlsListen: '127.0.0.1:0' });
  t.after(() => server.close());
  const tlsUrl = String(server.ready.tlsUrl ?? '');
  assert.match(tlsUrl, /^https:\/\/127\.0\.0\.1:\d+$/, `ready line: ${JSON.stringify(server.ready)}`);
  const certDir = join(await makeTempDir(t, 'berth-certs-'), 'certs');
  await mkdir(certDir);
  assert.match(await berthOk(['ca', 'export', '--out', join(certDir, 'ca.crt'), '--data', dataDir]), /Wrote Berth's CA certificate/);
  const ca = await readFile(join(certDir, 'ca.crt'), 'utf8');
  return { dataDir, server, tlsUrl, tlsHost: new URL(tlsUrl).host, certDir, ca, secrets: [ciToken], ciToken, createOutput };
}

test('token auth over TLS with real clients: push, refusal, expiry, revocation, brute force, audit, metrics, no leaks', { timeout: 150_000 }, async (t) => {
  const env = await setUp(t);
  const { dataDir, server, tlsUrl, tlsHost, certDir, ca, ciToken } = env;
  const tls = (method: string, path: string, credentials?: Credentials, localAddress?: string): Promise<CallResult> =>
    call(method, `${tlsUrl}${path}`, { credentials, ca, localAddress });
  const layouts = await makeTempDir(t, 'berth-layouts-');
  const image = await createImageLayout(join(layouts, 'app'), { tag: '1', layers: [{ bytes: 40_000 }, { bytes: 10_000 }] });
  const metricsBefore = await (await fetch(`${server.url}/metrics`)).text();

  await t.test('skopeo over HTTPS trusting only the exported CA: push, refused push, pull, and no trust without it', { skip: toolSkipReason('skopeo') }, async () => {
    requireTools('skopeo');
    const skopeo = (args: string[]) => run('skopeo', ['--insecure-policy', ...args], { timeoutMs: 60_000 });
    const pushed = await skopeo(['copy', '--dest-cert-dir', certDir, '--dest-creds', `ci:${ciToken}`, image.ref, `docker://${tlsHost}/team/app:1`]);
    assert.equal(pushed.code, 0, pushed.stderr);
    cliOutputs.push(pushed.stdout, pushed.stderr);

    const refused = await skopeo(['copy', '--dest-cert-dir', certDir, '--dest-creds', `ci:${ciToken}`, image.ref, `docker://${tlsHost}/other/app:1`]);
    assert.notEqual(refused.code, 0, 'push outside the token scope must fail');
    assert.match(refused.stderr, /denied|unauthorized|forbidden|403/i);
    cliOutputs.push(refused.stdout, refused.stderr);

    const out = join(layouts, 'pulled');
    const pulled = await skopeo(['copy', '--src-cert-dir', certDir, '--src-creds', `ci:${ciToken}`, `docker://${tlsHost}/team/app:1`, `oci:${out}:1`]);
    assert.equal(pulled.code, 0, pulled.stderr);
    const index = JSON.parse(await readFile(join(out, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
    assert.equal(index.manifests[0]?.digest, image.manifestDigest, 'pulled the very manifest pushed');

    // Without the CA (and without --tls-verify=false) the certificate is not trusted.
    const untrusted = await skopeo(['inspect', '--creds', `ci:${ciToken}`, `docker://${tlsHost}/team/app:1`]);
    assert.notEqual(untrusted.code, 0);
    assert.match(untrusted.stderr, /x509|certificate/i);
    cliOutputs.push(untrusted.stderr);
  });

  await t.test('podman login, pull and push over HTTPS with --cert-dir', { skip: toolSkipReason('skopeo', 'podman') }, async (tt) => {
    requireTools('skopeo', 'podman');
    const podman = await createIsolatedPodman(tt);
    const authFile = join(await makeTempDir(tt, 'berth-podman-auth-'), 'auth.json');
    const options = { env: { REGISTRY_AUTH_FILE: authFile } };
    // A wrong password is refused, whether or not it looks like a Berth token (docker login asks /token for no scope).
    for (const wrong of ['not-the-token', `berth_${'x'.repeat(43)}`]) {
      const bad = await podman.run(['login', '--cert-dir', certDir, '-u', 'ci', '--password-stdin', tlsHost], { ...options, input: `${wrong}\n` });
      assert.notEqual(bad.code, 0, `podman login with password ${wrong} succeeded:\n${bad.stdout}`);
      assert.match(bad.stderr, /invalid username\/password|unauthorized/i);
    }
    const login = await podman.runOk(['login', '--cert-dir', certDir, '-u', 'ci', '--password-stdin', tlsHost], { ...options, input: `${ciToken}\n` });
    assert.match(login.stdout, /Login Succeeded/i);
    await podman.runOk(['pull', '--cert-dir', certDir, `${tlsHost}/team/app:1`], options);
    await podman.runOk(['push', '--cert-dir', certDir, `${tlsHost}/team/app:1`, `docker://${tlsHost}/team/podman:2`], options);
    const pushed = await tls('GET', '/v2/team/podman/tags/list', basic('ci', ciToken));
    assert.equal(pushed.status, 200, pushed.text);
    assert.deepEqual((JSON.parse(pushed.text) as { tags: string[] }).tags, ['2']);
    const refused = await podman.run(['push', '--cert-dir', certDir, `${tlsHost}/team/app:1`, `docker://${tlsHost}/other/podman:2`], options);
    assert.notEqual(refused.code, 0, 'podman push outside the scope must fail');
  });

  await t.test('a token created with --expires 2s works, then stops working once it expires', async () => {
    const short = await createTokenCli(dataDir, 'short', 'team/*:pull', ['--expires', '2s']);
    env.secrets.push(short);
    const [record] = (JSON.parse(await berthOk(['token', 'list', '--json', '--data', dataDir])) as Array<{ name: string; expiresAt: string }>).filter(
      (token) => token.name === 'short',
    );
    const expiresAt = Date.parse(record?.expiresAt ?? '');
    // Its own source address: the refusals after expiry must not count against the other subtests' 127.0.0.1.
    const probe = () => tls('GET', '/v2/', basic('short', short), '127.7.0.1');
    const accepted = await flipsWithin(2_000, async () => (await probe()).status === 200);
    assert.ok(accepted !== undefined, 'the new token is accepted by the running server');
    assert.ok(Date.now() < expiresAt, 'test too slow: the token expired before it was first used');
    const { jwt } = await fetchBearer(tlsUrl, ['repository:team/app:pull'], { credentials: basic('short', short), ca, localAddress: '127.7.0.1' });
    assert.ok(jwt);
    env.secrets.push(jwt);
    await sleep(Math.max(0, expiresAt - Date.now()) + 50);
    const afterExpiry = await probe();
    assert.equal(afterExpiry.status, 401, afterExpiry.text);
    assert.match(afterExpiry.text, /expired/);
    const jwtAfter = await tls('HEAD', '/v2/team/app/manifests/1', { kind: 'bearer', jwt }, '127.7.0.1');
    assert.equal(jwtAfter.status, 401, `a JWT of an expired token: ${jwtAfter.status}`);
    assert.match(String(jwtAfter.headers['www-authenticate']), /error="invalid_token"/);
  });

  await t.test('berth token revoke: within a second both Basic and an already issued JWT are refused', async () => {
    const secret = await createTokenCli(dataDir, 'rev', 'team/*:pull');
    env.secrets.push(secret);
    const address = '127.7.0.2';
    const viaBasic = () => tls('HEAD', '/v2/team/app/manifests/1', basic('rev', secret), address);
    assert.ok((await flipsWithin(2_000, async () => (await viaBasic()).status === 200)) !== undefined, 'the new token works');
    const { jwt } = await fetchBearer(tlsUrl, ['repository:team/app:pull'], { credentials: basic('rev', secret), ca, localAddress: address });
    assert.ok(jwt);
    env.secrets.push(jwt);
    const viaBearer = () => tls('HEAD', '/v2/team/app/manifests/1', { kind: 'bearer', jwt }, address);
    assert.equal((await viaBearer()).status, 200);

    assert.match(await berthOk(['token', 'revoke', 'rev', '--data', dataDir]), /Revoked token "rev"/);
    const basicFlip = flipsWithin(1_000, async () => (await viaBasic()).status === 401);
    const bearerFlip = flipsWithin(1_000, async () => (await viaBearer()).status === 401);
    const [basicMs, bearerMs] = await Promise.all([basicFlip, bearerFlip]);
    t.diagnostic(`revocation took effect after ${String(basicMs)} ms (Basic) and ${String(bearerMs)} ms (JWT)`);
    assert.ok(basicMs !== undefined, 'Basic with the revoked token still accepted after 1 s');
    assert.ok(bearerMs !== undefined, 'a JWT of the revoked token still accepted after 1 s');
    const tokenRefused = await fetchBearer(tlsUrl, ['repository:team/app:pull'], { credentials: basic('rev', secret), ca, localAddress: address });
    assert.equal(tokenRefused.result.status, 401, '/token refuses a revoked token');
    // The refusal of the JWT tells the client to log in again rather than that its scopes fell short.
    const refused = await call('GET', `${tlsUrl}/v2/team/app/tags/list`, { credentials: { kind: 'bearer', jwt }, ca, localAddress: address });
    assert.equal(refused.status, 401);
    assert.match(String(refused.headers['www-authenticate']), /error="invalid_token"/);
    assert.match(refused.text, /revoked/);
  });

  await t.test('namespaces come into being on first push; the audit trail names actor, client and repository', { skip: toolSkipReason('skopeo') }, async () => {
    const listed = await flipsWithin(3_000, async () => {
      const namespaces = JSON.parse(await berthOk(['namespace', 'list', '--json', '--data', dataDir])) as Array<{ name: string }>;
      return namespaces.some((ns) => ns.name === 'team');
    });
    assert.ok(listed !== undefined, 'namespace "team" was not created by the first push');
    const events = (await berthOk(['audit', '--json', '--data', dataDir]))
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { action: string; actor: string; client: string; repository?: string; reference?: string; outcome: string; detail?: { name?: string } });
    const push = events.find((e) => e.action === 'push' && e.repository === 'team/app' && e.reference === '1');
    assert.ok(push, `no push event: ${JSON.stringify(events.map((e) => e.action))}`);
    assert.equal(push.actor, 'ci');
    assert.match(push.client, /^(::ffff:)?127\.0\.0\.1$/);
    const denied = events.find((e) => e.action === 'auth.denied' && e.repository === 'other/app');
    assert.ok(denied, 'the refused push to other/app is audited');
    assert.equal(denied.actor, 'ci');
    assert.equal(denied.outcome, 'denied');
    assert.ok(denied.client);
    const created = events.filter((e) => e.action === 'token.create').map((e) => e.detail?.name);
    assert.deepEqual(created, ['ci', 'short', 'rev']);
    assert.deepEqual(events.filter((e) => e.action === 'token.revoke').map((e) => e.detail?.name), ['rev']);
    assert.ok(events.some((e) => e.action === 'namespace.create' && e.actor === 'ci'), 'the implicit namespace creation is audited');
  });

  await t.test('12 wrong tokens from one client: the 11th and later get 429 with Retry-After; the right token is still served', async () => {
    const attacker = '127.9.0.1';
    const statuses: number[] = [];
    let last: CallResult | undefined;
    for (let i = 0; i < 12; i += 1) {
      last = await tls('GET', '/v2/team/app/tags/list', basic('guesser', `berth_${randomBytes(32).toString('base64url')}`), attacker);
      statuses.push(last.status);
    }
    assert.deepEqual(statuses, [401, 401, 401, 401, 401, 401, 401, 401, 401, 401, 429, 429]);
    assert.deepEqual(errorCodesOf(last!), ['TOOMANYREQUESTS']);
    assert.ok(Number(last!.headers['retry-after']) > 0, `Retry-After: ${String(last!.headers['retry-after'])}`);
    // Every local client shares its address with the one that fails: a valid token is never refused for that.
    // Failures count per user name given (and token): the right token is served even under the name that failed.
    const right = await tls('GET', '/v2/team/app/tags/list', basic('guesser', ciToken), attacker);
    assert.equal(right.status, 200, right.text);
    const viaToken = await fetchBearer(tlsUrl, ['repository:team/app:push'], { credentials: basic('ci', ciToken), ca, localAddress: attacker });
    assert.equal(viaToken.result.status, 200, viaToken.result.text);
    const wrongAgain = await fetchBearer(tlsUrl, ['repository:team/app:push'], { credentials: basic('guesser', `berth_${randomBytes(32).toString('base64url')}`), ca, localAddress: attacker });
    assert.equal(wrongAgain.result.status, 429, '/token shares the count of failures');
    assert.equal((await tls('GET', '/v2/team/app/tags/list', basic('ci', ciToken), '127.9.0.2')).status, 200);
  });

  await t.test('/metrics counts the auth failures and the manifest requests', async () => {
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    const failuresBefore = metricValue(metricsBefore, 'berth_auth_failures_total', {});
    const failuresAfter = metricValue(metrics, 'berth_auth_failures_total', {});
    assert.ok(failuresAfter >= failuresBefore + 12, `auth failures ${failuresBefore} -> ${failuresAfter}`);
    assert.ok(metricValue(metrics, 'berth_auth_failures_total', { reason: 'rate_limited' }) >= 3);
    assert.ok(metricValue(metrics, 'berth_http_requests_total', { route: 'manifest' }) > 0, 'no manifest requests counted');
  });

  await t.test('no token secret and no issued JWT anywhere: data dir, server logs, CLI output', async () => {
    await server.stop();
    const haystacks: Array<{ where: string; bytes: Buffer }> = (await filesUnder(dataDir)).map((file) => ({ where: file.path, bytes: file.bytes }));
    haystacks.push({ where: 'server stdout/stderr', bytes: Buffer.from(server.logs()) });
    cliOutputs.forEach((text, i) => haystacks.push({ where: `CLI output #${i}`, bytes: Buffer.from(text) }));
    const wanted = ['state.json', 'tls', 'auth', 'audit'];
    for (const name of wanted) assert.ok(haystacks.some((h) => h.where.startsWith(join(dataDir, name))), `nothing scanned under ${name}`);
    for (const secret of env.secrets) {
      // The random part alone too: a secret logged without its prefix is still a leak.
      const needles = secret.startsWith('berth_') ? [secret, secret.slice('berth_'.length)] : [secret, secret.split('.')[2] ?? secret];
      for (const needle of needles) {
        const found = haystacks.filter((h) => h.bytes.includes(needle)).map((h) => h.where);
        assert.deepEqual(found, [], `${needle.slice(0, 12)}… found`);
      }
    }
    // Also by shape: the JWTs that skopeo and podman were issued are unknown to the test, but look like any other.
    const shapes = [/berth_[A-Za-z0-9_-]{43}/, /eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{20,}/];
    for (const shape of shapes) {
      const found = haystacks.filter((h) => shape.test(h.bytes.toString('latin1'))).map((h) => h.where);
      assert.deepEqual(found, [], `something shaped like ${String(shape)} found`);
    }
    // The scan itself works: the one output that shows a secret is caught by it.
    assert.ok(shapes[0]!.test(env.createOutput) && env.createOutput.includes(ciToken));
    const jwtCount = env.secrets.filter((s) => s.split('.').length === 3 && decodeJwt(s).aud === 'berth').length;
    assert.ok(jwtCount >= 2, 'the scan covered issued JWTs');
  });
});

test('berth serve refuses plain HTTP on a non-loopback address, and --auth none off loopback (exit 2)', async (t) => {
  const dataDir = await makeTempDir(t);
  const serve = (args: string[]) => run(process.execPath, [berthBin, 'serve', '--data', dataDir, ...args], { timeoutMs: 20_000 });
  const plain = await serve(['--listen', '0.0.0.0:0', '--tls-listen', 'off']);
  assert.equal(plain.code, 2, `exit ${plain.code}: ${plain.stderr}${plain.stdout.slice(0, 500)}`);
  assert.match(plain.stderr, /refusing plain HTTP on non-loopback address 0\.0\.0\.0/);
  const open = await serve(['--auth', 'none', '--listen', 'off', '--tls-listen', '0.0.0.0:0']);
  assert.equal(open.code, 2, `exit ${open.code}: ${open.stderr}${open.stdout.slice(0, 500)}`);
  assert.match(open.stderr, /--auth none is for loopback only/);
});
