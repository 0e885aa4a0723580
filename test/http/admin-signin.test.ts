import assert from 'node:assert/strict';
import { request as httpsRequest } from 'node:https';
import { after, before, describe, it } from 'node:test';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createAdminSignIn, createSignInUrl } from '../../registry/admin/index.js';
import { runCli } from '../../registry/cli/program.js';
import { createCertificateManager } from '../../registry/tls/index.js';
import { assertAdminError, signIn, startAdminServer, type AdminServer } from './admin-fixture.js';

let admin: AdminServer;
before(async () => {
  admin = await startAdminServer({ signIn: false });
});
after(() => admin.close());

async function open(link: string, headers: Record<string, string> = {}): Promise<Response> {
  const response = await fetch(link, { redirect: 'manual', headers, signal: AbortSignal.timeout(5_000) });
  await response.arrayBuffer();
  return response;
}

describe('admin sign-in', () => {
  it('a sign-in link works exactly once: 303 to /ui/ with a HttpOnly, SameSite=Strict session cookie', async () => {
    const { url: link } = await createSignInUrl(admin.dataDir, admin.url);
    assert.match(link, new RegExp(`^${admin.url}/ui/signin\\?code=[A-Za-z0-9_-]{22,}$`), 'code has at least 128 bits, base64url');
    const first = await open(link);
    assert.equal(first.status, 303);
    assert.equal(first.headers.get('location'), '/ui/');
    assert.equal(first.headers.get('referrer-policy'), 'no-referrer');
    const cookie = first.headers.get('set-cookie') ?? '';
    assert.match(cookie, /^berth_admin=[A-Za-z0-9_-]{43};/);
    for (const flag of ['HttpOnly', 'SameSite=Strict', 'Path=/']) assert.ok(cookie.includes(flag), `cookie lacks ${flag}: ${cookie}`);
    assert.ok(!/;\s*Secure/i.test(cookie), 'no Secure flag on plain HTTP (the browser would drop the cookie)');

    const session = cookie.split(';')[0] ?? '';
    const overview = await admin.api('GET', '/api/overview', undefined, { cookie: session });
    assert.equal(overview.status, 200);

    const again = await open(link);
    assert.equal(again.status, 401, 'a used code is refused');
    assert.equal(again.headers.get('set-cookie'), null);
  });

  it('refuses unknown, malformed and expired codes', async () => {
    assert.equal((await open(`${admin.url}/ui/signin?code=AAAAAAAAAAAAAAAAAAAAAA`)).status, 401);
    assert.equal((await open(`${admin.url}/ui/signin?code=`)).status, 401);
    assert.equal((await open(`${admin.url}/ui/signin`)).status, 401);
    const elevenMinutesAgo = new Date(Date.now() - 11 * 60 * 1000);
    const { code } = await createAdminSignIn(admin.state).issueSignInCode(elevenMinutesAgo);
    assert.equal((await open(`${admin.url}/ui/signin?code=${code}`)).status, 401, 'codes expire after 10 minutes');
    const { code: fresh } = await createAdminSignIn(admin.state).issueSignInCode();
    assert.equal((await open(`${admin.url}/ui/signin?code=${fresh}`)).status, 303, 'a fresh code still works');
  });

  it('stores only hashes of codes and sessions in state.json', async () => {
    const { url: link } = await createSignInUrl(admin.dataDir, admin.url);
    const code = new URL(link).searchParams.get('code') ?? '';
    const session = await signIn(admin.url, admin.dataDir);
    await admin.state.settled();
    const { readFile } = await import('node:fs/promises');
    const text = await readFile(admin.state.path, 'utf8');
    assert.ok(!text.includes(code), 'the code is not stored in clear');
    assert.ok(!text.includes(session.split('=')[1] ?? '-'), 'the session id is not stored in clear');
    assert.match(text, /"adminSignIn"/);
  });

  it('every /api route but health needs a session: 401 BERTH_ADMIN_SIGNIN_REQUIRED with a hint', async () => {
    const health = await admin.api<{ status: string; version: string }>('GET', '/api/health', undefined, { cookie: '' });
    assert.equal(health.status, 200);
    assert.equal(health.body.status, 'ok');
    for (const path of ['/api/overview', '/api/tokens', '/api/repositories', '/api/events', '/api/audit/export', '/api/no-such-route']) {
      const result = await admin.api('GET', path, undefined, { cookie: '' });
      const body = assertAdminError(result, 401, 'BERTH_ADMIN_SIGNIN_REQUIRED');
      assert.match(body.error.hint ?? '', /berth ui-url/);
    }
    const forged = await admin.api('GET', '/api/tokens', undefined, { cookie: 'berth_admin=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' });
    assertAdminError(forged, 401, 'BERTH_ADMIN_SIGNIN_REQUIRED');
    const post = await admin.api('POST', '/api/tokens', { name: 'x', scopes: ['*:pull'] }, { cookie: '' });
    assertAdminError(post, 401, 'BERTH_ADMIN_SIGNIN_REQUIRED');
  });

  it('changes need X-Berth-Admin: 1 or a JSON body (CSRF defence); reads do not', async () => {
    const cookie = await signIn(admin.url, admin.dataDir);
    // What a cross-site form can send: a simple POST with a form body and the cookie.
    const form = await fetch(`${admin.url}/api/namespaces`, {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'name=evil',
    });
    assertAdminError({ status: form.status, body: await form.json() }, 403, 'BERTH_ADMIN_CSRF');
    const plain = await fetch(`${admin.url}/api/tokens/anything`, { method: 'DELETE', headers: { cookie } });
    assertAdminError({ status: plain.status, body: await plain.json() }, 403, 'BERTH_ADMIN_CSRF');
    assert.ok(!admin.state.read().namespaces.some((ns) => ns.name === 'evil'), 'nothing was created');

    const withHeader = await fetch(`${admin.url}/api/namespaces/anything`, { method: 'DELETE', headers: { cookie, 'x-berth-admin': '1' } });
    assertAdminError({ status: withHeader.status, body: await withHeader.json() }, 404, 'BERTH_NAMESPACE_NOT_FOUND');
    const json = await fetch(`${admin.url}/api/namespaces`, {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'csrf-ok' }),
    });
    assert.equal(json.status, 201);
    const read = await fetch(`${admin.url}/api/namespaces`, { headers: { cookie } });
    assert.equal(read.status, 200);
  });

  it('sign-out ends the session on the server, not just in the browser', async () => {
    const cookie = await signIn(admin.url, admin.dataDir);
    assert.equal((await admin.api('GET', '/api/tokens', undefined, { cookie })).status, 200);
    const out = await admin.api('POST', '/api/signout', undefined, { cookie });
    assert.equal(out.status, 204);
    assert.match(out.headers.get('set-cookie') ?? '', /^berth_admin=;.*Max-Age=0/);
    assertAdminError(await admin.api('GET', '/api/tokens', undefined, { cookie }), 401, 'BERTH_ADMIN_SIGNIN_REQUIRED');
  });

  it('sessions survive a restart of the server on the same data directory', async () => {
    const first = await startAdminServer();
    const cookie = first.cookie;
    const dataDir = first.dataDir;
    await first.registry.close(500);
    await first.audit.close();
    await first.state.close();
    const second = await startAdminServer({ dataDir, signIn: false });
    try {
      assert.equal((await second.api('GET', '/api/overview', undefined, { cookie })).status, 200);
    } finally {
      await second.close();
      await first.close().catch(() => undefined);
    }
  });
});

describe('berth ui-url', () => {
  it('prints a working one-time link for the data directory', async (t) => {
    const printed: string[] = [];
    t.mock.method(console, 'log', (line: unknown) => printed.push(String(line)));
    await runCli(['ui-url', '--data', admin.dataDir, '--base', `${admin.url}/ignored/path`]);
    t.mock.restoreAll();
    assert.equal(printed.length, 1);
    const link = printed[0] ?? '';
    assert.ok(link.startsWith(`${admin.url}/ui/signin?code=`), link);
    assert.equal((await open(link)).status, 303);
  });

  it('prints no link when no server runs on the data directory (a code sent to whoever has the port would be theirs)', async () => {
    await assert.rejects(runCli(['ui-url', '--data', admin.dataDir]), /no Berth server is running on .*: start it with "berth serve --data/);
  });

  it('refuses a data directory that does not exist instead of creating one', async () => {
    await assert.rejects(runCli(['ui-url', '--data', `${admin.dataDir}-typo`]), /no Berth data directory/);
  });
});

describe('admin sign-in over HTTPS', () => {
  it('marks the session cookie Secure', async (t) => {
    const certificates = createCertificateManager({ dataDir: admin.dataDir });
    const set = await certificates.ensure();
    const server = createHttpsServer(certificates.secureContextOptions(), admin.registry.handler);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.after(async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await certificates.close();
    });
    const { port } = server.address() as AddressInfo;
    const { url: link } = await createSignInUrl(admin.dataDir, `https://localhost:${port}`);
    const response = await new Promise<{ status: number; cookie: string }>((resolve, reject) => {
      const req = httpsRequest(link, { ca: set.ca.pem }, (res) => {
        res.resume();
        resolve({ status: res.statusCode ?? 0, cookie: String(res.headers['set-cookie'] ?? '') });
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(response.status, 303);
    assert.match(response.cookie, /; Secure/);
    assert.match(response.cookie, /HttpOnly/);
  });
});
