import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { chmod, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { createAuditLog, hashToken, verifyToken } from '../../registry/auth/index.js';
import { createStateStore } from '../../registry/state/index.js';
import { berthBin, startBerth } from '../support/berth-process.js';
import { makeTempDir } from '../support/temp-dir.js';

/** `node bin/berth.js ...` for real, as a user would run it. */
interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function berth(args: readonly string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [berthBin, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

async function ok(args: readonly string[], env?: Record<string, string>): Promise<string> {
  const result = await berth(args, env);
  assert.equal(result.code, 0, `berth ${args.join(' ')} failed:\n${result.stderr}${result.stdout}`);
  return result.stdout;
}

async function fails(args: readonly string[], code: 1 | 2, pattern: RegExp): Promise<CliResult> {
  const result = await berth(args);
  assert.equal(result.code, code, `berth ${args.join(' ')}: expected exit ${code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
  assert.match(result.stderr, pattern);
  assert.ok(!result.stderr.includes('    at '), `no stack trace for a user error:\n${result.stderr}`);
  return result;
}

function lastLine(text: string): string {
  return text.trimEnd().split('\n').at(-1) ?? '';
}

async function everyFileUnder(dir: string): Promise<string> {
  let text = '';
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) text += await readFile(join(entry.parentPath, entry.name), 'utf8');
  }
  return text;
}

test('token create prints the secret alone on its last line; it verifies, is stored only hashed, and revoke ends it', async (t) => {
  const data = await makeTempDir(t);
  const out = await ok(['token', 'create', '--name', 'ci', '--scope', 'team/*:pull,push', '--scope', 'base/app:pull', '--expires', '30d', '--data', data]);
  const secret = lastLine(out);
  assert.match(secret, /^berth_[A-Za-z0-9_-]{43}$/);
  assert.match(out, /Created token "ci" \(team\/\*:pull,push base\/app:pull; expires \d{4}-\d\d-\d\d/);
  assert.equal(out.split(secret).length, 2, 'the secret is printed exactly once');

  const store = await createStateStore(data);
  t.after(() => store.close());
  const verified = verifyToken(store, secret);
  assert.ok(verified.ok, JSON.stringify(verified));
  assert.equal(verified.record.name, 'ci');
  assert.deepEqual(verified.record.scopes, [
    { pattern: 'team/*', actions: ['pull', 'push'] },
    { pattern: 'base/app', actions: ['pull'] },
  ]);
  const expiresIn = Date.parse(verified.record.expiresAt ?? '') - Date.now();
  assert.ok(Math.abs(expiresIn - 30 * 86_400_000) < 120_000, `expiry ${verified.record.expiresAt}`);
  await store.settled();

  // Neither the secret nor its random part reaches any file Berth wrote: state.json, audit trail, locks.
  const files = await everyFileUnder(data);
  assert.ok(!files.includes(secret.slice('berth_'.length)), 'secret found on disk');
  assert.ok((await readFile(join(data, 'state.json'), 'utf8')).includes(hashToken(secret)), 'the hash is what is stored');

  const table = await ok(['token', 'list', '--data', data]);
  assert.match(table, /^NAME\s+SCOPES\s+CREATED\s+EXPIRES\s+LAST USED\s+STATUS$/m);
  assert.match(table, /^ci\s+team\/\*:pull,push base\/app:pull\s+\S+ \S+\s+\S+ \S+\s+(never|\S+ \S+)\s+active$/m);
  const json = JSON.parse(await ok(['token', 'list', '--json', '--data', data])) as Array<Record<string, unknown>>;
  assert.equal(json.length, 1);
  assert.equal(json[0]?.status, 'active');
  assert.deepEqual(json[0]?.scopes, ['team/*:pull,push', 'base/app:pull']);
  for (const listing of [table, JSON.stringify(json)]) {
    assert.ok(!listing.includes(hashToken(secret)), 'list must never print the hash');
    assert.ok(!listing.includes(secret), 'list must never print the secret');
    assert.ok(!/hash/i.test(listing));
  }

  assert.match(await ok(['token', 'revoke', 'ci', '--data', data]), /Revoked token "ci"/);
  await new Promise((resolve) => setTimeout(resolve, 250)); // the store's read() re-stats at most every 200 ms
  assert.deepEqual(verifyToken(store, secret), { ok: false, reason: 'revoked', name: 'ci', id: verified.record.id });
  assert.match(await ok(['token', 'list', '--data', data]), /^ci\s+.*revoked \d{4}-\d\d-\d\d \d\d:\d\dZ$/m);
  // The name is free again once revoked; the old record stays for the audit trail.
  const second = lastLine(await ok(['token', 'create', '--name', 'ci', '--scope', '*:pull', '--data', data]));
  assert.notEqual(second, secret);
  assert.equal((JSON.parse(await ok(['token', 'list', '--json', '--data', data])) as unknown[]).length, 2);

  const audit = (await ok(['audit', '--json', '--action', 'token.*', '--data', data])).trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
  assert.deepEqual(audit.map((event) => [event.action, event.actor, (event.detail as { name: string }).name]), [
    ['token.create', 'admin', 'ci'],
    ['token.revoke', 'admin', 'ci'],
    ['token.create', 'admin', 'ci'],
  ]);
  const auditText = await everyFileUnder(join(data, 'audit'));
  assert.ok(!auditText.includes(secret.slice(6)) && !auditText.includes(second.slice(6)), 'no secret in the audit trail');
});

test('tokens created and revoked by the CLI take effect on a server running on the same data directory', async (t) => {
  const data = await makeTempDir(t);
  const server = await startBerth({ dataDir: data, auth: 'token' });
  t.after(() => server.close());
  const get = (secret?: string) =>
    fetch(`${server.url}/v2/`, { headers: secret ? { authorization: `Basic ${Buffer.from(`ci:${secret}`).toString('base64')}` } : {} });
  assert.equal((await get()).status, 401);

  const secret = lastLine(await ok(['token', 'create', '--name', 'ci', '--scope', 'team/*:pull', '--data', data]));
  assert.equal((await get(secret)).status, 200, 'the server accepts a token created by another process on the next request');

  await ok(['token', 'revoke', 'ci', '--data', data]);
  // A revocation bites within a second (the server re-reads the state file at most every 200 ms on the hot path).
  let status = 0;
  const revokedBy = Date.now() + 1_000;
  while (Date.now() < revokedBy && (status = (await get(secret)).status) === 200) await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal(status, 401, 'the server refuses the token once the CLI revoked it');

  // Both processes wrote state.json (the server its lastUsedAt hint, the CLI the revocation): neither change was lost.
  const [record] = JSON.parse(await ok(['token', 'list', '--json', '--data', data])) as Array<{ status: string; lastUsedAt: string | null }>;
  assert.equal(record?.status, 'revoked');
  assert.ok(record?.lastUsedAt, 'the server recorded the token as used');

  // The server created its CA; the CLI exports exactly that certificate and names it in the trust help.
  const pem = await ok(['ca', 'export', '--data', data]);
  assert.equal(pem, await readFile(join(data, 'tls', 'ca.crt'), 'utf8'));
  assert.ok(new X509Certificate(pem).ca);
  // ...for the port the running server really listens on.
  const trust = await ok(['trust', '--data', data]);
  const tlsPort = new URL(String(server.ready.tlsUrl)).port;
  assert.ok(trust.includes(`sudo cp ${join(data, 'tls', 'ca.crt')} /etc/docker/certs.d/localhost:${tlsPort}/ca.crt`), trust);
});

test('concurrent token creates from separate processes all land (the state lock serialises them)', async (t) => {
  const data = await makeTempDir(t);
  const names = ['a', 'b', 'c', 'd', 'e', 'f'];
  const outputs = await Promise.all(names.map((name) => ok(['token', 'create', '--name', name, '--scope', `${name}/*:pull`, '--data', data])));
  const listed = JSON.parse(await ok(['token', 'list', '--json', '--data', data])) as Array<{ name: string }>;
  assert.deepEqual(listed.map((token) => token.name).sort(), names);
  const store = await createStateStore(data);
  t.after(() => store.close());
  for (const [i, output] of outputs.entries()) {
    const result = verifyToken(store, lastLine(output));
    assert.ok(result.ok && result.record.name === names[i]);
  }
});

test('mistakes in how a command is called exit 2 with a hint; failures exit 1 with what to do', async (t) => {
  const data = await makeTempDir(t);
  const missing = join(data, 'nowhere');
  await fails(['token', 'create', '--scope', 'team/*:pull', '--data', data], 2, /missing --name/);
  await fails(['token', 'create', '--name', 'ci', '--data', data], 2, /missing --scope/);
  await fails(['token', 'create', '--name', 'ci', '--scope', 'team/*:fly', '--data', data], 2, /invalid actions "fly"/);
  await fails(['token', 'create', '--name', 'bad name', '--scope', '*:pull', '--data', data], 2, /invalid token name/);
  await fails(['token', 'create', '--name', 'ci', '--scope', '*:pull', '--expires', 'soon', '--data', data], 2, /invalid duration "soon"/);
  await fails(['token', 'create', '--nmae', 'ci', '--data', data], 2, /^berth: unknown option --nmae \(did you mean --name\?\)\nUsage: berth token create --name NAME --scope/);
  await fails(['token', 'frobnicate'], 2, /unknown token command "frobnicate": use create, list or revoke/);
  await fails(['token'], 2, /missing token command/);
  await fails(['token', 'revoke', '--data', data], 2, /missing the token NAME/);
  await fails(['namespace', 'create', 'Team/App', '--data', data], 2, /invalid namespace "Team\/App"/);
  await fails(['namespace', 'set', 'team', '--anonymous-pull=maybe', '--data', data], 2, /--anonymous-pull needs true or false/);
  await fails(['audit', '--limit', 'lots', '--data', data], 2, /invalid --limit "lots"/);
  await fails(['audit', '--since', 'yesterday', '--data', data], 2, /invalid --since "yesterday"/);
  await fails(['trust', '--host', 'evil;rm -rf /', '--data', data], 2, /--host: .*is not a host:port/);
  await fails(['ca', 'import'], 2, /unknown ca command "import"/);

  await ok(['token', 'create', '--name', 'ci', '--scope', '*:pull', '--data', data]);
  await fails(['token', 'create', '--name', 'ci', '--scope', '*:pull', '--data', data], 1, /a token named "ci" already exists: revoke it first/);
  await fails(['token', 'revoke', 'nobody', '--data', data], 1, /no active token named "nobody".*berth token list/);
  await fails(['token', 'list', '--data', missing], 1, /no Berth data directory at .*nowhere.*--data DIR/);
  await fails(['ca', 'export', '--data', data], 1, /no CA certificate .* yet: start "berth serve .*" once to create it/);
  await fails(['namespace', 'delete', 'ghost', '--data', data], 1, /no namespace "ghost"/);
  await fails(['namespace', 'set', 'ghost', '--anonymous-pull=true', '--data', data], 1, /create it with "berth namespace create ghost"/);
  assert.ok(!(await readdir(data)).includes('nowhere'), 'a read-only command must not create a data directory');
});

test('every admin command has --help text and exits 0', async () => {
  const expected: Record<string, RegExp> = {
    token: /berth token create --name NAME --scope[\s\S]*tail -1/,
    namespace: /berth namespace create NAME \[--anonymous-pull\]/,
    audit: /berth audit \[--since DURATION\|DATE\]/,
    ca: /berth ca export \[--out FILE\]/,
    trust: /berth trust \[--host HOST:PORT\]/,
  };
  for (const [command, pattern] of Object.entries(expected)) {
    assert.match(await ok([command, '--help']), pattern);
    // After a subcommand, -h shows that subcommand's help (the group's when there is no such subcommand).
    assert.match(await ok([command, 'list', '-h']), new RegExp(`^Usage:\\s+berth ${command}`));
  }
  const top = await ok(['--help']);
  for (const command of Object.keys(expected)) assert.match(top, new RegExp(`^  ${command}\\s+\\S`, 'm'));
});

test('ca export writes a 0644 PEM file, even over an existing private file', async (t) => {
  const data = await makeTempDir(t);
  const { createCertificateManager } = await import('../../registry/tls/index.js');
  const manager = createCertificateManager({ dataDir: data });
  await manager.ensure();
  await manager.close();
  const out = join(data, 'exported-ca.crt');
  await writeFile(out, 'old');
  await chmod(out, 0o600);
  assert.match(await ok(['ca', 'export', '--out', out, '--data', data]), /Wrote Berth's CA certificate to .*exported-ca\.crt/);
  assert.equal((await stat(out)).mode & 0o777, 0o644);
  const pem = await readFile(out, 'utf8');
  assert.equal(pem, await readFile(join(data, 'tls', 'ca.crt'), 'utf8'));
  assert.match(pem, /^-----BEGIN CERTIFICATE-----\r?\n/);
  assert.ok(!pem.includes('PRIVATE KEY'));
});

test('trust prints instructions for the configured HTTPS address and never needs the CA to run', async (t) => {
  const data = await makeTempDir(t);
  const fresh = await berth(['trust', '--data', data]);
  assert.equal(fresh.code, 0);
  assert.match(fresh.stdout, /Registry address: https:\/\/localhost:5443/);
  assert.match(fresh.stderr, /does not exist yet: start "berth serve/);
  assert.match(await ok(['trust', '--host', 'registry.example:8443', '--data', data]), /\/etc\/containerd\/certs\.d\/registry\.example:8443\/hosts\.toml/);

  await writeFile(join(data, 'state.json'), JSON.stringify({ schemaVersion: 1, settings: { tlsListen: '0.0.0.0:7443' } }));
  const configured = await ok(['trust', '--data', data]);
  assert.match(configured, /^Registry address: https:\/\/localhost:7443$/m);
  assert.match(configured, /update-ca-certificates/);
});

test('namespace create, set, list, delete: state, audit events by admin, and clear refusals', async (t) => {
  const data = await makeTempDir(t);
  assert.match(await ok(['namespace', 'list', '--data', data], { BERTH_DATA: data }), /No namespaces configured/);
  await ok(['namespace', 'create', 'team', '--data', data]);
  await ok(['namespace', 'create', 'public', '--anonymous-pull'], { BERTH_DATA: data }); // the default data dir honours BERTH_DATA
  await fails(['namespace', 'create', 'team', '--data', data], 1, /namespace "team" already exists/);
  assert.match(await ok(['namespace', 'set', 'team', '--anonymous-pull=true', '--data', data]), /anonymous pull allowed\.$/m);
  assert.match(await ok(['namespace', 'set', 'team', '--anonymous-pull=true', '--data', data]), /\(unchanged\)/);

  const table = await ok(['namespace', 'list', '--data', data]);
  assert.match(table, /^NAME\s+ANONYMOUS PULL\s+STORAGE USED\s+STORAGE QUOTA\s+PULLED THIS MONTH\s+PULL QUOTA\s+CREATED$/m);
  assert.match(table, /^public\s+yes\s/m);
  assert.match(table, /^team\s+yes\s/m);
  const state = JSON.parse(await readFile(join(data, 'state.json'), 'utf8')) as { namespaces: Array<{ name: string; anonymousPull: boolean }> };
  assert.deepEqual(state.namespaces.map((ns) => [ns.name, ns.anonymousPull]), [['team', true], ['public', true]]);

  assert.match(await ok(['namespace', 'delete', 'team', '--data', data]), /Images stored under team\/ are kept/);
  const listed = JSON.parse(await ok(['namespace', 'list', '--json', '--data', data])) as Array<{ name: string }>;
  assert.deepEqual(listed.map((ns) => ns.name), ['public']);

  const events = (await ok(['audit', '--json', '--action', 'namespace.*', '--data', data])).trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
  assert.deepEqual(events.map((event) => [event.action, event.namespace, event.actor, event.outcome]), [
    ['namespace.create', 'team', 'admin', 'success'],
    ['namespace.create', 'public', 'admin', 'success'],
    ['namespace.update', 'team', 'admin', 'success'],
    ['namespace.delete', 'team', 'admin', 'success'],
  ]);
});

test('audit filters by time, namespace, action and actor, limits to the newest, and prints JSON Lines or a table', async (t) => {
  const data = await makeTempDir(t);
  const audit = await createAuditLog(data);
  const now = Date.now();
  const base = { client: '127.0.0.1', outcome: 'success' } as const;
  await audit.record({ ...base, time: new Date(now - 3 * 86_400_000), action: 'push', actor: 'ci', namespace: 'old', repository: 'old/app', reference: '1' });
  for (let i = 0; i < 5; i += 1) {
    await audit.record({ ...base, time: new Date(now - (60 - i) * 60_000), action: 'push', actor: 'ci', namespace: 'team', repository: 'team/app', reference: `v${i}` });
  }
  await audit.record({ ...base, time: new Date(now - 60_000), action: 'pull', actor: 'anonymous', namespace: 'public', repository: 'public/base', reference: 'latest' });
  await audit.record({ ...base, time: new Date(now - 30_000), action: 'auth.denied', actor: 'ci', namespace: 'prod', repository: 'prod/db', outcome: 'denied' });
  await audit.close();

  const lines = async (...args: string[]) =>
    (await ok(['audit', '--json', '--data', data, ...args])).split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, string>);
  assert.equal((await lines()).length, 8);
  assert.equal((await lines('--since', '24h')).length, 7);
  assert.equal((await lines('--since', '2h', '--namespace', 'old')).length, 0);
  assert.deepEqual((await lines('--namespace', 'team', '--limit', '2')).map((event) => event.reference), ['v3', 'v4']);
  assert.deepEqual((await lines('--action', 'auth.denied')).map((event) => event.repository), ['prod/db']);
  assert.deepEqual((await lines('--actor', 'anonymous')).map((event) => event.action), ['pull']);

  const table = await ok(['audit', '--since', '24h', '--limit', '3', '--data', data]);
  assert.match(table, /^TIME\s+ACTION\s+ACTOR\s+NAMESPACE\s+TARGET\s+OUTCOME\s+CLIENT$/m);
  assert.match(table, /^\S+ \S+Z\s+auth\.denied\s+ci\s+prod\s+prod\/db\s+denied\s+127\.0\.0\.1$/m);
  assert.match(table, /^\S+ \S+Z\s+pull\s+anonymous\s+public\s+public\/base:latest\s+success/m);
  assert.match(table, /\(3 newest of 7 matching events/);
  assert.match(await ok(['audit', '--action', 'token.*', '--data', data]), /No matching audit events/);
});
